"""Every misuse of the `llmgym` command is one line, `llmgym: error: ...` naming the bad value, with
exit status 2 and no traceback, and is refused before any work starts: no training, no model
loaded, no server bound, no file written.

The table runs in-process through `llmgym.cli.main` (argparse's errors arrive as SystemExit(2));
the functions that would start work are replaced by ones that fail the test if reached. A few
cases also run as a real process, for the exit status and the absence of a traceback end to end.
"""

from __future__ import annotations

import doctest
import importlib
import json
import re
import subprocess
import sys

import pytest

import llmgym
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.io import check_out_dir, check_out_file, parse_json, read_jsonl
from llmgym.registry import parse_name_options

DEEP = "[" * 100_000 + "]" * 100_000
BINARY = b"\xff\xfe\x00\x81garbage\x00\xc3\x28\n\x89PNG\r\n\x1a\n"


def rankings_row(**over):
    row = {"prompt": "Tell a joke.", "completions": ["a", "b", "c"], "ranking": [0, 1, 2], "ranker": "x",
           "time": "2026-01-01T00:00:00Z"}
    row.update(over)
    return json.dumps(row)


def results_row(drop=(), **over):
    row = {"v": 1, "env": "math", "level": 1, "family": None, "policy": "p", "task_id": "t1", "sample": 0,
           "prompt": "q", "gold": "1", "completion": "1", "answer": "1", "reward": 1.0,
           "components": {"correct": 1.0}, "reason": "", "correct": True, "format_ok": True, "tool_calls": None,
           "turns": 1, "truncated": False, "prompt_tokens": 1, "completion_tokens": 1, "seconds": 0.1,
           "wall_seconds": 0.1, "time": "t"}
    row.update(over)
    return json.dumps({k: v for k, v in row.items() if k not in drop})


RUN_CONFIG = "env: math\npolicy: tiny\nalgo: sft\nsteps: 1\n"
GOOD_METRICS = '{"step": 1, "reward": 0.5}\n{"step": 0, "eval/accuracy": 0.1}\n'

