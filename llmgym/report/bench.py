"""`llmgym bench`: every env x policy over the eval split, k samples per task, written as it goes.

Episodes run through `llmgym.rollout.rollout` (the one episode loop) in chunks of `batch_size`
episodes. After each chunk every finished episode is appended to `OUT/results.jsonl` as one line
written with a single `write` on an `O_APPEND` descriptor, so a killed process leaves whole lines
(at most a torn last line, which the next run drops). A rerun reads the file and skips every
(env, level, policy, task, sample) key already there, so it resumes where the last run stopped
and can also extend a bench with more policies, envs, tasks or samples. `OUT/bench.json` records
the sampling settings; a rerun with different ones is refused, since its episodes would not be
comparable with those already written. For the same reason every row records its env's version
(`TextEnv.version`), and a rerun whose env has another version than the rows of that env and level
is refused: its fix is a fresh `--out`. Rows written before versions were recorded count as version
"unrecorded", so they are refused too (nothing says which generator or rubric wrote them).

Policies are built one at a time (a model is loaded only when it has episodes left to run) and
may be a registered name with options (`hf:path=DIR`, `openai:base_url=...`), a checkpoint or
run directory, or a policy object.
"""

from __future__ import annotations

import inspect
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from llmgym.env import UNRECORDED, UNVERSIONED, TextEnv
from llmgym.errors import LLMGymError
from llmgym.io import JsonlAppender, atomic_write_text, cut_torn_tail, iter_jsonl, parse_json
from llmgym.registry import parse_name_options
from llmgym.rollout import rollout
from llmgym.types import Episode, SamplingParams, Task

RESULTS = "results.jsonl"
CONFIG = "bench.json"
RECORD_VERSION = 1


@dataclass
class EnvCase:
    """One env at one level, with the eval tasks it runs."""

    label: str  # env name plus options other than level, e.g. "math" or "math:family='word'"
    level: int
    env: TextEnv
    tasks: list[Task] = field(default_factory=list)

    @property
    def version(self) -> str:
        """The env's version, as its episodes record it."""
        return str(getattr(self.env, "version", UNVERSIONED))


@dataclass
class PolicyCase:
    """A policy to run: its label and how to build it (built only when it has work left)."""

    label: str
    build: Callable[[], Any]


def record_key(env: str, level: Any, policy: str, task_id: str, sample: int) -> str:
    """The resume key of one episode."""
    return json.dumps([env, level, policy, task_id, sample], ensure_ascii=False)


def key_of(record: Mapping[str, Any]) -> str:
    return record_key(record["env"], record.get("level"), record["policy"], record["task_id"], record["sample"])


def recorded_versions(records: Iterable[Mapping[str, Any]], where: Any) -> dict[tuple[str, Any], str]:
    """(env, level) -> the env version its rows record (`"unrecorded"` for rows older than versions).

    Rows of one env and level with two versions (results files concatenated, say) are not comparable:
    that is one `LLMGymError` naming both, since no report may merge them.
    """
    versions: dict[tuple[str, Any], str] = {}
    for r in records:
        key, version = (r["env"], r.get("level")), str(r.get("env_version") or UNRECORDED)
        first = versions.setdefault(key, version)
        if first != version:
            raise LLMGymError(f"{where} mixes {key[0]} level {key[1]} episodes of env versions {_shown(first)} and "
                              f"{_shown(version)}, which are not comparable: keep one version's rows, or rerun "
                              "the bench into a fresh --out")
    return versions


def check_versions(envs: Sequence[EnvCase], records: Sequence[Mapping[str, Any]], where: Any) -> None:
    """Refuse to add episodes of an env to rows of the same env and level written by another version."""
    recorded = recorded_versions(records, where)
    for case in envs:
        theirs = recorded.get((case.label, case.level))
        if theirs is not None and theirs != case.version:
            raise LLMGymError(f"{where} holds {case.label} level {case.level} episodes of env version "
                              f"{_shown(theirs)}, but {case.label} is now version {case.version!r}: bench this "
                              "version into a fresh --out")


def _shown(version: str) -> str:
    return f"{version!r} (written before env versions were recorded)" if version == UNRECORDED else repr(version)


