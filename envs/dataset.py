"""The `dataset` env: a user's own file of questions and answers, scored by the shared verifier.

    llmgym train --env dataset:path=qa.jsonl,answer=label --policy tiny --steps 2
    llmgym bench --env dataset:path=mc.csv,answer_type=choice --policy smollm2
    env = llmgym.make("dataset", path="qa.jsonl", answer_type="number")     # in Python

**Sources.** JSONL, JSON (a list of objects), CSV/TSV and Parquet files (`.gz` too for the text
formats), a folder written by `datasets.Dataset.save_to_disk` (`data_split=` picks a split of a
DatasetDict), or a Hugging Face hub dataset, only when the user names one with `hub=ID`
(`subset=`, `data_split=`): a path that does not exist is an error, never a download. A path
holding `,`, `:` or `=` is passed as a keyword (`make("dataset", path="a,b.jsonl")`), quoted in a
spec (`dataset:path='a,b.jsonl'`), or set in the YAML config.

**Columns.** The question is the first of `question`, `prompt`, `problem` (or a `messages` chat
column: a list of `{"role", "content"}`; a last assistant message is the reference solution);
the answer the first of `answer`, `solution`, `label`. Optional: `solution` (a reference solution,
so `--algo sft` works), `level`/`difficulty` (integers, or text such as "Level 3"), `choices`/
`options` (for choice answers) and, for code, `tests`/`test_list`/`test`, `entry_point` and
`test_setup_code`. Each is renamed with an option (`question=text,answer=label`) or turned off
with `solution=False`. An answer written as a worked solution, ending in ``\\boxed{...}`` (MATH)
or a ``#### ...`` line (GSM8K), gives both the gold answer and the reference solution.

**Answer types** (`answer_type=`): `auto` (the verifier infers from each gold), `number`,
`expression`, `text` (compared as normalised text), `set`, `interval`, `equation`, `choice` (one
letter A-E, scored strictly by the `choice` reward; `choices` are listed under the question as
"A. ...", and an integer answer is a 0-based index into them) and `code` (a Python function run
against the row's tests in the sandbox by the `tests` reward). `auto` becomes `code` for a file
with tests and no answer column, and `choice` for one with a choices column.

**Splits.** With `eval_path=FILE` the eval split is that file and train is the main file less
every question the eval file also holds; otherwise each task's split comes from a hash of its
question (`eval_fraction`, default 0.2), so the same question never lands in both. Rows whose
prompt repeats an earlier row's are removed and counted (`stats["duplicates"]`, of which
`conflicts` gave another answer). `level=N` keeps the rows of one difficulty level; by default a
file with a difficulty column gives every level (`env.level` is None) and `env.levels` lists them.

**Large files.** `tasks(split, n, seed)` reads the file in order through a seeded shuffle buffer of
`SHUFFLE_BUFFER` rows of both splits (a full shuffle of any file that fits in it) and stops once it
has `n`, so `llmgym info` on a million-row JSONL reads about ten thousand lines. What needs the whole file is
computed on demand and kept: `stats` (counts; one pass, 16 bytes a row) and `version` (a hash of
the file's bytes and of the column mapping). A difficulty column is read once when the env is
built, to know its levels. A malformed row stops the read with one line naming file and line.
"""

from __future__ import annotations

import hashlib
import json
import random
from array import array
from functools import cached_property
from typing import Any, Iterator, Sequence

from llmgym.env import SingleTurnEnv, check_tasks_request, split_of
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Message, Task

from .dataset_files import Source, open_hub, open_source
from .dataset_rows import Columns, TaskBuilder

ANSWER_TYPES = ("auto", "number", "expression", "text", "set", "interval", "equation", "choice", "code")
SHUFFLE_BUFFER = 10_000  # rows held to shuffle a stream; a file this small is shuffled completely
DRAW_POOL = 10_000       # tasks of a split that `reset()` draws among (the first of the seed-0 stream)
FORMAT_WEIGHT = 0.1      # a boxed answer earns a little even when wrong: GRPO's first signal