# Relative path -> content of every file the cases read.
FILES: dict[str, str | bytes] = {
    "a_file.txt": "x\n",
    "cfg/binary.yaml": BINARY, "cfg/invalid.yaml": "env: [unclosed\n", "cfg/list.yaml": "- a\n- b\n",
    "cfg/deep.yaml": "[" * 20000 + "]" * 20000 + "\n", "cfg/string.yaml": "just a string\n",
    "cfg/int_key.yaml": "1: 2\n", "cfg/env_mapping.yaml": "env: {a: 1}\n", "cfg/steps_list.yaml": "steps: [1, 2]\n",
    "cfg/steps_inf.yaml": "steps: .inf\n", "cfg/temperature_nan.yaml": "temperature: .nan\n",
    "cfg/guard_list.yaml": "guard: [1, 2]\n", "cfg/bad_date.yaml": "env: 2026-13-45\n",
    "resume_binary/config.yaml": BINARY, "resume_invalid/config.yaml": "env: [unclosed\n",
    "resume_list/config.yaml": "- a\n- b\n", "resume_deep/config.yaml": "[" * 20000 + "]" * 20000 + "\n",
    "resume_unknown/config.yaml": "stesp: 3\n",
    "resume_deep_rows/config.yaml": RUN_CONFIG, "resume_deep_rows/metrics.jsonl": DEEP + "\n",
    "resume_list_row/config.yaml": RUN_CONFIG, "resume_list_row/metrics.jsonl": "[1, 2]\n",
    "resume_text_step/config.yaml": RUN_CONFIG, "resume_text_step/metrics.jsonl": '{"step": 0}\n{"step": "1"}\n',
    "resume_binary_rows/config.yaml": RUN_CONFIG, "resume_binary_rows/metrics.jsonl": BINARY,
    "resume_summary_list/config.yaml": RUN_CONFIG, "resume_summary_list/summary.json": "[1]\n",
    "not_a_run/.keep": "",
    "report_deep/metrics.jsonl": DEEP + "\n", "report_deep_after_rows/metrics.jsonl": GOOD_METRICS + DEEP + "\n",
    "report_binary/metrics.jsonl": BINARY,
    "report_text_step/metrics.jsonl": '{"step": "x", "reward": 0.5}\n',
    "report_null_step/metrics.jsonl": '{"step": null, "eval/accuracy": 0.5}\n',
    "report_list_step/metrics.jsonl": '{"step": [1], "reward": 0.5}\n',
    "report_text_accuracy/metrics.jsonl": '{"step": 0, "eval/accuracy": "high"}\n',
    "report_summary_list/metrics.jsonl": GOOD_METRICS, "report_summary_list/summary.json": "[1, 2]\n",
    "report_summary_deep/metrics.jsonl": GOOD_METRICS, "report_summary_deep/summary.json": DEEP,
    "report_summary_before/metrics.jsonl": GOOD_METRICS,
    "report_summary_before/summary.json": '{"before": {"accuracy": "x"}, "after": {"accuracy": 0.5}}\n',
    "report_config_list/metrics.jsonl": GOOD_METRICS, "report_config_list/config.yaml": "- a\n",
    "report_config_deep/metrics.jsonl": GOOD_METRICS,
    "report_config_deep/config.yaml": "[" * 20000 + "]" * 20000 + "\n",
    "report_samples_list/metrics.jsonl": GOOD_METRICS,
    "report_samples_list/samples.jsonl": '{"step": 1, "components": [1, 2], "completion": "x"}\n',
    "report_samples_deep/metrics.jsonl": GOOD_METRICS, "report_samples_deep/samples.jsonl": DEEP + "\n",
    "report_guard_deep/metrics.jsonl": GOOD_METRICS, "report_guard_deep/guard.json": DEEP,
    "bench_no_env/results.jsonl": results_row(drop=["env"]) + "\n",
    "bench_no_reward/results.jsonl": results_row(drop=["reward"]) + "\n",
    "bench_no_sample/results.jsonl": results_row(drop=["sample"]) + "\n",
    "bench_text_reward/results.jsonl": results_row(reward="high") + "\n",
    "bench_text_sample/results.jsonl": results_row(sample="zero") + "\n",
    "bench_number_env/results.jsonl": results_row(env=5) + "\n",
    "bench_list_task_id/results.jsonl": results_row(task_id=[1]) + "\n",
    "bench_list_components/results.jsonl": results_row(components=[1, 2]) + "\n",
    "bench_text_tokens/results.jsonl": results_row(completion_tokens="many") + "\n",
    "bench_list_answer/results.jsonl": results_row(answer=[1, 2]) + "\n",
    "bench_list_level/results.jsonl": results_row(level=[1]) + "\n",
    "bench_number_prompt/results.jsonl": results_row(prompt=5) + "\n",
    "bench_list_row/results.jsonl": "[1, 2]\n",
    "bench_deep/results.jsonl": results_row() + "\n" + DEEP + "\n",
    "bench_binary/results.jsonl": BINARY,
    "bench_settings_list/bench.json": "[1]\n", "bench_settings_deep/bench.json": DEEP,
    "bench_settings_params/bench.json": '{"params": [1], "seed": "x"}\n',
    "bench_settings_params/results.jsonl": results_row() + "\n",
    "empty/.keep": "",
    "rk/binary.jsonl": BINARY, "rk/deep.jsonl": rankings_row() + "\n" + DEEP + "\n",
    "rk/twice.jsonl": rankings_row(ranking=[0, 0]) + "\n", "rk/task.jsonl": rankings_row(task=5) + "\n",
    "rk/list_row.jsonl": "[1, 2]\n",
    "rk/good.jsonl": rankings_row() + "\n" + rankings_row(completions=["x", "y", "z"]) + "\n",
    "label_dir/.keep": "",
    "queue_deep.jsonl.queue.jsonl": DEEP + "\n", "queue_binary.jsonl.queue.jsonl": BINARY,
    "queue_no_id.jsonl.queue.jsonl": '{"x": 1}\n',
}

D = "{d}"  # the fixture folder, filled in per case
FILE, UNDER_FILE, PROC = f"{D}/a_file.txt", f"{D}/a_file.txt/sub", "/proc/llmgym-misuse/out"
TRAIN, BENCH, REPORT = ["train"], ["bench", "--env", "math"], ["report"]
RM_TRAIN = ["rm", "train", "--data", f"{D}/rk/good.jsonl"]
SIMULATE = ["rm", "simulate", "--out", f"{D}/simulated.jsonl"]
CHECK = ["rm", "check", "--data"]
LABEL = ["label", "--policy", "simulated", "--port", "0", "--out", f"{D}/labels.jsonl"]

