"""`rg/NAME`: every dataset of reasoning-gym as an env, scored strictly.

    llmgym list envs                                   # the catalog, without importing reasoning-gym
    env = llmgym.make("rg/leg_counting", level=2)
    env = llmgym.make("rg/spell_backward", scorer="native")    # reasoning-gym's own partial credit

reasoning-gym is an optional extra (``pip install 'llm-gym[reasoning-gym]'``, pinned to the version
the catalog was written from); building an entry without it is a one-line error naming the extra.

**The catalog is a file.** `data/reasoning_gym_catalog.json` lists every dataset of the pinned
reasoning-gym with its description and the configuration of each level, and registration reads
only that file, so `llmgym list` never imports reasoning-gym (2.5 s and a hundred generators).
Reading the names out of the installed package's sources instead would need reasoning-gym installed
just to list, would parse `register_dataset(...)` calls by pattern and still could not know the
levels, which only running its curricula tells. The file is written by
``python -m llmgym.envs.rg --write-catalog`` and `tests/test_rg_catalog.py` rebuilds it from the
installed reasoning-gym and fails on any difference, so it cannot rot; building an env from a
reasoning-gym of another version is refused, since its levels and tasks may differ.

**Levels** are reasoning-gym's curricula: level L sets every attribute of the dataset's curriculum
to its level L-1 (clamped to the attribute's last level, as `set_global_level` does) and reads
ranges inclusively (`generate_configuration`'s default), so level L draws from the easiest setting
up to the L-th. Curriculum levels whose configuration reasoning-gym itself rejects are skipped (the
catalog says which and why); a dataset without a curriculum, or whose curriculum gives no valid
configuration, has one level: its default configuration. `env.level_config` is the configuration a
level sets; the catalog names what each attribute changes.

**Tasks.** A task is item `index` of the dataset built with seed 0 and `POOL` items per level; the
index is drawn from the env's seeded generator, so ids (content hashes of prompt and oracle) are
stable and the content-hash split keeps eval and train apart. The prompt is reasoning-gym's question
plus a line asking for ``<answer>...</answer>`` tags; `meta` keeps the item's metadata (JSON), which
the dataset's own scorer needs, so a task scores anywhere without regenerating it.

**Scoring** is strict by default (`llmgym.envs.rg_scoring`: the shared verifier for values, exact
text or literal comparison, or the dataset's own checker at exactly 1.0 where many answers are right);
`scorer="native"` is reasoning-gym's `score_answer` with its partial credit. Datasets that cannot
pass the checks of `tests/test_rg_catalog.py` are in `EXCLUDED` with the reason; they stay usable.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import inspect
import io
import json
import random
import re
import sys
import threading
from functools import lru_cache, partial
from importlib import resources
from typing import Any, Callable

from llmgym.env import SingleTurnEnv, split_of
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Task, content_id

from .rg_scoring import (CHECKER, REFERENCE_FIELDS, NativeReward, answer_type, scoring_kind,
                         strict_reward)

CATALOG_FILE = "reasoning_gym_catalog.json"
DISTRIBUTION = "reasoning-gym"
INSTALL_HINT = "pip install 'llm-gym[reasoning-gym]'"
SEED = 0
POOL = 10_000
# acre precomputes its whole pool when it is built (2.4 s for 10,000 items).
POOL_SIZES = {"acre": 1_000}
SCORERS = ("strict", "native")
# Oracles reasoning-gym writes for items it found no solution for; its own scorer rejects them, so
# such items are skipped (17% of jugs at level 2).
UNSOLVED = {"jugs": '["No solution"]'}
REVISION = "1"  # bump when a change here alters the tasks of a split or how they score
# A dataset's own revision, where a change altered its tasks alone: list_functions' items were drawn in
# part from Python's global random module until `rg_item` seeded it per item.
REVISIONS = {"list_functions": "2"}
ANSWER_HINT = "Give your final answer inside <answer></answer> tags."
SYSTEM_PROMPT = ("Think step by step. Then write the final answer, in the format the question asks for, "
                 "inside <answer></answer> tags, and nothing after it.")

# Datasets that do not pass every check of tests/test_rg_catalog.py, and why. They are registered
# and usable; the test fails when one of them starts passing, so the list cannot go stale.
_HASH_SEED = "tasks depend on PYTHONHASHSEED, so task ids and the eval split change from one process to the next"
EXCLUDED: dict[str, str] = {
    "boxnet": "no reference answer: reasoning-gym gives none and keeps no solution in the metadata (its "
              "scorer credits the share of boxes moved to their targets)",
    "composite": "not a dataset but a mixture of others: reasoning-gym cannot build it without a list of "
                 "datasets (AssertionError: Must specify at least one dataset)",
    "isomorphic_strings": _HASH_SEED + " (the generator draws from a set of letters)",
    "knight_swap": _HASH_SEED,
    "polynomial_multiplication": _HASH_SEED,
    "ransom_note": _HASH_SEED,
    "rush_hour": "no reference answer: reasoning-gym gives none and keeps only the fewest moves in the "
                 "metadata, not a solution",
    "tower_of_hanoi": "level 1 asks only 6 different questions (3 disks, 3 pegs), all of which hash into "
                      "train: its eval split is empty",
    "word_ladder": _HASH_SEED,
}
# The level the test checks a dataset at when level 1 is too slow to generate many tasks of.
CHECK_LEVELS: dict[str, tuple[int, str]] = {
    "sokoban": (2, "level 1 (6x6 boards only) takes 5-14 s to generate one task"),
}

# Descriptions reasoning-gym leaves empty or copies from another dataset.
DESCRIPTIONS = {
    "acre": "Abstract causal reasoning: which objects switch the detector on (blicket tests)",
    "arc_agi": "ARC-AGI grid puzzles: infer the transformation from examples, apply it to a test grid",
    "boxnet": "Plan the moves of agents that carry boxes to their targets on a grid",
    "composite": "A weighted mixture of other reasoning-gym datasets (needs a list of datasets)",
    "gsm_symbolic": "GSM8K-style word problems from symbolic templates",
    "list_functions": "Infer a list-to-list function from examples and apply it",
    "number_format": "Pick the largest or smallest of numbers written in different formats",
    "puzzle24": "Make 24 from four numbers with + - * /",
    "rearc": "RE-ARC grid puzzles: generated ARC tasks with a transformation to infer",
    "string_manipulation": "Apply string rewriting rules until none applies",
    "survo": "Fill a Survo grid so that rows and columns add up to the given sums",
}


# -- the catalog -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_catalog() -> dict[str, Any]:
    """The shipped catalog: reasoning-gym's version and, per dataset, description and levels."""
    text = resources.files("llmgym.envs").joinpath("data", CATALOG_FILE).read_text(encoding="utf-8")
    return json.loads(text)


