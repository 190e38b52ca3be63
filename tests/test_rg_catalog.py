"""The reasoning-gym catalog: every dataset of the installed reasoning-gym as `rg/NAME`, listed without
importing reasoning-gym, levels from its curricula, scored strictly, and every dataset checked.

The all-datasets test builds each env and requires `check_env`, task ids that do not depend on the
process, a reference answer that scores 1 (by the strict scorer and by reasoning-gym's own), a
perturbed answer that scores below 1 and reasoning-gym's padding attack (the oracle plus junk, which
its default scorer pays `len(oracle)/len(answer)` for) scoring 0. A dataset that fails must be in
`EXCLUDED` with its reason, and one in `EXCLUDED` that passes fails the test, so the list stays true.
Run it with `-s` to see the summary.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import reasoning_gym  # noqa: F401  (a dev dependency: a missing one must fail here, not skip)

import llmgym
from llmgym.cli import main
from llmgym.envs import rg
from llmgym.envs.rg_scoring import final_answer, normalize_text, parse_literal, safe_for_native
from llmgym.errors import LLMGymError
from llmgym.types import Task

ROOT = Path(__file__).resolve().parents[1]
CATALOG = rg.load_catalog()["datasets"]
# The oracle plus junk, after and before it: reasoning-gym's default scorer pays for each of these.
PADDINGS = ("{} qzxv jkwp", "{}\nqzxv jkwp 7", "qzxv {}")
TASKS_CHECKED = 3


def level_checked(name: str) -> int:
    return rg.CHECK_LEVELS.get(name, (1, ""))[0]


def perturbed(answer: str) -> str:
    """`answer` with its first letter or digit replaced by one the answer does not use, so the change
    makes it wrong even where many answers are right (another vertex, variable, start word).

    >>> perturbed("(P ∧ Q)"), perturbed("28"), perturbed('{"0": 1, "1": 2}')
    ('(A ∧ Q)', '08', '{"3": 1, "1": 2}')
    """
    for i, ch in enumerate(answer):
        if ch.isalnum():
            pool = "0123456789" if ch.isdigit() else (
                "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if ch.isupper() else "abcdefghijklmnopqrstuvwxyz")
            new = next((c for c in pool if c not in answer), pool[(pool.find(ch) + 1) % len(pool)])
            return answer[:i] + new + answer[i + 1:]
    return answer + "x"


def tagged(answer: str) -> str:
    return f"Let me work it out.\n<answer>{answer}</answer>"


def first_failure(name: str) -> str | None:
    """Why `rg/NAME` fails a check, or None."""
    try:
        env = llmgym.make(f"rg/{name}", level=level_checked(name))
        llmgym.check_env(env, n_tasks=4)
        native = llmgym.make(f"rg/{name}", level=level_checked(name), scorer="native")
        tasks = list(env.tasks("train", n=TASKS_CHECKED, seed=0))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc)[:300]}"
    for task in tasks:
        reference = env.reference(task)
        if reference is None:
            return "no reference answer"
        gold, _ = final_answer(reference)
        for scorer, rubric in (("strict", env.rubric), ("native", native.rubric)):
            score = rubric.score(reference, task)
            if score.value != 1.0:
                return f"the reference {gold!r:.80} scored {score.value} by the {scorer} scorer ({score.reason})"
        wrong = perturbed(gold)
        if env.rubric.score(tagged(wrong), task).value >= 1.0:
            return f"the perturbed answer {wrong!r:.80} scored 1 (reference {gold!r:.80})"
        for padding in PADDINGS:
            padded = padding.format(gold)
            value = env.rubric.score(tagged(padded), task).value
            if value != 0.0:
                return f"the padded answer {padded!r:.80} scored {value}"
    return None


# Prints the ids of the first train tasks of every dataset, as a fresh process computes them.
IDS_SCRIPT = """
import json, llmgym
from llmgym.envs import rg
out = {}
for name in rg.load_catalog()["datasets"]:
    try:
        env = llmgym.make("rg/" + name, level=rg.CHECK_LEVELS.get(name, (1, ""))[0])
        out[name] = [t.id for t in env.tasks("train", n=4, seed=0)]
    except Exception as exc:
        out[name] = type(exc).__name__
