"""The `dataset` env: a user's file as an env — every format, column mapping, strict errors that name
file and line, duplicates, splits, levels, choice and code answers, and training and bench on it."""

from __future__ import annotations

import csv
import gzip
import json
import socket
from pathlib import Path

import pytest

import llmgym
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.plugins import default_gym
from llmgym.registry import parse_name_options
from llmgym.envs import dataset as dataset_env
from llmgym.rewards.choice import ChoiceReward
from llmgym.types import Completion, Task

TINY = "tiny:hidden=32,layers=1"


def qa_rows(n: int = 40) -> list[dict]:
    return [{"question": f"What is {i} + {i % 7}?", "answer": i + i % 7, "solution": f"{i} + {i % 7} = {i + i % 7}."}
            for i in range(n)]


def write_jsonl(path: Path, rows, extra: tuple[str, ...] = ()) -> Path:
    with open(path, "w") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
        for line in extra:
            fh.write(line + "\n")
    return path


def every_task(env) -> list[Task]:
    return list(env.tasks("train")) + list(env.tasks("eval"))


@pytest.fixture
def qa_file(tmp_path) -> Path:
    return write_jsonl(tmp_path / "qa.jsonl", qa_rows())


# -- formats -----------------------------------------------------------------------------------
def _write(fmt: str, path: Path, rows: list[dict]) -> Path:
    if fmt == "jsonl":
        return write_jsonl(path / "qa.jsonl", rows)
    if fmt == "jsonl.gz":
        with gzip.open(path / "qa.jsonl.gz", "wt") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        return path / "qa.jsonl.gz"
    if fmt == "json":
        (path / "qa.json").write_text(json.dumps(rows, indent=1))
        return path / "qa.json"
    if fmt in ("csv", "tsv"):
        with open(path / f"qa.{fmt}", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter="\t" if fmt == "tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
        return path / f"qa.{fmt}"
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path / "qa.parquet")
        return path / "qa.parquet"
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path / "qa_arrow"))
    return path / "qa_arrow"


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "json", "csv", "tsv", "parquet", "save_to_disk"])
def test_every_format_round_trips_every_row_with_its_reference(tmp_path, fmt):
    rows = qa_rows()
    env = llmgym.make("dataset", path=str(_write(fmt, tmp_path, rows)))
    tasks = every_task(env)
    assert sorted((t.text, str(t.answer)) for t in tasks) == sorted((r["question"], str(r["answer"])) for r in rows)
    assert all(env.reference(t) == f"{t.meta['solution']}" and env.reference(t).endswith(f"\\boxed{{{t.answer}}}")
               for t in tasks)
    assert env.stats == {"rows": 40, "duplicates": 0, "conflicts": 0, "in_eval_file": 0,
                         "train": len(list(env.tasks("train"))), "eval": len(list(env.tasks("eval")))}


def test_a_json_array_file_and_a_json_lines_file_named_json_are_both_read(tmp_path):
    write_jsonl(tmp_path / "lines.json", qa_rows(10))
    assert len(every_task(llmgym.make("dataset", path=str(tmp_path / "lines.json")))) == 10


# -- columns -----------------------------------------------------------------------------------
def test_default_columns_are_found_and_others_are_mapped_by_name(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"prompt": f"Capital number {i}?", "label": f"city{i}"} for i in range(20)])
    env = llmgym.make("dataset", path=str(tmp_path / "p.jsonl"))
    assert env.columns.used() == {"question": "prompt", "answer": "label"}
    assert {t.answer for t in every_task(env)} == {f"city{i}" for i in range(20)}
    write_jsonl(tmp_path / "q.jsonl", [{"text": f"q{i}", "target": str(i), "question": "decoy"} for i in range(20)])
    env = llmgym.make(f"dataset:path={tmp_path / 'q.jsonl'},question=text,answer=target,answer_type=number")
    assert {t.text for t in every_task(env)} == {f"q{i}" for i in range(20)}
    assert all(t.meta["answer_type"] == "number" for t in every_task(env))