def register_catalog(register: Callable[..., None]) -> None:
    """Register `rg/NAME` for every dataset in the catalog (reads the file; imports no reasoning-gym)."""
    for name, entry in load_catalog()["datasets"].items():
        register(f"rg/{name}", partial(ReasoningGymEnv, name), description=entry["description"],
                 catalog="reasoning-gym", levels=len(entry["levels"]))


def catalog_entry(dataset: str) -> dict[str, Any]:
    datasets = load_catalog()["datasets"]
    if dataset not in datasets:
        raise LLMGymError(f"reasoning-gym has no dataset {dataset!r} (its catalog lists {len(datasets)}: "
                          "see `llmgym list envs`)")
    return datasets[dataset]


def import_reasoning_gym(check_version: bool = True) -> Any:
    """The `reasoning_gym` module; a one-line `LLMGymError` naming the extra when it is missing, or
    when its version is not the catalog's."""
    try:
        import reasoning_gym
    except ImportError:
        raise LLMGymError(f"the rg/ envs need reasoning-gym, which is not installed: {INSTALL_HINT}") from None
    if not check_version:
        return reasoning_gym
    wanted, installed = load_catalog()["reasoning_gym_version"], installed_version()
    if installed != wanted:
        raise LLMGymError(f"the rg/ catalog was written from reasoning-gym {wanted}, but {installed} is "
                          f"installed: {INSTALL_HINT} (or rewrite the catalog: python -m llmgym.envs.rg "
                          "--write-catalog)")
    return reasoning_gym