print(json.dumps(out))
"""
# Two fixed hash seeds (not this process's random one), so the check says the same on every run.
HASH_SEEDS = ("1", "3")


def test_every_dataset_passes_every_check_unless_excluded_with_its_reason():
    others = [subprocess.Popen([sys.executable, "-c", IDS_SCRIPT], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONHASHSEED": seed}) for seed in HASH_SEEDS]
    first, second = (json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in others)
    failures = {}
    for name in CATALOG:
        if first[name] != second[name]:  # the cheapest check first: it spares the slow generators the rest
            failures[name] = f"task ids differ between two processes (PYTHONHASHSEED={' and '.join(HASH_SEEDS)})"
        elif why := first_failure(name):
            failures[name] = why
    lines = [f"{len(CATALOG) - len(failures)} of {len(CATALOG)} reasoning-gym datasets pass every check"]
    lines += [f"  {name}: {why}" for name, why in sorted(failures.items())]
    print("\n".join(lines))
    unexpected = sorted(set(failures) - set(rg.EXCLUDED))
    passing = sorted(set(rg.EXCLUDED) - set(failures))
    assert not unexpected and not passing, "\n".join(
        lines + [f"failing, but not in llmgym.envs.rg.EXCLUDED: {unexpected}",
                 f"in EXCLUDED, but passing every check (remove them): {passing}"])


def test_items_do_not_depend_on_the_global_random_modules_and_leave_them_as_they_were():
    raw = rg.rg_dataset("list_functions", 1)
    # Item 0 draws from Python's global random module (an odd multiple of 5): raw, it follows that state.
    random.seed(1)
    first = raw[0]
    random.seed(2)
    assert raw[0] != first, "pick an item of list_functions that draws from the global random module"
    items = []
    for seed in (1, 2):
        random.seed(seed)
        np.random.seed(seed)
        before, np_before = random.getstate(), np.random.get_state()[1].copy()
        rg.rg_item.cache_clear()
        items.append(rg.rg_item("list_functions", 1, 0))
        rg.rg_item("pool_matrix", 1, 0)  # reasoning-gym's pool_matrix calls np.random.seed itself
        assert random.getstate() == before and (np.random.get_state()[1] == np_before).all()
    assert items[0] == items[1]


def test_every_level_of_every_dataset_is_a_configuration_reasoning_gym_builds():
    refused = {}
    for name, entry in CATALOG.items():
        for level in range(1, len(entry["levels"]) + 1):
            try:
                rg.rg_dataset(name, level)
            except Exception as exc:
                refused[f"{name} level {level}"] = f"{type(exc).__name__}: {exc}"
    assert set(refused) == {"composite level 1"}, refused


def test_the_catalog_file_is_what_the_installed_reasoning_gym_gives_and_the_extra_pins_it():
    assert rg.catalog_text(rg.build_catalog()) == rg.catalog_text(rg.load_catalog()), \
        "envs/data/reasoning_gym_catalog.json is stale: python -m llmgym.envs.rg --write-catalog"
    version = rg.load_catalog()["reasoning_gym_version"]
    pins = re.findall(r'"reasoning-gym([^"]*)"', (ROOT / "pyproject.toml").read_text())
    assert pins == [f"=={version}", f"=={version}"], "pin reasoning-gym to the catalog's version in the " \
        "reasoning-gym extra and in dev"
    assert len(CATALOG) > 100 and {"leg_counting", "spell_backward", "sudoku"} <= set(CATALOG)


def test_listing_shows_the_catalog_with_descriptions_without_importing_reasoning_gym():
    script = ("import sys; from llmgym.cli import main; main(['list', 'envs', '--json']); "
              "print('reasoning_gym' in sys.modules, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    rows = {row["name"]: row for row in json.loads(proc.stdout)}
    assert proc.stderr.strip().splitlines()[-1] == "False"
    listed = {name[3:] for name in rows if name.startswith("rg/")}
    assert listed == set(CATALOG)
    assert rows["rg/leg_counting"]["description"] == CATALOG["leg_counting"]["description"]
    assert rows["rg/leg_counting"]["description"].startswith("reasoning-gym arithmetic: ")
    assert rows["rg/leg_counting"]["source"] == "llm-gym"


def test_without_reasoning_gym_building_an_entry_is_one_line_naming_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "reasoning_gym", None)  # `import reasoning_gym` now fails
    with pytest.raises(LLMGymError) as err:
        llmgym.make("rg/leg_counting")
    assert "pip install 'llm-gym[reasoning-gym]'" in str(err.value) and "\n" not in str(err.value)
    assert main(["info", "rg/leg_counting"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and stderr.startswith("llmgym: error: ") and "llm-gym[reasoning-gym]" in stderr


def test_a_reasoning_gym_of_another_version_is_refused_naming_both(monkeypatch):
    monkeypatch.setattr(rg, "installed_version", lambda: "9.9.9")
    with pytest.raises(LLMGymError) as err:
        llmgym.make("rg/leg_counting")
    assert "9.9.9" in str(err.value) and rg.load_catalog()["reasoning_gym_version"] in str(err.value)


def test_a_level_is_the_curriculum_configuration_of_that_level():
    env = llmgym.make("rg/leg_counting", level=3)
    assert env.levels == tuple(range(1, 37))
    assert env.level_config == CATALOG["leg_counting"]["levels"][2]["config"] == {
        "min_animals": 1, "max_animals": 3, "min_instances": 2, "max_instances": 16}
    config = rg.rg_dataset("leg_counting", 3).config
    assert {k: getattr(config, k) for k in env.level_config} == env.level_config
    task = next(env.tasks("train", n=1))
    assert task.meta["level"] == 3 and task.meta["family"] == "leg_counting"
    with pytest.raises(LLMGymError):
        llmgym.make("rg/leg_counting", level=37)


def test_a_dataset_without_curriculum_has_one_level_and_refused_curriculum_levels_are_skipped():
    assert llmgym.make("rg/gsm_symbolic").levels == (1,)
    assert llmgym.make("rg/gsm_symbolic").level_config == {}
    caesar = CATALOG["caesar_cipher"]
    assert len(caesar["levels"]) == 2 and set(caesar["skipped_levels"]) == {"2", "3"}
    assert "rotation must be in range" in caesar["skipped_levels"]["2"]


def test_strict_scoring_pays_nothing_for_the_padding_reasoning_gyms_scorer_pays_for():
    strict = llmgym.make("rg/spell_backward")
    native = llmgym.make("rg/spell_backward", scorer="native")
    task = next(strict.tasks("eval", n=1))
    padded = tagged(f"{task.answer} and some more words")
    assert 0.0 < native.rubric.score(padded, task).value < 1.0
    assert strict.rubric.score(padded, task).value == 0.0
    assert strict.rubric.score(strict.reference(task), task).value == 1.0
    assert list(native.rubric.weights) == ["rg_score"] and list(strict.rubric.weights) == ["correct"]


def test_a_checker_dataset_accepts_any_right_answer_not_only_the_oracle():
    env = llmgym.make("rg/graph_color")
    task = next(env.tasks("train", n=1))
    puzzle = task.meta["rg_metadata"]["puzzle"]
    # Another valid coloring: every color shifted by one is still proper.
    colors = json.loads(task.meta["rg_reference"])
    n_colors = len(puzzle["color_options"])
    shifted = {v: puzzle["color_options"][(puzzle["color_options"].index(c) + 1) % n_colors]
               for v, c in colors.items()}
    assert shifted != colors
    assert env.rubric.score(tagged(json.dumps(shifted)), task).value == 1.0


def test_model_text_never_reaches_a_scorer_that_would_run_it_as_code(tmp_path):
    marker = tmp_path / "ran"
    payload = f"__import__('pathlib').Path({str(marker)!r}).touch() or 24"
    for scorer in ("strict", "native"):
        env = llmgym.make("rg/puzzle24", scorer=scorer)
        task = next(env.tasks("train", n=1))
        score = env.rubric.score(tagged(payload), task)
        assert (score.value, score.reason) == (0.0, "unsafe_answer")
    assert not marker.exists()
    assert safe_for_native("countdown", "(25 - 5) * 4 + 3")
    assert not safe_for_native("simple_integration", "x**9**9**9")
    assert safe_for_native("simple_integration", "2*x**3/3 - sin(x) + C")
    assert safe_for_native("n_queens", "_ Q _ _\nQ _ _ _")  # not Python at all: eval fails, harmlessly
    assert not safe_for_native("spiral_matrix", "[1] * 10**10")


@pytest.mark.parametrize("module", ["llmgym.envs.rg", "llmgym.envs.rg_scoring"])
def test_doctests_of_the_catalog_modules_pass(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and (module == "llmgym.envs.rg" or result.attempted > 0)


def test_text_answers_compare_after_whitespace_and_literals_by_value():
    assert normalize_text("1  2\n\n3 4 ") == normalize_text("1 2\n3 4")
    assert normalize_text("12 3") != normalize_text("1 23")
    assert parse_literal("['a', 'b']") == parse_literal('["a","b"]')
    assert parse_literal("[1]") != parse_literal("[true]")
    assert final_answer("<answer>1 2</answer> or rather <answer>2 1</answer>")[1] == "hedged"
    assert final_answer("the grid is 1 2")[1] == "no_answer"  # text answers need an explicit answer


def test_items_reasoning_gym_found_no_solution_for_are_not_tasks():
    env = llmgym.make("rg/jugs", level=2)
    found: dict[bool, int] = {}
    for i in range(100):  # 17% of these items are unsolved
        found.setdefault(rg.rg_item("jugs", 2, i)["answer"] == rg.UNSOLVED["jugs"], i)
        if len(found) == 2:
            break
    unsolved, solved = found[True], found[False]
    draws = iter([unsolved, solved])

    class Draws:  # draws the unsolved item first
        def randrange(self, n):
            return next(draws)

    assert env.generate_task(Draws()).meta["rg_index"] == solved


def test_a_question_asked_twice_with_two_valid_oracles_lands_in_one_split():
    env = llmgym.make("rg/n_queens")
    first = next(env.tasks("train", n=1))
    again = Task(first.prompt, "another valid board", first.meta)
    assert again.id != first.id and env.split_of(again) == env.split_of(first) == "train"


def test_the_version_names_reasoning_gym_the_dataset_and_a_digest_of_the_level_mapping():
    version = llmgym.make("rg/leg_counting").version
    assert re.fullmatch(r"reasoning-gym==0\.1\.25/leg_counting/[0-9a-f]{12}", version)
    assert llmgym.make("rg/leg_counting", level=2).version == version
    assert llmgym.make("rg/chain_sum").version.rsplit("/", 1)[1] != version.rsplit("/", 1)[1]


def test_docs_list_every_dataset_as_the_catalog_does_and_their_example_runs():
    text = (ROOT / "docs" / "envs.md").read_text()
    section = text[text.index("## `rg/NAME`"):]
    assert rg.catalog_markdown() in section, "docs/envs.md: paste llmgym.envs.rg.catalog_markdown() again"
    example = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(example, "docs/envs.md", "exec"), {})