def test_a_worked_solution_column_gives_the_gold_and_the_reference_as_in_math_and_gsm8k(tmp_path):
    math_rows = [{"problem": f"Compute {i}/2.", "solution": f"Halve it: $\\boxed{{\\frac{{{i}}}{{2}}}}$.",
                  "level": f"Level {1 + i % 3}"} for i in range(1, 30)]
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "math.jsonl", math_rows)))
    task = next(t for t in every_task(env) if t.text == "Compute 7/2.")
    assert task.answer == "\\frac{7}{2}" and env.reference(task) == math_rows[6]["solution"]
    assert env.levels == (1, 2, 3) and env.level is None and task.meta["level"] == 2
    unreferenced = llmgym.make("dataset", path=str(tmp_path / "math.jsonl"), solution=False)
    assert {t.answer for t in every_task(unreferenced)} == {t.answer for t in every_task(env)}
    assert all(unreferenced.reference(t) is None for t in every_task(unreferenced))
    gsm_rows = [{"question": f"Tom has {i} apples and buys 2. How many?", "answer": f"{i} + 2 = {i + 2}\n#### {i + 2}"}
                for i in range(20)]
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "gsm.jsonl", gsm_rows)))
    task = next(t for t in every_task(env) if t.text.startswith("Tom has 5 "))
    assert task.answer == "7" and env.reference(task) == "5 + 2 = 7\n\\boxed{7}"
    assert env.rubric.score(env.reference(task), task).value == pytest.approx(1.1)


def test_a_messages_column_is_the_prompt_and_its_last_assistant_turn_the_reference(tmp_path):
    rows = [{"messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": f"{i} * 2?"},
                          {"role": "assistant", "content": f"\\boxed{{{2 * i}}}"}], "answer": 2 * i} for i in range(20)]
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "chat.jsonl", rows)))
    task = next(t for t in every_task(env) if t.text == "3 * 2?")
    assert task.messages(env.system_prompt) == [{"role": "system", "content": "Be terse."},
                                                 {"role": "user", "content": "3 * 2?"}]
    assert env.reference(task) == "\\boxed{6}"
    llmgym.check_env(env)


def test_system_prompt_is_an_option_and_an_empty_one_means_none(qa_file):
    assert llmgym.make("dataset", path=str(qa_file), system_prompt="Think.").system_prompt == "Think."
    assert llmgym.make("dataset", path=str(qa_file), system_prompt="").system_prompt is None


# -- malformed rows ----------------------------------------------------------------------------
@pytest.mark.parametrize("bad_line, options, message", [
    ('{"question": "What is 1 + 1?", "answer": 2', {}, "line 41: invalid JSON"),
    ('{"answer": 3}', {}, "line 41: no question"),
    ('{"question": "What is 9 + 9?"}', {}, "line 41: no answer"),
    ('{"question": "What is 9 + 9?", "answer": {"value": 18}}', {}, "line 41: the answer must be text or a number"),
    ('{"question": ["What is 9 + 9?"], "answer": 18}', {}, "line 41: the question must be text"),
    ('{"question": "Name a colour.", "answer": "red"}', {"answer_type": "number"}, "line 41: answer 'red' is not a number"),
    ('[1, 2]', {}, "line 41: expected a JSON object"),
])
def test_a_malformed_row_is_one_line_naming_file_and_line(tmp_path, bad_line, options, message):
    path = write_jsonl(tmp_path / "qa.jsonl", qa_rows(), extra=(bad_line,))
    env = llmgym.make("dataset", path=str(path), **options)
    with pytest.raises(LLMGymError) as err:
        every_task(env)
    assert f"{path}" in str(err.value) and message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(LLMGymError, match="line 41"):
        env.stats


def test_bad_rows_in_csv_and_json_name_their_line_or_item(tmp_path):
    (tmp_path / "bad.csv").write_text("question,answer\nWhat is 1 + 1?,2\n\"unclosed,3\n")
    (tmp_path / "bad.json").write_text('[{"question": "a", "answer": 1},\n {"question": "b" "answer": 2}]')
    (tmp_path / "short.csv").write_text("question,answer,level\nWhat is 1 + 1?,2,1\nWhat is 2 + 2?,4\n")
    for name, where in (("bad.csv", "line 3"), ("bad.json", "line 2"), ("short.csv", "line 3")):
        with pytest.raises(LLMGymError, match=where):
            every_task(llmgym.make("dataset", path=str(tmp_path / name), difficulty=False))


def test_a_column_named_but_absent_lists_the_file_columns(qa_file):
    with pytest.raises(LLMGymError, match=r"no column 'label' \(answer='label'\); its columns are question, answer"):
        llmgym.make("dataset", path=str(qa_file), answer="label")