def installed_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def build_catalog() -> dict[str, Any]:
    """The catalog of the installed reasoning-gym, as `load_catalog` returns it (imports reasoning-gym)."""
    import_reasoning_gym(check_version=False)
    from reasoning_gym.factory import CURRICULA, DATASETS

    datasets = {}
    for name in sorted(DATASETS):
        dataset_cls, config_cls = DATASETS[name]
        levels, skipped, changes = _curriculum_levels(CURRICULA.get(name))
        datasets[name] = {
            "description": _description(name, dataset_cls, len(levels)),
            "levels": levels,
            "level_changes": changes,
            **({"skipped_levels": skipped} if skipped else {}),
        }
    return {"reasoning_gym_version": installed_version(), "datasets": datasets}


def _curriculum_levels(curriculum_cls: Any) -> tuple[list[dict], dict[str, str], dict[str, str]]:
    """(levels, curriculum levels skipped with reasoning-gym's reason, attribute -> what it changes)."""
    default = [{"curriculum_level": None, "config": {}}]
    if curriculum_cls is None:
        return default, {}, {}
    from reasoning_gym.coaching.attributes import RangeAttributeDefinition

    curriculum = curriculum_cls()
    attributes = curriculum.attributes
    fields = [f for a in attributes.values() for f in (
        (a.lower_field_name, a.upper_field_name) if isinstance(a, RangeAttributeDefinition) else (a.field_name,))]
    changes = {a.name: (a.description or "").strip() for a in attributes.values()}
    levels, skipped = [], {}
    for level in range(max(len(a.levels) for a in attributes.values())):
        curriculum.set_global_level(level)
        try:
            config = curriculum.generate_configuration({})
            if hasattr(config, "validate"):
                config.validate()
        except Exception as exc:  # reasoning-gym refuses its own configuration at this level
            skipped[str(level)] = f"{type(exc).__name__}: {exc}"
            continue
        levels.append({"curriculum_level": level, "config": {f: json_safe(getattr(config, f)) for f in fields}})
    return levels or default, skipped, changes


_MD_LINK_RE = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def _description(name: str, dataset_cls: type, n_levels: int) -> str:
    lines = (inspect.getdoc(dataset_cls) or "").strip().splitlines()
    text = DESCRIPTIONS.get(name) or (_MD_LINK_RE.sub(r"\1", lines[0]).strip().rstrip(".:") if lines else "")
    category = dataset_cls.__module__.split(".")[1]
    text = text or name.replace("_", " ")
    return f"reasoning-gym {category}: {text}" + (f" (levels 1-{n_levels})" if n_levels > 1 else "")


def json_safe(value: Any) -> Any:
    """`value` as plain JSON values: tuples become lists, sets sorted lists, numpy values Python ones,
    mapping keys strings, anything else its `str`."""
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((json_safe(v) for v in value), key=repr)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


# -- reasoning-gym's datasets, built once per level ------------------------------------------------------
@lru_cache(maxsize=None)
def rg_dataset(dataset: str, level: int) -> Any:
    """reasoning-gym's dataset object for one level of the catalog."""
    import_reasoning_gym()
    from reasoning_gym import create_dataset

    levels = catalog_entry(dataset)["levels"]
    if not 1 <= level <= len(levels):
        raise LLMGymError(f"rg/{dataset}: level must be one of {list(range(1, len(levels) + 1))}, got {level!r}")
    config = dict(levels[level - 1]["config"])
    with contextlib.redirect_stdout(io.StringIO()):  # some generators print progress dots
        return create_dataset(dataset, seed=SEED, size=POOL_SIZES.get(dataset, POOL), **config)