BOXED_PROMPT = "Solve the problem. Put the final answer in \\boxed{}."
CHOICE_PROMPT = ("Answer the multiple-choice question. Give the letter of the correct option as the final "
                 "answer, in \\boxed{} (for example \\boxed{B}).")


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def prompt_key(prompt: str | tuple[Message, ...]) -> str:
    """What two rows must share to be duplicates: the whole prompt (every message of a chat)."""
    if isinstance(prompt, str):
        return prompt
    return json.dumps([[m.role, m.content] for m in prompt], ensure_ascii=False)


def _buffered_shuffle(stream: Iterator[Task], seed: int, size: int) -> Iterator[Task]:
    """A seeded shuffle holding at most `size` items: exact for streams shorter than that."""
    rng = random.Random(f"dataset/{seed}")
    buffer: list[Task] = []
    for task in stream:
        if len(buffer) < size:
            buffer.append(task)
            continue
        i = rng.randrange(size)
        yield buffer[i]
        buffer[i] = task
    rng.shuffle(buffer)
    yield from buffer


class DatasetEnv(SingleTurnEnv):
    """Questions and answers from a user's file (or a named hub dataset); see the module docstring."""

    name = "dataset"
    description = ("A user's JSONL/JSON/CSV/Parquet file or datasets folder (path=FILE); columns mapped, "
                   "answers through the shared verifier.")

    def __init__(self, *, path: Any = None, eval_path: Any = None, hub: str | None = None,
                 subset: str | None = None, data_split: str | None = None, eval_data_split: str | None = None,
                 format: str | None = None, question: Any = None, messages: Any = None, answer: Any = None,
                 solution: Any = None, difficulty: Any = None, choices: Any = None, tests: Any = None,
                 entry_point: Any = None, setup: Any = None, answer_type: str = "auto",
                 system_prompt: str | None = None, eval_fraction: float = 0.2, level: int | None = None,
                 split: str = "train", rubric: Rubric | None = None, render_mode: str | None = None):
        if answer_type == "string":
            answer_type = "text"
        if answer_type not in ANSWER_TYPES:
            raise LLMGymError(f"dataset: answer_type must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}")
        if isinstance(eval_fraction, bool) or not isinstance(eval_fraction, (int, float)) or not 0 < eval_fraction < 1:
            raise LLMGymError(f"dataset: eval_fraction must be a number between 0 and 1, got {eval_fraction!r}")
        if (path is None) == (hub is None):
            raise LLMGymError("dataset: name a file with path=FILE (JSONL, JSON, CSV, Parquet or a save_to_disk "
                              "folder), or a hub dataset with hub=ID" if path is None else
                              "dataset: give path= or hub=, not both")
        if eval_path is not None and eval_data_split is not None:
            raise LLMGymError("dataset: give eval_path= or eval_data_split=, not both")
        self.eval_fraction = float(eval_fraction)
        if hub is not None:
            self.source = open_hub(hub, subset=subset, data_split=data_split)
            self.eval_source = (open_hub(hub, subset=subset, data_split=eval_data_split)
                                if eval_data_split is not None else None)
        else:
            if subset is not None:
                raise LLMGymError("dataset: subset= names a configuration of a hub dataset; use it with hub=")
            self.source = open_source(path, fmt=format, data_split=data_split)
            self.eval_source = None
            if eval_path is not None:
                self.eval_source = open_source(eval_path, data_split=data_split, what="eval_path")
            elif eval_data_split is not None:
                self.eval_source = open_source(path, fmt=format, data_split=eval_data_split)
        options = dict(question=question, messages=messages, answer=answer, solution=solution,
                       difficulty=difficulty, choices=choices, tests=tests, entry_point=entry_point, setup=setup)
        self.columns = Columns(self.source, options, None if answer_type == "auto" else answer_type)
        self.answer_type = self.columns.kind
        self.builder = TaskBuilder(self.columns, self.answer_type)
        self.eval_builder = None
        if self.eval_source is not None:
            self.eval_builder = TaskBuilder(Columns(self.eval_source, options, self.answer_type), self.answer_type)
        if system_prompt is None:
            from .code import SYSTEM_PROMPT as CODE_PROMPT

            system_prompt = {"code": CODE_PROMPT, "choice": CHOICE_PROMPT}.get(self.answer_type, BOXED_PROMPT)
        if not isinstance(system_prompt, str):
            raise LLMGymError(f"dataset: system_prompt must be text, got {system_prompt!r}")
        self.system_prompt = system_prompt or None
        self.has_levels = bool(self.columns.names["difficulty"])
        if self.has_levels:
            self.levels = self._scan_levels()
        elif level not in (None, 1):
            raise LLMGymError(f"dataset: level={level!r} needs a difficulty column (difficulty=COLUMN); "
                              f"{self.source.label} has none, so its one level is 1")
        if level is not None and level not in self.levels:
            raise LLMGymError(f"dataset: level must be one of {list(self.levels)} (the levels in "
                              f"{self.source.label}), got {level!r}")
        self._level_filter = level if self.has_levels else None
        self._pools: dict[str, list[Task]] = {}
        super().__init__(level=level if level is not None else self.levels[0], split=split, rubric=rubric,
                         render_mode=render_mode)
        if self.has_levels and level is None:
            self.level = None  # every level of the file

    # -- what the file holds ---------------------------------------------------------------------
    def _sources(self) -> list[tuple[Source, TaskBuilder]]:
        pairs = [(self.source, self.builder)]
        if self.eval_source is not None and self.eval_builder is not None:
            pairs.append((self.eval_source, self.eval_builder))
        return pairs

    def _scan_levels(self) -> tuple[int, ...]:
        found: set[int] = set()
        for source, builder in self._sources():
            for n, row in source.rows():
                found.add(builder.level(n, row))  # type: ignore[arg-type]
        if not found:
            raise LLMGymError(f"dataset: {self.source.label} holds no rows")
        return tuple(sorted(found))

    @cached_property
    def _eval_keys(self) -> frozenset[int]:
        """Questions of the eval file (hashed): they belong to eval, and are taken out of train."""
        assert self.eval_source is not None and self.eval_builder is not None
        return frozenset(_digest(self.eval_builder.build(n, row).text.strip()) for n, row in self.eval_source.rows())

    def split_of(self, task: Task) -> str:
        """By the question's text, so two rows asking the same thing never straddle the splits."""
        text = task.text.strip()
        if self.eval_source is not None:
            return "eval" if _digest(text) in self._eval_keys else "train"
        return split_of(text, self.eval_fraction)

    def _unique(self, source: Source, builder: TaskBuilder) -> Iterator[Task]:
        """Every distinct task of `source` (at this env's level) in file order; duplicates skipped."""
        seen: set[int] = set()
        for n, row in source.rows():
            task = builder.build(n, row)
            key = _digest(prompt_key(task.prompt))
            if key in seen:
                continue
            seen.add(key)
            if self._level_filter is not None and task.meta.get("level") != self._level_filter:
                continue
            yield task

    def tasks(self, split: str = "train", n: int | None = None, seed: int = 0) -> Iterator[Task]:
        """Distinct tasks of one split, in a seeded order; reads the file only as far as it needs.

        The shuffle buffer takes rows of both splits and the split is picked as they leave it, so
        the first task of either split comes after about `SHUFFLE_BUFFER` rows, never the whole file.
        """
        check_tasks_request(split, n)
        if n == 0:
            return
        from_eval_file = split == "eval" and self.eval_source is not None
        if from_eval_file:
            stream = self._unique(self.eval_source, self.eval_builder)  # type: ignore[arg-type]
        else:
            stream = self._unique(self.source, self.builder)
        given = 0
        try:
            for task in _buffered_shuffle(stream, seed, SHUFFLE_BUFFER):
                if not from_eval_file and self.split_of(task) != split:
                    continue
                yield task
                given += 1
                if n is not None and given >= n:
                    return
        finally:
            stream.close()  # closes the file now, not when the generator is collected

    def _pool(self, split: str) -> list[Task]:
        if split not in self._pools:
            self._pools[split] = list(self.tasks(split, n=DRAW_POOL, seed=0))
        return self._pools[split]

    def task_list(self) -> Sequence[Task]:
        """The tasks `reset()` draws among: the first `DRAW_POOL` of each split (all of a small file)."""
        return self._pool("train") + self._pool("eval")

    def _draw_task(self) -> Task:
        pool = self._pool(self.split)
        if not pool:
            raise LLMGymError(f"dataset: {self.source.label} has no {self.split} tasks")
        return random.Random(int(self.np_random.integers(0, 2**63 - 1))).choice(pool)

    @cached_property
    def stats(self) -> dict[str, Any]:
        """Counts over the whole file (one pass, kept): rows read, `duplicates` removed (`conflicts`
        of them gave another answer than the row kept), `in_eval_file` (train rows whose question
        the eval file holds), and the `train`/`eval` tasks of this env's level."""
        import numpy as np

        rows = duplicates = conflicts = in_eval = 0
        counts = {"train": 0, "eval": 0}
        for source, builder in self._sources():
            from_eval_file = source is self.eval_source
            prompts, pairs, kept = array("Q"), array("Q"), array("b")
            for n, row in source.rows():
                task = builder.build(n, row)
                key = prompt_key(task.prompt)
                prompts.append(_digest(key))
                pairs.append(_digest(key + "\0" + json.dumps(task.answer, sort_keys=True, default=str)))
                split = "eval" if from_eval_file else self.split_of(task)
                if not from_eval_file and self.eval_source is not None and split == "eval":
                    split = "in_eval_file"
                level_ok = self._level_filter is None or task.meta.get("level") == self._level_filter
                kept.append({"train": 0, "eval": 1, "in_eval_file": 2}[split] if level_ok else 3)
            p = np.frombuffer(prompts, dtype=np.uint64) if prompts else np.zeros(0, np.uint64)
            _, first = np.unique(p, return_index=True)
            rows += len(p)
            duplicates += len(p) - len(first)
            if len(p):
                conflicts += len(np.unique(np.frombuffer(pairs, dtype=np.uint64))) - len(first)
            where = np.frombuffer(kept, dtype=np.int8)[first] if len(first) else np.zeros(0, np.int8)
            counts["train"] += int((where == 0).sum())
            counts["eval"] += int((where == 1).sum())
            in_eval += int((where == 2).sum())
        return {"rows": rows, "duplicates": duplicates, "conflicts": conflicts, "in_eval_file": in_eval, **counts}

    @property
    def duplicates(self) -> int:
        """Rows removed because an earlier row had the same prompt (a full pass, once)."""
        return int(self.stats["duplicates"])

    @cached_property
    def version(self) -> str:
        """`DATA-MAPPING`: a hash of the file's bytes (and the eval file's) and one of the column mapping
        and options, so results say which data and which reading of it they came from."""
        data = hashlib.sha256()
        for source, _ in self._sources():
            data.update(source.content_hash().encode() + b"\0")
        mapping = json.dumps({"columns": self.columns.used(), "answer_type": self.answer_type,
                              "eval_columns": self.eval_builder.columns.used() if self.eval_builder else None,
                              "system_prompt": self.system_prompt, "eval_fraction": self.eval_fraction,
                              "level": self._level_filter, "split_by": "eval_file" if self.eval_source else "hash"},
                             sort_keys=True)
        return f"{data.hexdigest()[:12]}-{hashlib.sha256(mapping.encode()).hexdigest()[:8]}"

    # -- scoring -----------------------------------------------------------------------------------
    def default_rubric(self) -> Rubric:
        from llmgym.rewards.answer import AnswerReward, FormatReward, LengthReward

        if self.answer_type == "code":
            from llmgym.rewards.code import TestsReward

            return Rubric([(TestsReward(), 1.0)])
        if self.answer_type == "choice":
            from llmgym.rewards.choice import ChoiceReward

            return Rubric([(ChoiceReward(), 1.0), (LengthReward(), 0.0)])
        return Rubric([(AnswerReward(), 1.0), (FormatReward(), FORMAT_WEIGHT), (LengthReward(), 0.0)])