# -- duplicates and splits ---------------------------------------------------------------------
def test_duplicates_are_removed_and_counted(tmp_path):
    rows = qa_rows(30)
    extra = (json.dumps(rows[3]), json.dumps(rows[4]), json.dumps({**rows[5], "answer": 999}))
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "qa.jsonl", rows, extra)))
    tasks = every_task(env)
    assert len(tasks) == 30 and len({t.text for t in tasks}) == 30
    assert next(t for t in tasks if t.text == rows[5]["question"]).answer == rows[5]["answer"]  # the first kept
    assert env.duplicates == 3 and env.stats["conflicts"] == 1 and env.stats["rows"] == 33


def test_content_hash_split_never_overlaps_and_is_deterministic(tmp_path):
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "qa.jsonl", qa_rows(200))))
    train, evals = list(env.tasks("train")), list(env.tasks("eval"))
    assert len(train) + len(evals) == 200 and {t.text for t in train}.isdisjoint(t.text for t in evals)
    assert 20 <= len(evals) <= 60
    assert all(env.split_of(t) == "eval" for t in evals)
    assert [t.id for t in env.tasks("train", n=10, seed=1)] == [t.id for t in env.tasks("train", n=10, seed=1)]
    assert [t.id for t in env.tasks("train", n=10, seed=1)] != [t.id for t in env.tasks("train", n=10, seed=2)]
    assert {t.id for t in env.tasks("train", seed=2)} == {t.id for t in train}


def test_an_eval_file_is_the_eval_split_and_its_questions_leave_train(tmp_path):
    rows = qa_rows(40)
    train_path = write_jsonl(tmp_path / "train.jsonl", rows)
    eval_path = write_jsonl(tmp_path / "eval.jsonl", rows[:5] + [{"question": "What is 100 + 1?", "answer": 101}])
    env = llmgym.make("dataset", path=str(train_path), eval_path=str(eval_path))
    train, evals = list(env.tasks("train")), list(env.tasks("eval"))
    assert len(evals) == 6 and len(train) == 35
    assert {t.text for t in train}.isdisjoint(t.text for t in evals)
    assert env.stats["in_eval_file"] == 5 and env.stats["eval"] == 6
    llmgym.check_env(env)


def test_tasks_stop_reading_once_they_have_n(tmp_path):
    # A bad last line is met only by a reader that goes to the end of the file.
    path = write_jsonl(tmp_path / "big.jsonl", qa_rows(dataset_env.SHUFFLE_BUFFER * 2), extra=("{oops",))
    env = llmgym.make("dataset", path=str(path))
    assert len(list(env.tasks("train", n=10))) == 10 and len(list(env.tasks("eval", n=1))) == 1
    with pytest.raises(LLMGymError, match=f"line {dataset_env.SHUFFLE_BUFFER * 2 + 1}: invalid JSON"):
        env.stats


# -- levels ------------------------------------------------------------------------------------
def test_level_selects_rows_of_one_difficulty(tmp_path):
    rows = [{**r, "difficulty": 1 + i % 3} for i, r in enumerate(qa_rows(60))]
    path = write_jsonl(tmp_path / "lv.jsonl", rows)
    assert llmgym.make("dataset", path=str(path)).levels == (1, 2, 3)
    env = llmgym.make("dataset", path=str(path), level=2)
    assert env.level == 2 and {t.meta["level"] for t in every_task(env)} == {2} and len(every_task(env)) == 20
    with pytest.raises(LLMGymError, match=r"level must be one of \[1, 2, 3\]"):
        llmgym.make("dataset", path=str(path), level=4)
    with pytest.raises(LLMGymError, match="needs a difficulty column"):
        llmgym.make("dataset", path=str(write_jsonl(tmp_path / "qa.jsonl", qa_rows())), level=2)
    with pytest.raises(LLMGymError, match="line 1: difficulty 'hard'"):
        llmgym.make("dataset", path=str(write_jsonl(tmp_path / "w.jsonl", [{**rows[0], "difficulty": "hard"}])))


# -- answer types ------------------------------------------------------------------------------
def test_text_answers_compare_as_text_through_the_verifier(tmp_path):
    rows = [{"question": f"Spell word {i} backwards.", "answer": f"Word{i}"[::-1]} for i in range(20)]
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "t.jsonl", rows)), answer_type="text")
    task = next(t for t in every_task(env) if t.text == "Spell word 3 backwards.")
    assert env.rubric.score("\\boxed{3DROW}", task).components["correct"] == 1.0
    assert env.rubric.score("\\boxed{3drow.}", task).components["correct"] == 1.0
    assert env.rubric.score("\\boxed{3drov}", task).reason == "wrong"