@contextlib.contextmanager
def global_rngs_seeded(key: str):
    """Python's global random module seeded from `key` inside the block, and both it and NumPy's
    global generator put back as they were after it.

    A few generators draw from the global modules instead of their item's seed: list_functions calls
    `random.randint`, which made its tasks change from one process to the next, and pool_matrix calls
    `np.random.seed`, which reseeded the caller's NumPy. Seeding from a string is the same in every
    process (it does not go through the hash seed).
    """
    numpy = sys.modules.get("numpy")
    state, np_state = random.getstate(), numpy.random.get_state() if numpy is not None else None
    random.seed(key, version=2)
    try:
        yield
    finally:
        random.setstate(state)
        if np_state is not None:
            numpy.random.set_state(np_state)


# Held while an item is generated: the global random state and sys.stdout it swaps are shared by threads.
_GENERATING = threading.Lock()


@lru_cache(maxsize=4096)
def rg_item(dataset: str, level: int, index: int) -> dict[str, Any]:
    """Item `index` of a level (cached: check_env and training draw the same items again), the same
    in every process even where the generator draws from the global random module."""
    dataset_object = rg_dataset(dataset, level)
    with _GENERATING, contextlib.redirect_stdout(io.StringIO()), global_rngs_seeded(f"rg/{dataset}/{level}/{index}"):
        return dataset_object[index]


class ReasoningGymEnv(SingleTurnEnv):
    """One reasoning-gym dataset: its questions, one level per curriculum level, scored strictly.

    `scorer` is "strict" (the default, see `llmgym.envs.rg_scoring`) or "native" (reasoning-gym's
    own `score_answer`, partial credit included: a reward named `rg_score`).
    """

    system_prompt = SYSTEM_PROMPT

    def __init__(self, dataset: str, *, level: int = 1, split: str = "train", scorer: str = "strict",
                 rubric: Rubric | None = None, render_mode: str | None = None):
        entry = catalog_entry(dataset)
        if scorer not in SCORERS:
            raise LLMGymError(f"rg/{dataset}: scorer must be one of {', '.join(SCORERS)}, got {scorer!r}")
        import_reasoning_gym()
        self.dataset = dataset
        self.scorer = scorer
        self.name = f"rg/{dataset}"
        self.description = entry["description"]
        self.levels = tuple(range(1, len(entry["levels"]) + 1))
        self.pool = POOL_SIZES.get(dataset, POOL)
        self.version = self._version(entry)
        super().__init__(level=level, split=split, rubric=rubric, render_mode=render_mode)
        self.level_config: dict[str, Any] = dict(entry["levels"][level - 1]["config"])
        rg_dataset(dataset, level)  # a configuration reasoning-gym refuses fails here, not at the first task

    def _version(self, entry: dict[str, Any]) -> str:
        """reasoning-gym's version, the dataset, and a digest of the level mapping and the scoring."""
        spec = {"levels": entry["levels"], "seed": SEED, "pool": self.pool, "hint": ANSWER_HINT,
                "scoring": scoring_kind(self.dataset), "form": CHECKER.get(self.dataset),
                "revision": REVISIONS.get(self.dataset, REVISION)}
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        return f"reasoning-gym=={load_catalog()['reasoning_gym_version']}/{self.dataset}/{digest}"

    def split_of(self, task: Task) -> str:
        # By the question alone: reasoning-gym asks some questions twice with another valid oracle
        # (n_queens), and a question must not be in eval and train under two ids.
        return split_of(content_id(task.prompt, None), self.eval_fraction)

    def generate_task(self, rng: random.Random) -> Task:
        unsolved = UNSOLVED.get(self.dataset)
        for _ in range(100):
            task = self.task_at(rng.randrange(self.pool))
            if unsolved is None or task.answer != unsolved:
                return task
        raise RuntimeError(f"{self.name} level {self.level}: 100 items in a row had no solution")

    def task_at(self, index: int) -> Task:
        """The task made from item `index` of this level."""
        item = rg_item(self.dataset, self.level, index)
        oracle = item.get("answer")
        metadata = json_safe(item.get("metadata") or {})
        meta: dict[str, Any] = {"family": self.dataset, "level": self.level, "rg_dataset": self.dataset,
                                "rg_index": index, "rg_metadata": metadata}
        kind = answer_type(self.dataset, oracle)
        if kind is not None:
            meta["answer_type"] = kind
        if not isinstance(oracle, str) and self.dataset in REFERENCE_FIELDS:
            example = metadata.get(REFERENCE_FIELDS[self.dataset])
            if example is not None:
                meta["rg_reference"] = example if isinstance(example, str) else json.dumps(example)
        prompt = f"{str(item['question']).rstrip()}\n\n{ANSWER_HINT}"
        return Task(prompt, oracle if isinstance(oracle, str) else json_safe(oracle), meta)

    def reference(self, task: Task) -> str | None:
        answer = task.answer if isinstance(task.answer, str) else task.meta.get("rg_reference")
        return f"<answer>{answer}</answer>" if isinstance(answer, str) and answer.strip() else None

    def default_rubric(self) -> Rubric:
        reward = NativeReward(rg_dataset) if self.scorer == "native" else strict_reward(self.dataset, rg_dataset)
        return Rubric([(reward, 1.0)])