# -- results.jsonl ---------------------------------------------------------------------------------
class ResultsFile:
    """Append-only episode log (`llmgym.io.JsonlAppender`). `load()` returns finished records and cuts a
    torn last line."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._out = JsonlAppender(self.path)

    def load(self, *, repair: bool = True, check: bool = False) -> list[dict[str, Any]]:
        """Every whole record; with `repair`, a torn last line is also cut from the file.

        With `check`, every JSON row must be a record as the metrics and reports read it (else
        `check_record`'s `LLMGymError` names file and line); without, rows lacking a task id are skipped.
        """
        if not self.path.is_file():
            return []
        if repair:
            # A kill mid-write (or a power cut) left a partial line: drop it so appends start clean.
            cut_torn_tail(self.path)
        records = []
        # A line that is not JSON (foreign bytes) is skipped, as a torn last line is.
        for n, row in iter_jsonl(self.path, skip_bad=True):
            if check:
                records.append(check_record(row, f"{self.path}:{n}"))
            elif isinstance(row, dict) and "task_id" in row:
                records.append(row)
        return records

    def append(self, record: Mapping[str, Any]) -> None:
        # One write(2) per line: readers and a later resume see whole lines or nothing.
        self._out.append([record])

    def sync(self) -> None:
        self._out.sync()

    def close(self) -> None:
        self._out.close()


_NUMBER = (int, float)
_SCALAR = (str, int, float, bool, type(None))
# What the metrics and reports read of a row, by type: required fields, then optional ones (None allowed).
_REQUIRED: dict[str, tuple[type, ...]] = {"env": (str,), "policy": (str,), "task_id": (str,), "sample": (int,),
                                          "correct": (bool,), "reward": _NUMBER}
_OPTIONAL: dict[str, tuple[type, ...]] = {
    "level": _SCALAR, "family": _SCALAR, "answer": _SCALAR, "format_ok": (bool,), "components": (dict,),
    "completion_tokens": _NUMBER, "prompt_tokens": _NUMBER, "seconds": _NUMBER, "wall_seconds": _NUMBER,
    "tool_calls": _NUMBER, "prompt": (str, list), "transcript": (list,)}


def check_record(row: Any, where: str) -> dict[str, Any]:
    """A results row as the metrics and reports read it, or `LLMGymError` naming `where` (file:line)."""
    def refuse(what: str) -> LLMGymError:
        return LLMGymError(f"{where}: {what}; not a row llmgym bench wrote (fix or delete the line)")

    if not isinstance(row, dict):
        raise refuse(f"a results row must be a JSON object, got {type(row).__name__}")
    missing = [k for k in _REQUIRED if k not in row]
    if missing:
        raise refuse(f"results row lacks {', '.join(missing)}")
    for key, types in (*_REQUIRED.items(), *_OPTIONAL.items()):
        value = row.get(key)
        if key in _OPTIONAL and value is None:
            continue
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise refuse(f"{key} must be {' or '.join(t.__name__ for t in types)}, got {value!r:.60}")
    if any(not isinstance(v, _NUMBER) or isinstance(v, bool) for v in (row.get("components") or {}).values()):
        raise refuse(f"components must map names to numbers, got {row['components']!r:.60}")
    if isinstance(row.get("prompt"), list) and not all(isinstance(m, dict) for m in row["prompt"]):
        raise refuse("prompt must be text or a list of {role, content} messages")
    if not all(isinstance(t, dict) for t in row.get("transcript") or []):
        raise refuse("transcript must be a list of {action, observation} objects")
    return row


# -- what an episode becomes -----------------------------------------------------------------------
def episode_record(env: str, level: Any, policy: str, episode: Episode, sample: int,
                   wall_seconds: float, *, env_version: str, rubric: Any = None) -> dict[str, Any]:
    """The `results.jsonl` row of one finished episode (see docs/reports.md). `rubric`, the env's,
    says by its entries' roles which component is success and which is format."""
    from llmgym.rubric import FORMAT, SUCCESS, component_with_role, is_solved, solved_at

    task, score, info = episode.task, episode.score, episode.info
    plain = task.to_dict()
    components = dict(score.components)
    success = component_with_role(rubric, SUCCESS) if rubric is not None else None
    form = component_with_role(rubric, FORMAT) if rubric is not None else None
    record: dict[str, Any] = {
        "v": RECORD_VERSION, "env": env, "env_version": env_version, "level": level,
        "family": task.meta.get("family"), "policy": policy, "task_id": task.id, "sample": sample,
        "prompt": plain["prompt"], "gold": plain["answer"],
        "completion": episode.turns[-1].action if episode.turns else "",
        "answer": score.answer, "reward": score.value, "components": components, "reason": score.reason,
        "correct": is_solved(components, score.value, success, solved_at(rubric) if rubric is not None else 1.0),
        # A rubric with a format entry defines format; otherwise "some answer could be parsed".
        "format_ok": components[form] >= 1.0 if form in components else score.answer is not None,
        "tool_calls": info.get("tool_calls"), "turns": len(episode.turns),
        "truncated": episode.truncated,
        "prompt_tokens": int(info.get("prompt_tokens", 0)), "completion_tokens": int(info.get("completion_tokens", 0)),
        "seconds": float(info.get("seconds", 0.0)), "wall_seconds": wall_seconds,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if len(episode.turns) > 1:
        record["transcript"] = [{"action": t.action, "observation": t.observation} for t in episode.turns]
    return record


# -- resolving envs and policies -------------------------------------------------------------------
def _label(name: str, options: Mapping[str, Any]) -> str:
    if not options:
        return name
    return name + ":" + ",".join(f"{k}={v!r}" for k, v in sorted(options.items()))


def parse_levels(text: str | None) -> str | list[int] | None:
    """`--levels`: None (each env's own level), "all", or a comma list of ints."""
    if text is None or text.strip() == "":
        return None
    if text.strip() == "all":
        return "all"
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise LLMGymError(f"--levels takes 'all' or a comma list of integers, got {text!r}") from None


def resolve_envs(specs: Sequence[str], gym: Any, *, levels: str | list[int] | None, tasks: int,
                 seed: int) -> list[EnvCase]:
    """Build every env (x level) named by `specs` and draw its eval tasks. Bad names fail here, first.

    A spec may carry a training mixture's `@WEIGHT` (`llmgym.mixture`), so the `--env` flags of a
    run can be reused as they are; a bench runs each env as its own case, so the weight is dropped.
    """
    from llmgym.mixture import parse_env_spec

    cases: list[EnvCase] = []
    for given in specs:
        spec = parse_env_spec(given).label
        name, options = parse_name_options(spec)
        base = gym.make_env(spec)
        label = _label(name, {k: v for k, v in options.items() if k != "level"})
        if levels is None:
            chosen = [base.level]
        elif levels == "all":
            chosen = list(base.levels)
        else:
            chosen = [lv for lv in levels if lv in base.levels]
            if not chosen:
                raise LLMGymError(f"env {name!r} has levels {list(base.levels)}; none of {levels} is one of them")
        for lv in chosen:
            if any(c.label == label and c.level == lv for c in cases):
                continue  # the same env and level named twice: run it once
            env = base if lv == base.level else gym.make_env(spec, level=lv)
            task_list = list(env.tasks("eval", n=tasks, seed=seed))
            if not task_list:
                raise LLMGymError(f"env {spec!r} level {lv} has no eval tasks")
            cases.append(EnvCase(label, lv, env, task_list))
    return cases


def resolve_policy(spec: Any, gym: Any) -> PolicyCase:
    """A registered name with options, a checkpoint or run directory, or a policy object.

    The option `label=NAME` is the bench's own: it names the policy in results and reports (and in
    the resume key) instead of the whole spec, so `openai:base_url=...,concurrency=8,label=smol`
    can be rerun with another concurrency and still resume. Names and options are checked now, so
    a typo fails before any model is loaded.
    """
    if not isinstance(spec, str):
        return PolicyCase(str(getattr(spec, "name", type(spec).__name__)), lambda: spec)
    from llmgym.plugins import is_policy_path

    name, options = parse_name_options(spec)
    label = str(options.pop("label", "")) or spec
    if is_policy_path(name) or Path(name).exists():
        if not Path(name).expanduser().is_dir():
            raise LLMGymError(f"{name} holds no model: no such folder (give a model folder, checkpoint or "
                              "run directory, or hf:path=HUB_ID for a hub model)")
        # Gym.make_policy resolves a folder as a policy (one place for every command); building it
        # loads no weights, and asking where they live checks now, in one line, that it holds a model.
        getattr(gym.make_policy(name, **options), "model_path", None)
        return PolicyCase(label, lambda: gym.make_policy(name, **options))
    factory = gym.registry("policies").spec(name).load()
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise LLMGymError(f"policy {name!r}: {exc}") from None
    except ValueError:  # a builtin without a signature: let make() report
        pass
    return PolicyCase(label, lambda: gym.make_policy(name, **options))


# -- the run -------------------------------------------------------------------------------------
def _settings(params: SamplingParams, seed: int) -> dict[str, Any]:
    return {"params": {**asdict(params), "stop": list(params.stop)}, "seed": seed}


def read_settings(out: str | os.PathLike) -> dict[str, Any] | None:
    """OUT/bench.json, or None when there is none or it is not JSON (a kill mid-write: rewritten)."""
    path = Path(out) / CONFIG
    if not path.is_file():
        return None
    try:
        data = parse_json(path.read_bytes(), str(path))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("params", {}), dict):
        raise LLMGymError(f"{path} must hold a JSON object with an object of params (the bench's sampling "
                          "settings); delete it or pass another --out")
    return data


def check_settings(out: Path, params: SamplingParams, seed: int) -> None:
    """Refuse to mix episodes sampled differently in one results file; record the settings."""
    path = out / CONFIG
    mine = _settings(params, seed)
    theirs = read_settings(out)
    if theirs is not None and {k: theirs.get(k) for k in mine} != mine:
        raise LLMGymError(f"{out} holds a bench sampled with other settings ({json.dumps(theirs.get('params'))}, "
                          f"seed {theirs.get('seed')}): rerun with those or pass another --out")
    atomic_write_text(path, json.dumps({"schema_version": RECORD_VERSION, **mine}, indent=2) + "\n")


def run_bench(envs: Sequence[EnvCase], policies: Sequence[PolicyCase], out: str | os.PathLike, *,
              samples: int = 1, params: SamplingParams | None = None, seed: int = 0, batch_size: int = 64,
              say: Callable[[str], None] | None = None,
              on_episode: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run what is not in `OUT/results.jsonl` yet; returns every record of the envs and policies asked for.

    `on_episode(record)` is called after each record is written (progress displays, tests).
    A policy error (an unreachable server) is raised as `LLMGymError` saying how many finished
    episodes the file keeps; rerunning resumes.
    """
    if samples < 1:
        raise LLMGymError(f"--samples must be >= 1, got {samples}")
    labels = [p.label for p in policies]
    if len(set(labels)) < len(labels):
        raise LLMGymError(f"a policy is named twice: {', '.join(sorted({x for x in labels if labels.count(x) > 1}))}")
    if batch_size < 1:
        raise LLMGymError(f"--batch-size must be >= 1, got {batch_size}")
    params = params or SamplingParams()
    say = say or (lambda msg: None)
    out = Path(out)
    check_settings(out, params, seed)
    results = ResultsFile(out / RESULTS)
    loaded = results.load(check=True)
    check_versions(envs, loaded, results.path)
    done = {key_of(r): r for r in loaded}
    wanted: list[str] = []
    try:
        for pcase in policies:
            work = []
            for case in envs:
                keys = [(t, s, record_key(case.label, case.level, pcase.label, t.id, s))
                        for t in case.tasks for s in range(samples)]
                wanted.extend(k for _, _, k in keys)
                pending = [(t, s, k) for t, s, k in keys if k not in done]
                work.append((case, pending, len(keys)))
            left = sum(len(p) for _, p, _ in work)
            if not left:
                say(f"{pcase.label}: every episode already in {results.path}")
                continue
            policy = pcase.build()
            size = max(1, min(batch_size, int(getattr(policy, "batch_size", batch_size) or batch_size)))
            for case, pending, total in work:
                if not pending:
                    continue
                say(f"{pcase.label} on {case.label} level {case.level}: {len(pending)} of {total} episodes to run")
                for start in range(0, len(pending), size):
                    chunk = pending[start:start + size]
                    t0 = time.perf_counter()
                    episodes = rollout(case.env, policy, [t for t, _, _ in chunk], n=1, params=params,
                                       batch_size=size)
                    share = (time.perf_counter() - t0) / len(chunk)
                    for (task, sample, key), ep in zip(chunk, episodes):
                        record = episode_record(case.label, case.level, pcase.label, ep, sample, share,
                                                env_version=case.version, rubric=case.env.rubric)
                        results.append(record)
                        done[key] = record
                        if on_episode is not None:
                            on_episode(record)
                    results.sync()
            del policy
    except LLMGymError as exc:
        kept = len(done)
        raise LLMGymError(f"{exc} ({kept} finished episodes kept in {results.path}; rerun to resume)") from exc
    finally:
        results.close()
    return [done[k] for k in wanted if k in done]