def test_choice_answers_from_letters_indices_and_arc_style_choices(tmp_path):
    rows = [{"question": f"Which is {i}?", "choices": [str(i + 1), str(i), str(i + 2), str(i + 3)], "answer": 1}
            for i in range(20)]
    rows.append({"question": "ARC style?", "choices": {"text": ["no", "yes"], "label": ["1", "2"]}, "answer": "2"})
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "mc.jsonl", rows)))
    assert env.answer_type == "choice" and isinstance(env.rubric.entries[0][0], ChoiceReward)
    task = next(t for t in every_task(env) if t.text.startswith("Which is 3?"))
    assert task.answer == "B" and task.text.endswith("A. 4\nB. 3\nC. 5\nD. 6")
    assert next(t for t in every_task(env) if t.text.startswith("ARC")).answer == "B"
    scores = [env.rubric.score(c, task) for c in ("\\boxed{B}", "(B)", "Answer: B", "A or B", "Answer: A/B", "\\boxed{C}")]
    assert [s.value for s in scores] == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    assert [s.reason for s in scores[3:]] == ["hedged", "hedged", "wrong"]
    llmgym.check_env(env)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "Q?", "choices": ["x", "y"], "answer": "D"}])
    with pytest.raises(LLMGymError, match="line 1: answer D but only 2 choices"):
        every_task(llmgym.make("dataset", path=str(bad)))


def test_code_rows_with_tests_run_in_the_sandbox_and_their_solution_passes(tmp_path):
    rows = [{"text": f"Write a function that adds {k} to a number.", "code": f"def add_{k}(x):\n    return x + {k}",
             "test_list": [f"assert add_{k}(1) == {1 + k}", f"assert add_{k}(-{k}) == 0"]} for k in range(12)]
    env = llmgym.make("dataset", path=str(write_jsonl(tmp_path / "mbpp.jsonl", rows)), question="text",
                      solution="code")
    assert env.answer_type == "code"
    task = next(t for t in every_task(env) if "adds 3 " in t.text)
    assert task.answer["entry_point"] == "add_3" and "named `add_3`" in task.text
    assert env.rubric.score(env.reference(task), task).value == 1.0
    assert env.rubric.score("```python\ndef add_3(x):\n    return x\n```", task).value < 1.0
    llmgym.check_env(env)


# -- paths, hub, version -----------------------------------------------------------------------
def test_a_path_holding_comma_colon_and_equals_works_as_a_keyword(tmp_path):
    path = write_jsonl(tmp_path / "a,b:c=1.jsonl", qa_rows(20))
    assert len(every_task(llmgym.make("dataset", path=str(path)))) == 20


def _quotes_supported() -> bool:
    try:
        return parse_name_options("x:path='a,b:c=1'") == ("x", {"path": "a,b:c=1"})
    except LLMGymError:
        return False


_QUOTES_SUPPORTED = _quotes_supported()


@pytest.mark.xfail(not _QUOTES_SUPPORTED, strict=True,
                   reason="parse_name_options does not read quoted option values yet")
def test_a_quoted_path_with_comma_colon_and_equals_works_on_the_command_line(tmp_path, capsys):
    path = write_jsonl(tmp_path / "a,b:c=1.jsonl", qa_rows(20))
    assert main(["info", f"dataset:path='{path}'"]) == 0
    assert "What is" in capsys.readouterr().out