# -- writing the catalog ----------------------------------------------------------------------------
def catalog_markdown() -> str:
    """The per-dataset part of docs/envs.md's reasoning-gym section, written from the catalog and the
    tables here (tests/test_rg_catalog.py checks that the docs hold it as it is)."""
    catalog = load_catalog()["datasets"]
    rows = ["| env | levels | what a level changes | scored as |", "|---|---|---|---|"]
    for name, entry in catalog.items():
        changes = ", ".join(f"`{a}`" for a in entry["level_changes"]) if len(entry["levels"]) > 1 else "one level"
        mark = " (excluded)" if name in EXCLUDED else ""
        rows.append(f"| `rg/{name}`{mark} | {len(entry['levels'])} | {changes} | {scoring_kind(name)} |")
    skipped = []
    for name, entry in catalog.items():
        if entry.get("skipped_levels"):
            levels, why = list(entry["skipped_levels"]), sorted(set(entry["skipped_levels"].values()))[0]
            skipped.append(f"- `rg/{name}`: curriculum level{'s' * (len(levels) > 1)} {', '.join(levels)} ({why})")
    lines = ["Curriculum levels whose configuration reasoning-gym's own check refuses are skipped:", "", *skipped,
             "", "Excluded (registered and usable, but they do not pass every check):", "",
             *(f"- `rg/{name}`: {why}" for name, why in sorted(EXCLUDED.items())), "",
             "Checked at another level than 1:", "",
             *(f"- `rg/{name}`: level {level}; {why}" for name, (level, why) in sorted(CHECK_LEVELS.items())),
             "", *rows]
    return "\n".join(lines) + "\n"


def catalog_path() -> str:
    return str(resources.files("llmgym.envs").joinpath("data", CATALOG_FILE))


def catalog_text(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m llmgym.envs.rg --write-catalog``: rewrite the catalog from the installed reasoning-gym."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["--write-catalog"]:
        print("usage: python -m llmgym.envs.rg --write-catalog", file=sys.stderr)
        return 2
    from llmgym.io import atomic_write_text

    try:
        catalog = build_catalog()
    except LLMGymError as exc:
        print(f"llmgym: error: {exc}", file=sys.stderr)
        return 2
    atomic_write_text(catalog_path(), catalog_text(catalog))
    print(f"wrote {len(catalog['datasets'])} datasets of reasoning-gym {catalog['reasoning_gym_version']} "
          f"to {catalog_path()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