# (argv, text the one error line must hold: the bad value, or the file and line that hold it)
CASES = [
    # the command line itself
    ([], "COMMAND"),
    (["nosuch"], "'nosuch'"),
    (["--bogus"], "--bogus"),
    (["list", "bogus"], "'bogus'"),
    (["list", "--bogus"], "--bogus"),
    (["list", "envs", "extra"], "extra"),
    # info and the NAME:k=v option syntax
    (["info"], "env"),
    (["info", "mathh"], "'mathh'"),
    (["info", "math", "--level", "x"], "'x'"),
    (["info", "math", "--level", "99"], "99"),
    (["info", "math", "--seed", "x"], "'x'"),
    (["info", "math:level=1,level=2"], "option 'level' given twice"),
    (["info", "math:level=1", "--level", "2"], "--level 2"),
    (["info", "math:=3"], "'=3'"),
    (["info", "math:level"], "'level'"),
    (["info", "math:lvl=1"], "lvl"),
    (["info", "math:level=[1"], "[1"),
    (["info", "math:level='1"], "'1"),
    (["info", "math:level=1)"], "1)"),
    (["info", ""], "''"),
    (["info", ":level=1"], "''"),
    (["info", "math:family=nosuch"], "nosuch"),
    (["info", "math:level=1.5"], "1.5"),
    (["info", "math,level=1"], "math,level=1"),
    # train: a config file, a resumed run, the options
    (TRAIN + ["--config", f"{D}/cfg/binary.yaml"], "binary.yaml is not UTF-8"),
    (TRAIN + ["--config", f"{D}/cfg/invalid.yaml"], "invalid.yaml is not valid YAML"),
    (TRAIN + ["--config", f"{D}/cfg/list.yaml"], "list.yaml must hold a mapping"),
    (TRAIN + ["--config", f"{D}/cfg/deep.yaml"], "deep.yaml nests too deep"),
    (TRAIN + ["--config", f"{D}/cfg/string.yaml"], "string.yaml must hold a mapping"),
    (TRAIN + ["--config", f"{D}/cfg/missing.yaml"], "missing.yaml does not exist"),
    (TRAIN + ["--config", f"{D}/cfg"], "cfg is a folder"),
    (TRAIN + ["--config", f"{D}/cfg/int_key.yaml"], "got 1"),
    (TRAIN + ["--config", f"{D}/cfg/env_mapping.yaml"], "env: cannot read {'a': 1}"),
    (TRAIN + ["--config", f"{D}/cfg/steps_list.yaml"], "steps: cannot read [1, 2]"),
    (TRAIN + ["--config", f"{D}/cfg/steps_inf.yaml"], "inf"),
    (TRAIN + ["--config", f"{D}/cfg/temperature_nan.yaml"], "got nan"),
    (TRAIN + ["--config", f"{D}/cfg/guard_list.yaml"], "guard: cannot read [1, 2]"),
    (TRAIN + ["--config", f"{D}/cfg/bad_date.yaml"], "bad_date.yaml"),
    (TRAIN + ["--resume", f"{D}/resume_binary"], "resume_binary/config.yaml is not UTF-8"),
    (TRAIN + ["--resume", f"{D}/resume_invalid"], "resume_invalid/config.yaml is not valid YAML"),
    (TRAIN + ["--resume", f"{D}/resume_list"], "resume_list/config.yaml must hold a mapping"),
    (TRAIN + ["--resume", f"{D}/resume_deep"], "resume_deep/config.yaml nests too deep"),
    (TRAIN + ["--resume", f"{D}/resume_unknown"], "'stesp'"),
    (TRAIN + ["--resume", f"{D}/resume_deep_rows"], "resume_deep_rows/metrics.jsonl:1: JSON nested deeper"),
    (TRAIN + ["--resume", f"{D}/resume_list_row"], "resume_list_row/metrics.jsonl:1"),
    (TRAIN + ["--resume", f"{D}/resume_text_step"], "resume_text_step/metrics.jsonl:2: step must be a number"),
    (TRAIN + ["--resume", f"{D}/resume_binary_rows"], "resume_binary_rows/metrics.jsonl:1: not UTF-8"),
    (TRAIN + ["--resume", f"{D}/resume_summary_list"], "resume_summary_list/summary.json must hold"),
    (TRAIN + ["--resume", f"{D}/not_a_run"], "not_a_run is not a run directory"),
    (TRAIN + ["--resume", f"{D}/no_such_run"], "no_such_run is not a run directory"),
    (TRAIN + ["--resume", FILE], "a_file.txt is not a run directory"),
    (TRAIN + ["--resume", f"{D}/resume_unknown", "--config", f"{D}/cfg/list.yaml"], "drop --config"),
    (TRAIN + ["--out", FILE, "--policy", "tiny"], "a_file.txt: is a file"),
    (TRAIN + ["--out", UNDER_FILE, "--policy", "tiny"], "a_file.txt/sub"),
    (TRAIN + ["--out", PROC, "--policy", "tiny"], PROC),
    (TRAIN + ["--env", "math", "--env", "counting:rubric=formt"], "unknown reward 'formt'; did you mean: format"),
    (TRAIN + ["--steps", "0"], "steps must be a positive integer, got 0"),
    (TRAIN + ["--steps", "x"], "'x'"),
    (TRAIN + ["--steps"], "--steps"),
    (TRAIN + ["--algo", "ppo"], "'ppo'"),
    (TRAIN + ["--learning-rate", "-1"], "got -1"),
    (TRAIN + ["--temperature", "0"], "got 0"),
    (TRAIN + ["--temperature", "nan"], "got nan"),
    (TRAIN + ["--num-generations", "1"], "got 1"),
    (TRAIN + ["--guard", "bogus"], "bogus"),
    (TRAIN + ["--lora-r", "0"], "lora_r must be a positive integer, got 0"),
    (TRAIN + ["--lora-alpha", "0"], "lora_alpha must be a positive integer, got 0"),
    (TRAIN + ["--eval-tasks", "-1"], "got -1"),
    (TRAIN + ["--eval-max-tokens", "0"], "eval_max_tokens must be a positive integer, got 0"),
    (TRAIN + ["--beta", "-1"], "beta must be a finite number >= 0, got -1"),
    (TRAIN + ["--bogus-flag"], "--bogus-flag"),
    (TRAIN + ["--env", "nosuchenv", "--policy", "tiny"], "'nosuchenv'"),
    (TRAIN + ["--env", "math:level=1,level=2"], "option 'level' given twice"),
    (TRAIN + ["--policy", "nosuchpolicy"], "'nosuchpolicy'"),
    # bench: options, --out, and the rows of a bench it would resume
    (["bench"], "--env"),
    (BENCH + ["--tasks", "0"], "--tasks must be >= 1, got 0"),
    (BENCH + ["--tasks", "x"], "'x'"),
    (BENCH + ["--samples", "-1"], "--samples must be >= 1, got -1"),
    (BENCH + ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (BENCH + ["--temperature", "-1"], "--temperature -1"),
    (BENCH + ["--temperature", "nan"], "got nan"),
    (BENCH + ["--top-p", "2"], "--top-p 2"),
    (BENCH + ["--max-tokens", "0"], "--max-tokens 0"),
    (BENCH + ["--levels", "x"], "'x'"),
    (BENCH + ["--levels", "99"], "[99]"),
    (BENCH + ["--policy", "nosuchpolicy"], "'nosuchpolicy'"),
    (BENCH + ["--policy", "./no/such/run"], "no/such/run"),
    (["bench", "--env", "nosuchenv"], "'nosuchenv'"),
    (["bench", "--env", "math:level=1,level=2"], "option 'level' given twice"),
    (BENCH + ["--out", FILE], "a_file.txt: is a file"),
    (BENCH + ["--out", UNDER_FILE], "a_file.txt/sub"),
    (BENCH + ["--out", PROC], PROC),
    (BENCH + ["--out", f"{D}/bench_no_env"], "bench_no_env/results.jsonl:1: results row lacks env"),
    (BENCH + ["--out", f"{D}/bench_no_reward"], "bench_no_reward/results.jsonl:1: results row lacks reward"),
    (BENCH + ["--out", f"{D}/bench_no_sample"], "bench_no_sample/results.jsonl:1: results row lacks sample"),
    (BENCH + ["--out", f"{D}/bench_text_reward"], "bench_text_reward/results.jsonl:1: reward must be"),
    (BENCH + ["--out", f"{D}/bench_text_sample"], "bench_text_sample/results.jsonl:1: sample must be int"),
    (BENCH + ["--out", f"{D}/bench_number_env"], "bench_number_env/results.jsonl:1: env must be str"),
    (BENCH + ["--out", f"{D}/bench_list_task_id"], "bench_list_task_id/results.jsonl:1: task_id must be str"),
    (BENCH + ["--out", f"{D}/bench_deep"], "bench_deep/results.jsonl:2: JSON nested deeper"),
    (BENCH + ["--out", f"{D}/bench_settings_list"], "bench_settings_list/bench.json must hold"),
    (BENCH + ["--out", f"{D}/bench_settings_deep"], "bench_settings_deep/bench.json: JSON nested deeper"),
    # report: a run directory's or a bench's files
    (REPORT, "DIR"),
    (REPORT + [f"{D}/nonexistent"], "nonexistent is not a directory"),
    (REPORT + [FILE], "a_file.txt is not a directory"),
    (REPORT + [f"{D}/empty"], "empty holds neither"),
    (REPORT + [f"{D}/report_deep"], "report_deep/metrics.jsonl:1: JSON nested deeper"),
    (REPORT + [f"{D}/report_deep_after_rows"], "report_deep_after_rows/metrics.jsonl:3: JSON nested deeper"),
    (REPORT + [f"{D}/report_binary"], "report_binary is not a training run"),
    (REPORT + [f"{D}/report_text_step"], "report_text_step/metrics.jsonl:1: step must be a number"),
    (REPORT + [f"{D}/report_null_step"], "report_null_step/metrics.jsonl:1: step must be a number"),
    (REPORT + [f"{D}/report_list_step"], "report_list_step/metrics.jsonl:1: step must be a number"),
    (REPORT + [f"{D}/report_text_accuracy"], "report_text_accuracy/metrics.jsonl:1: eval/accuracy must be"),
    (REPORT + [f"{D}/report_summary_list"], "report_summary_list/summary.json must hold a JSON object"),
    (REPORT + [f"{D}/report_summary_deep"], "report_summary_deep/summary.json: JSON nested deeper"),
    (REPORT + [f"{D}/report_summary_before"], "report_summary_before/summary.json: before must map"),
    (REPORT + [f"{D}/report_config_list"], "report_config_list/config.yaml must hold a mapping"),
    (REPORT + [f"{D}/report_config_deep"], "report_config_deep/config.yaml nests too deep"),
    (REPORT + [f"{D}/report_samples_list"], "report_samples_list/samples.jsonl:1: components must map"),
    (REPORT + [f"{D}/report_samples_deep"], "report_samples_deep/samples.jsonl:1: JSON nested deeper"),
    (REPORT + [f"{D}/report_guard_deep"], "report_guard_deep/guard.json: JSON nested deeper"),
    (REPORT + [f"{D}/bench_no_reward"], "bench_no_reward/results.jsonl:1: results row lacks reward"),
    (REPORT + [f"{D}/bench_text_reward"], "bench_text_reward/results.jsonl:1: reward must be"),
    (REPORT + [f"{D}/bench_list_components"], "bench_list_components/results.jsonl:1: components must be"),
    (REPORT + [f"{D}/bench_text_tokens"], "bench_text_tokens/results.jsonl:1: completion_tokens must be"),
    (REPORT + [f"{D}/bench_list_answer"], "bench_list_answer/results.jsonl:1: answer must be"),
    (REPORT + [f"{D}/bench_list_level"], "bench_list_level/results.jsonl:1: level must be"),
    (REPORT + [f"{D}/bench_number_prompt"], "bench_number_prompt/results.jsonl:1: prompt must be"),
    (REPORT + [f"{D}/bench_list_row"], "bench_list_row/results.jsonl:1: a results row must be a JSON object"),
    (REPORT + [f"{D}/bench_deep"], "bench_deep/results.jsonl:2: JSON nested deeper"),
    (REPORT + [f"{D}/bench_binary"], "bench_binary/results.jsonl holds no finished episode"),
    (REPORT + [f"{D}/bench_settings_params"], "bench_settings_params/bench.json must hold"),
    # rm train, rm simulate, rm check
    (["rm"], "ACTION"),
    (["rm", "bogus"], "'bogus'"),
    (["rm", "check", "--data", f"{D}/rk/good.jsonl", "--bogus"], "--bogus"),
    (["rm", "train"], "--data"),
    (["rm", "train", "--data", f"{D}/rk/missing.jsonl"], "missing.jsonl does not exist"),
    (["rm", "train", "--data", f"{D}/rk/binary.jsonl"], "binary.jsonl:1: not UTF-8"),
    (["rm", "train", "--data", f"{D}/rk/deep.jsonl"], "deep.jsonl:2: JSON nested deeper"),
    (["rm", "train", "--data", f"{D}/rk"], "rk is a folder"),
    (["rm", "train", "--data", f"{D}/rk/twice.jsonl"], "twice.jsonl:1: ranking lists index 0 twice"),
    (["rm", "train", "--data", f"{D}/rk/task.jsonl"], "task.jsonl:1: task must be an llmgym Task"),
    (["rm", "train", "--data", f"{D}/rk/list_row.jsonl"], "list_row.jsonl:1: a rankings record must be"),
    (RM_TRAIN + ["--out", FILE], "a_file.txt: is a file"),
    (RM_TRAIN + ["--out", UNDER_FILE], "a_file.txt/sub"),
    (RM_TRAIN + ["--out", PROC], PROC),
    (RM_TRAIN + ["--max-length", "0"], "--max-length must be a positive integer, got 0"),
    (RM_TRAIN + ["--max-length", "-5"], "got -5"),
    (RM_TRAIN + ["--lr", "-1"], "--lr must be a finite number > 0, got -1"),
    (RM_TRAIN + ["--lr", "0"], "got 0"),
    (RM_TRAIN + ["--lr", "nan"], "got nan"),
    (RM_TRAIN + ["--steps", "0"], "--steps must be a positive integer, got 0"),
    (RM_TRAIN + ["--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (RM_TRAIN + ["--eval-fraction", "1"], "got 1"),
    (RM_TRAIN + ["--eval-fraction", "x"], "'x'"),
    (RM_TRAIN + ["--base", "nosuchbase"], "'nosuchbase'"),
    (["rm", "simulate"], "--out"),
    (SIMULATE + ["--prompts", "0"], "--prompts must be a positive integer, got 0"),
    (SIMULATE + ["--prompts", "-3"], "got -3"),
    (SIMULATE + ["--prompts", "x"], "'x'"),
    (SIMULATE + ["--noise", "-1"], "--noise must be a finite number >= 0 (0: the exact gold labeler), got -1"),
    (SIMULATE + ["--noise", "nan"], "got nan"),
    (SIMULATE + ["--k", "1"], "--k must be at least 2"),
    (SIMULATE + ["--k", "0"], "got 0"),
    (SIMULATE + ["--env", "nosuchenv"], "'nosuchenv'"),
    (SIMULATE + ["--env", "rlhf:level=1,level=2"], "option 'level' given twice"),
    (SIMULATE + ["--env", "math"], "--env math"),
    (SIMULATE + ["--policy", "nosuchpolicy"], "'nosuchpolicy'"),
    (["rm", "simulate", "--out", f"{D}/label_dir"], "label_dir: is a folder"),
    (["rm", "simulate", "--out", UNDER_FILE], "a_file.txt/sub"),
    (["rm", "simulate", "--out", PROC], PROC),
    (["rm", "simulate", "--out", f"{D}/rk/binary.jsonl"], "binary.jsonl holds no rankings record"),
    (["rm", "check"], "--data"),
    (CHECK + [f"{D}/rk/binary.jsonl"], "binary.jsonl:1: not UTF-8"),
    (CHECK + [f"{D}/rk/deep.jsonl"], "deep.jsonl:2: JSON nested deeper"),
    (CHECK + [f"{D}/rk/missing.jsonl"], "missing.jsonl does not exist"),
    (CHECK + [f"{D}/rk"], "rk is a folder"),
    (CHECK + [f"{D}/rk/task.jsonl"], "task.jsonl:1: task must be"),
    (CHECK + [f"{D}/rk/list_row.jsonl"], "list_row.jsonl:1: a rankings record must be"),
    # label: refused before the queue is drawn or the server binds
    (["label"], "--out"),
    (LABEL + ["--port", "-1"], "--port must be in 0..65535 (0: any free port), got -1"),
    (LABEL + ["--port", "99999"], "got 99999"),
    (LABEL + ["--port", "x"], "'x'"),
    (LABEL + ["--max-tokens", "0"], "--max-tokens 0"),
    (LABEL + ["--max-tokens", "-2"], "--max-tokens -2"),
    (LABEL + ["--prompts", "0"], "--prompts must be positive, got 0"),
    (LABEL + ["--k", "1"], "--k must be at least 2"),
    (LABEL + ["--temperature", "-1"], "--temperature -1"),
    (LABEL + ["--seed", "x"], "'x'"),
    (LABEL + ["--env", "nosuchenv"], "'nosuchenv'"),
    (LABEL + ["--policy", "nosuchpolicy"], "'nosuchpolicy'"),
    (LABEL + ["--out", f"{D}/label_dir"], "label_dir: is a folder"),
    (LABEL + ["--out", UNDER_FILE], "a_file.txt/sub"),
    (LABEL + ["--out", PROC], PROC),
    (LABEL + ["--out", f"{D}/rk/binary.jsonl"], "binary.jsonl holds no rankings record"),
    (LABEL + ["--out", f"{D}/rk/deep.jsonl"], "deep.jsonl:2: JSON nested deeper"),
    (LABEL + ["--out", f"{D}/queue_deep.jsonl"], "queue_deep.jsonl.queue.jsonl:1: JSON nested deeper"),
    (LABEL + ["--out", f"{D}/queue_binary.jsonl"], "queue_binary.jsonl.queue.jsonl:1: not UTF-8"),
    (LABEL + ["--out", f"{D}/queue_no_id.jsonl"], "queue_no_id.jsonl.queue.jsonl:1: a queue item must be"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("misuse")
    for rel, content in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.fixture
def no_work(monkeypatch):
    """Whatever would start work fails the test: a misuse must be refused before it."""
    def refuse(what):
        def started(*args, **kwargs):
            raise AssertionError(f"a misuse reached {what}")
        return started

    monkeypatch.setattr("llmgym.train.run.train", refuse("training"))
    monkeypatch.setattr("llmgym.rlhf.reward_model.train_reward_model", refuse("reward-model training"))
    monkeypatch.setattr("llmgym.report.bench.run_bench", refuse("the bench's episodes"))
    monkeypatch.setattr("llmgym.rlhf.label_server.make_server", refuse("the label server"))


def run_main(argv):
    """`main(argv)`'s exit status; argparse's errors arrive as SystemExit."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("argv, message", CASES, ids=lambda v: " ".join(v)[:70] if isinstance(v, list) else None)
def test_misuse_is_one_line_naming_the_bad_value_and_exit_2(files, no_work, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(files)  # a default --out (runs/, rm/) would land in the fixture folder
    before = sorted(p.relative_to(files) for p in files.rglob("*"))
    argv = [a.replace(D, str(files)) for a in argv]
    message = message.replace(D, str(files))
    status = run_main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, err
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("llmgym: error: "), err
    assert message in lines[0], lines[0]
    # Refused before any work: no file written or removed (no queue drawn, no bench.json, no --out made).
    assert sorted(p.relative_to(files) for p in files.rglob("*")) == before


@pytest.mark.parametrize("argv, message", [
    (["train", "--env", "math@0", "--env", "counting"], "the weight of 'math' in a mixture must be a finite number > 0"),
    (["report", "{d}/report_deep"], "report_deep/metrics.jsonl:1: JSON nested deeper than 100 levels"),
    (["rm", "simulate", "--out", "{d}/s.jsonl", "--noise", "-1"], "--noise must be a finite number >= 0"),
    (["info", "math:level=1,level=2"], "option 'level' given twice"),
])
def test_the_installed_command_exits_2_with_one_line_and_no_traceback(files, argv, message):
    proc = subprocess.run([sys.executable, "-m", "llmgym.cli", *[a.replace(D, str(files)) for a in argv]],
                          capture_output=True, text=True, timeout=120, cwd=files)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("llmgym: error: ") and message in line


def test_argparse_errors_name_the_subcommand_and_point_to_its_help(capsys):
    assert run_main(["rm", "train", "--data", "r.jsonl", "--steps", "x"]) == 2
    assert capsys.readouterr().err == ("llmgym: error: rm train: argument --steps: invalid int value: 'x' "
                                       "(see llmgym rm train --help)\n")


def test_bench_with_fewer_eval_tasks_than_asked_warns_in_one_line_and_runs_them(tmp_path, capsys, monkeypatch):
    ran = {}

    def fake_run_bench(envs, policies, out, **kwargs):
        ran["tasks"] = [len(c.tasks) for c in envs]
        raise LLMGymError("stopped by the test")

    monkeypatch.setattr("llmgym.report.bench.run_bench", fake_run_bench)
    held_out = len(list(llmgym.make("math", level=1).tasks("eval")))  # one-digit addition: a finite set
    assert main(["bench", "--env", "math:level=1", "--tasks", "100", "--out", str(tmp_path / "b")]) == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("llmgym: warning:")]
    assert warnings == [f"llmgym: warning: env 'math' level 1 has {held_out} eval tasks; running those {held_out}, "
                        "not --tasks 100"]
    assert ran["tasks"] == [held_out] and held_out < 100


# -- the NAME:k=v syntax ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("dataset:path='my,file:x=1.jsonl'", ("dataset", {"path": "my,file:x=1.jsonl"})),
    ('dataset:path="a,b",split=eval', ("dataset", {"path": "a,b", "split": "eval"})),
    ("judge:prompt=\"don't, say 'x=1'\"", ("judge", {"prompt": "don't, say 'x=1'"})),
    ("counting:level=2,tools=['python', 'search']", ("counting", {"level": 2, "tools": ["python", "search"]})),
    ("openai:base_url=http://127.0.0.1:8000/v1,model=m", ("openai", {"base_url": "http://127.0.0.1:8000/v1",
                                                                    "model": "m"})),
    ("math", ("math", {})),
])
def test_quoted_values_keep_their_commas_colons_and_equals(text, expected):
    assert parse_name_options(text) == expected


@pytest.mark.parametrize("text, message", [
    ("math:level=1,level=2", "option 'level' given twice in 'math:level=1,level=2'"),
    ("dataset:path='a,b", "unclosed quote '"),
    ("dataset:tools=['a'", "unclosed bracket"),
    ("dataset:x=a)", "unmatched ')'"),
])
def test_duplicate_keys_and_unbalanced_quotes_are_errors(text, message):
    with pytest.raises(LLMGymError, match=re.escape(message)):
        parse_name_options(text)


# -- reading and writing files -------------------------------------------------------------------
def test_read_jsonl_names_file_and_line_of_a_deep_or_binary_row_and_still_skips_a_torn_end(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n' + DEEP + "\n")
    with pytest.raises(LLMGymError, match=r"r.jsonl:2: JSON nested deeper than 100 levels"):
        list(read_jsonl(path))
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    with pytest.raises(LLMGymError, match=r"r.jsonl:2: not UTF-8 text \(byte 0xff at offset 0\)"):
        list(read_jsonl(path))
    path.write_bytes(b'{"a": 1}\n{"a": \xc3')  # a kill mid-write, inside a UTF-8 character
    assert list(read_jsonl(path)) == [{"a": 1}]


def test_parse_json_refuses_depth_iteratively_even_below_jsons_own_limit():
    shallow = "[" * 100 + "]" * 100
    assert parse_json(shallow, "x")  # exactly the limit
    with pytest.raises(LLMGymError, match="x:3: JSON nested deeper than 100 levels"):
        parse_json("[" * 101 + "]" * 101, "x:3")
    with pytest.raises(ValueError):
        parse_json(b"\xff\xfe{}", "x")  # bytes are UTF-8 only, never sniffed as UTF-16


def test_out_checks_accept_new_and_existing_places_and_refuse_what_cannot_be_written(tmp_path):
    (tmp_path / "f").write_text("x")
    assert check_out_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_out_dir(tmp_path) == tmp_path
    assert check_out_file(tmp_path / "new" / "r.jsonl") == tmp_path / "new" / "r.jsonl"
    assert check_out_file(tmp_path / "f") == tmp_path / "f"  # appended to
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    for check, path, message in [(check_out_dir, tmp_path / "f", "is a file"),
                                 (check_out_dir, tmp_path / "f" / "sub", "is a file, so nothing can be made"),
                                 (check_out_file, tmp_path, "is a folder"),
                                 (check_out_file, tmp_path / "f" / "r.jsonl", "is a file, so nothing"),
                                 (check_out_dir, "/proc/llmgym-misuse/x", "cannot write in /proc")]:
        with pytest.raises(LLMGymError, match=message):
            check(path)


@pytest.mark.parametrize("module", ["llmgym.registry", "llmgym.io", "llmgym.train.config"])
def test_doctests_of_the_option_and_file_modules_pass(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


# -- curriculum and dynamic sampling (llmgym.train.curriculum, llmgym.train.sampling) ----------------
@pytest.mark.parametrize("argv, message", [
    (TRAIN + ["--curriculum", "sometimes"], "curriculum must be one of off, adaptive"),
    (TRAIN + ["--curriculum", "adaptive:hi=0.9"], "unknown curriculum option 'hi' (did you mean: high?)"),
    (TRAIN + ["--curriculum", "adaptive:low=0.9,high=0.2"], "curriculum low (0.9) must not be above high (0.2)"),
    (TRAIN + ["--curriculum", "adaptive:floor=x"], "curriculum floor: cannot read 'x' as a number"),
    (TRAIN + ["--curriculum", "adaptive:levels=a-b"], "curriculum levels must be A-B"),
    (TRAIN + ["--curriculum", "adaptive", "--algo", "sft"], "--curriculum applies to the algorithms that sample"),
    (TRAIN + ["--dynamic-sampling", "sometimes"], "dynamic_sampling must be one of off, drop, fill"),
    (TRAIN + ["--dynamic-sampling", "fill:trys=2"], "unknown dynamic_sampling option 'trys'"),
    (TRAIN + ["--dynamic-sampling", "fill:tries=0"], "dynamic_sampling tries must be an integer >= 1"),
    (TRAIN + ["--dynamic-sampling", "drop", "--algo", "bon"], "--dynamic-sampling applies to the algorithms"),
    (TRAIN + ["--env", "counting:tools=python", "--curriculum", "adaptive"], "a tool env trains without --curriculum"),
])
def test_curriculum_and_dynamic_sampling_misuse_is_one_line_and_exit_2(files, no_work, capsys, monkeypatch, argv,
                                                                       message):
    test_misuse_is_one_line_naming_the_bad_value_and_exit_2(files, no_work, capsys, monkeypatch, argv, message)