def test_a_missing_local_path_is_one_line_and_never_asks_the_hub(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("the hub was asked"))

    def no_network(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with pytest.raises(LLMGymError) as err:
        llmgym.make("dataset", path="someone/gsm8k")
    assert str(err.value) == ("dataset: no file or folder 'someone/gsm8k' (path='someone/gsm8k'); to load a "
                              "dataset from the Hugging Face hub, name it with hub='someone/gsm8k'")
    with pytest.raises(LLMGymError, match="name a file with path=FILE"):
        llmgym.make("dataset")


def test_a_hub_dataset_is_loaded_only_when_named_with_hub(monkeypatch):
    import datasets

    asked = []

    def load_dataset(name, subset=None, split=None):
        asked.append((name, subset, split))
        return datasets.Dataset.from_list(qa_rows(20) if split == "train" else qa_rows(25)[20:])

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    env = llmgym.make("dataset", hub="someone/arith", subset="main", eval_data_split="test")
    assert asked == [("someone/arith", "main", "train"), ("someone/arith", "main", "test")]
    assert len(list(env.tasks("train"))) == 20 and len(list(env.tasks("eval"))) == 5


def test_a_saved_dataset_dict_gives_its_train_split_and_can_give_its_test_split_as_eval(tmp_path):
    import datasets

    folder = tmp_path / "dd"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(qa_rows(30)),
                          "test": datasets.Dataset.from_list(qa_rows(36)[30:])}).save_to_disk(str(folder))
    env = llmgym.make("dataset", path=str(folder), eval_data_split="test")
    assert len(list(env.tasks("train"))) == 30 and len(list(env.tasks("eval"))) == 6
    assert len(every_task(llmgym.make("dataset", path=str(folder), data_split="test"))) == 6


@pytest.mark.parametrize("module", ["llmgym.envs.dataset_rows", "llmgym.rewards.choice"])
def test_doctests_of_the_dataset_modules_pass(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_version_follows_the_file_content_and_the_column_mapping(tmp_path):
    path = write_jsonl(tmp_path / "qa.jsonl", qa_rows())
    version = llmgym.make("dataset", path=str(path)).version
    assert llmgym.make("dataset", path=str(path)).version == version
    assert llmgym.make("dataset", path=str(path), solution=False).version.split("-")[0] == version.split("-")[0]
    assert llmgym.make("dataset", path=str(path), solution=False).version != version
    write_jsonl(path, qa_rows(41))
    assert llmgym.make("dataset", path=str(path)).version.split("-")[0] != version.split("-")[0]


# -- training and bench --------------------------------------------------------------------------
@pytest.mark.parametrize("algo", ["grpo", "sft"])
def test_one_training_step_on_a_users_file(tmp_path, qa_file, algo):
    from llmgym.train.config import TrainConfig
    from llmgym.train.rundir import RunDir
    from llmgym.train.run import train

    out = tmp_path / algo
    train(TrainConfig(env=f"dataset:path={qa_file}", policy=TINY, algo=algo, steps=1, save_every=0, out=str(out),
                      eval_tasks=4, eval_every=0, max_completion_length=8, train_tasks=16, num_generations=2,
                      prompts_per_step=2, batch_size=4))
    assert [r["step"] for r in RunDir(out).rows() if "loss" in r or "reward" in r][-1] == 1


def test_sft_without_a_solution_column_says_so(tmp_path, qa_file):
    env = llmgym.make("dataset", path=str(qa_file), solution=False)
    from llmgym.train.data import reference_dataset

    with pytest.raises(LLMGymError, match="has no reference solutions"):
        reference_dataset(env, 8, 0)


class OraclePolicy:
    """Answers each question from the file it was written from, boxed; wrong on odd first operands."""

    name = "oracle"

    def __init__(self, rows):
        self.answers = {r["question"]: r["answer"] for r in rows}

    def generate(self, prompts, n=1, params=None):
        out = []
        for p in prompts:
            question = p[-1]["content"]
            answer = self.answers[question] + int(question.split()[2]) % 2
            out.append([Completion(f"\\boxed{{{answer}}}", completion_tokens=3)] * n)
        return out


def test_llmgym_bench_runs_on_a_users_file_at_every_level(tmp_path):
    rows = [{**r, "level": 1 + i % 2} for i, r in enumerate(qa_rows(60))]
    path = write_jsonl(tmp_path / "lv.jsonl", rows)
    gym = default_gym()
    gym.registry("policies").register("dsoracle", lambda: OraclePolicy(rows), source="tests")
    try:
        out = tmp_path / "bench"
        assert main(["bench", "--env", f"dataset:path={path}", "--policy", "dsoracle", "--tasks", "3",
                     "--levels", "all", "--out", str(out)]) == 0
    finally:
        gym.policies.unregister("dsoracle")
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {r["level"] for r in results} == {1, 2} and len(results) == 6
    even = [r for r in results if int(r["prompt"].split()[2]) % 2 == 0]
    assert all(r["correct"] == (r in even) for r in results)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"][0]["by_level"]) == {"1", "2"}
