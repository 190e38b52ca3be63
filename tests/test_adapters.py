"""The engine adapters, each called as its engine calls it: verl's reward managers (verl needs GPUs to
install, so its documented call signature and parquet columns), OpenRLHF's data and reward protocol,
a real TRL GRPOTrainer step, and verifiers' own evaluation against a real OpenAI-compatible server."""

from __future__ import annotations

import importlib
import json

import pytest
from serve_process import TOKEN, ServeProcess

import llmgym
from llmgym.adapters import verl
from llmgym.adapters.export import export
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.types import Task


@pytest.fixture(scope="module")
def math_server():
    s = ServeProcess("--env", "math", "--env", "code")
    yield s
    s.kill()


def read_parquet(path):
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_llmgym_export_verl_writes_the_columns_verl_reads(tmp_path):
    out = tmp_path / "math"
    assert main(["export", "--env", "math:level=2", "--format", "verl", "--out", str(out), "--train", "6",
                 "--eval", "3"]) == 0
    train, test = read_parquet(out / "train.parquet"), read_parquet(out / "test.parquet")
    assert (len(train), len(test)) == (6, 3)
    row = train[0]
    assert set(row) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
    assert row["data_source"] == "llmgym/math:level=2" and row["reward_model"]["style"] == "rule"
    task = Task.from_dict(json.loads(row["extra_info"]["llmgym_task"]))
    system = llmgym.make("math:level=2").system_prompt  # the env's worked example travels with its prompts
    assert system and row["prompt"] == task.messages(system) and row["prompt"][0]["role"] == "system"
    assert row["reward_model"]["ground_truth"] == str(task.answer)
    assert {r["extra_info"]["task_id"] for r in train}.isdisjoint(r["extra_info"]["task_id"] for r in test)


def verl_rows(tmp_path, spec="math", n=4):
    out = tmp_path / "verl"
    export(llmgym.make(spec), spec, spec, "verl", out, n_train=n, n_eval=0, seed=0)
    return read_parquet(out / "train.parquet")


def call_as_naive_manager(fn, row, response, **reward_kwargs):
    """What verl's NaiveRewardManager does per response, with `custom_reward_function.reward_kwargs`
    merged in by verl's `_call_with_kwargs`."""
    extra_info = dict(row["extra_info"], num_turns=None, rollout_reward_scores={})
    return fn(data_source=row["data_source"], solution_str=response, ground_truth=row["reward_model"]["ground_truth"],
              extra_info=extra_info, **reward_kwargs)


def test_verl_compute_score_loads_from_its_pkg_path_and_scores_every_component(tmp_path):
    # custom_reward_function {path: pkg://llmgym.adapters.verl, name: compute_score}: verl's load_module
    # imports the path after `pkg://` (slashes as dots) and takes the name from it.
    path = "pkg://llmgym.adapters.verl"
    fn = getattr(importlib.import_module(path.removeprefix("pkg://").replace("/", ".")), "compute_score")
    rows = verl_rows(tmp_path)
    right = call_as_naive_manager(fn, rows[0], f"... \\boxed{{{rows[0]['reward_model']['ground_truth']}}}")
    wrong = call_as_naive_manager(fn, rows[1], "I give up")
    assert right == {"score": pytest.approx(1.1), "correct": 1.0, "format": 1.0, "length": 1.0}
    assert wrong["score"] == 0.0 and wrong["correct"] == 0.0
    assert call_as_naive_manager(fn, rows[0], "\\boxed{0}", components=False).keys() == {"score"}


def test_verl_batch_manager_and_rows_prepared_without_llmgym(tmp_path):
    import numpy as np

    rows = verl_rows(tmp_path)
    responses = [f"\\boxed{{{r['reward_model']['ground_truth']}}}" if i % 2 else "no" for i, r in enumerate(rows)]
    # verl's BatchRewardManager passes numpy arrays of the non-tensor columns.
    scores = verl.compute_score_batch(data_sources=np.array([r["data_source"] for r in rows], dtype=object),
                                      solution_strs=responses,
                                      ground_truths=[r["reward_model"]["ground_truth"] for r in rows],
                                      extra_infos=np.array([r["extra_info"] for r in rows], dtype=object))
    assert [s["correct"] for s in scores] == [0.0, 1.0, 0.0, 1.0]
    # A gsm8k-style row (no llmgym task): the env comes from reward_kwargs, the gold from ground_truth.
    gsm8k = {"data_source": "openai/gsm8k", "reward_model": {"ground_truth": "72"}, "extra_info": {"question": "..."}}
    assert call_as_naive_manager(verl.compute_score, gsm8k, "#### 72", env="math")["correct"] == 1.0
    with pytest.raises(LLMGymError, match="data_source 'openai/gsm8k' names no llmgym env.*reward_kwargs.env"):
        call_as_naive_manager(verl.compute_score, gsm8k, "#### 72")


def test_verl_compute_score_through_the_server_matches_in_process(tmp_path, math_server, monkeypatch):
    monkeypatch.setenv("LLMGYM_SERVE_TOKEN", TOKEN)
    rows = verl_rows(tmp_path, "code", n=2)
    responses = [json.loads(rows[0]["extra_info"]["llmgym_task"])["meta"]["solution"], "no code"]
    local = [call_as_naive_manager(verl.compute_score, r, text) for r, text in zip(rows, responses)]
    served = [call_as_naive_manager(verl.compute_score, r, text, server_url=[math_server.url])
              for r, text in zip(rows, responses)]
    assert served == local and local[0]["score"] == 1.0 and local[1]["score"] == 0.0


def test_a_serve_client_closes_its_connections_when_collected_or_closed(math_server):
    import gc

    from llmgym.serve.client import ServeClient

    task = next(iter(llmgym.make("math").tasks("train", n=1, seed=0)))
    client = ServeClient(math_server.url, token=TOKEN)
    assert client.score("math", [f"\\boxed{{{task.answer}}}"], [task])[0]["reward"] >= 1.0
    http = client.http
    del client
    gc.collect()
    assert http.is_closed
    client = ServeClient(math_server.url, token=TOKEN)
    client.score("math", ["no answer"], [task])
    client.close()
    client.close()
    assert client.http.is_closed


def test_openrlhf_prompt_data_scores_through_get_reward(tmp_path, math_server):
    import httpx

    assert main(["export", "--env", "math", "--format", "openrlhf", "--out", str(tmp_path / "o"), "--train", "4",
                 "--eval", "0"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "o" / "train.jsonl").read_text().splitlines()]
    # OpenRLHF's PromptDataset: apply_chat_template(data[input_key]); label = data[label_key].
    prompts = ["".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in r["input"])
               + "<|im_start|>assistant\n" for r in rows]
    golds = [json.loads(r["label"])["task"]["answer"] for r in rows]
    responses = [f"\\boxed{{{g}}}" if i < 2 else "\\boxed{nope}" for i, g in enumerate(golds)]
    payload = {"query": [p + r + "<|im_end|>" for p, r in zip(prompts, responses)], "prompts": prompts,
               "labels": [r["label"] for r in rows]}
    answer = httpx.post(math_server.url + "/get_reward", json=payload, headers=math_server.headers, timeout=60).json()
    assert answer["rewards"] == pytest.approx([1.1, 1.1, 0.1, 0.1])
    assert answer["extra_logs"]["correct"] == [1.0, 1.0, 0.0, 0.0]


def test_trl_grpo_trainer_trains_a_step_on_rewards_scored_by_the_server(tmp_path, math_server, monkeypatch):
    from trl import GRPOConfig, GRPOTrainer

    from llmgym.policies.tiny import build_model, build_tokenizer

    monkeypatch.setenv("LLMGYM_SERVE_TOKEN", TOKEN)
    env = llmgym.make("math")
    funcs, weights = llmgym.reward_functions(env, server_url=math_server.url)
    local_funcs, local_weights = llmgym.reward_functions("math")
    seen = []

    def spying(fn):
        def wrapper(prompts, completions, **kwargs):
            out = fn(prompts, completions, **kwargs)
            seen.append((fn.__name__, list(completions), list(kwargs["task"]), out))
            return out

        wrapper.__name__ = fn.__name__
        return wrapper

    tokenizer = build_tokenizer()
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, max_steps=1, per_device_train_batch_size=4,
                      num_generations=4, max_completion_length=8, reward_weights=weights, report_to=[],
                      logging_steps=1, save_strategy="no")
    trainer = GRPOTrainer(model=build_model(tokenizer, hidden=32, layers=1, heads=2), processing_class=tokenizer,
                          reward_funcs=[spying(f) for f in funcs], train_dataset=llmgym.prompt_dataset(env, n=4),
                          args=args)
    trainer.train()
    logged = trainer.state.log_history[0]
    assert {"rewards/correct/mean", "rewards/format/mean", "rewards/length/mean"} <= set(logged)
    assert weights == local_weights == [1.0, 0.1, 0.0] and len(seen) == 3
    for (name, completions, task_column, out), local in zip(seen, local_funcs):
        assert out == local(prompts=[None] * len(completions), completions=completions, task=task_column)


def test_trl_environment_factory_for_a_tool_env_and_a_clear_error_without_tools():
    from transformers.utils import get_json_schema

    slot = llmgym.environment_factory(llmgym.make("counting", tools=["python"]))()
    assert get_json_schema(slot.python)["function"]["name"] == "python"  # what TRL reads to show the tool
    with pytest.raises(LLMGymError, match=r"has no tools.*tools=\['python'\]"):
        llmgym.environment_factory("math")


def test_import_llmgym_does_not_load_trl_for_the_lazy_adapters():
    import subprocess
    import sys

    code = ("import sys, llmgym; llmgym.reward_functions; llmgym.environment_factory;"
            "print([m for m in ('torch', 'trl', 'datasets', 'fastapi', 'verifiers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


@pytest.fixture(scope="module")
def model_server():
    from test_openai_policy import Server

    s = Server()
    yield s
    s.kill()


def test_verifiers_evaluation_against_a_served_model_scores_with_the_llmgym_rubric(model_server, monkeypatch, tmp_path):
    import verifiers as vf
    from test_openai_policy import KEY

    monkeypatch.chdir(tmp_path)  # verifiers computes (and may create) an outputs/ folder here
    monkeypatch.setenv("VF_TEST_KEY", KEY)
    env = vf.load_environment("llmgym.adapters.verifiers", env="math", num_train_examples=2, num_eval_examples=2)
    results = env.evaluate_sync(client=vf.ClientConfig(api_base_url=model_server.url, api_key_var="VF_TEST_KEY",
                                                       max_retries=0),
                                model="smollm2", sampling_args={"max_tokens": 16, "temperature": 0.0},
                                num_examples=2, rollouts_per_example=2)
    outputs = results["outputs"]
    assert len(outputs) == 4 and all(o["error"] is None for o in outputs)
    rubric = llmgym.make("math").rubric
    for o in outputs:
        text = o["completion"][-1].content
        expected = rubric.score(text, Task.from_dict(o["info"]["llmgym_task"]))
        assert o["reward"] == pytest.approx(expected.value)
        assert {k: o["metrics"][k] for k in rubric.weights} == pytest.approx(dict(expected.components))


def test_scale_out_doc_commands_and_verl_config_are_real():
    import re
    import shlex
    from pathlib import Path

    import yaml

    from llmgym.cli import build_parser

    doc = (Path(__file__).resolve().parents[1] / "docs" / "scale-out.md").read_text()
    lines = [line for block in re.findall(r"```bash\n(.*?)```", doc, re.DOTALL) for line in block.splitlines()]
    commands = [line[line.index("llmgym "):].split("#")[0] for line in lines
                if re.search(r"\bllmgym (serve|export) ", line)]
    assert len(commands) >= 5
    parser = build_parser()
    for command in commands:
        args = parser.parse_args(shlex.split(command)[1:])  # an unknown option or value exits here
        assert args.func is not None
    (config,) = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", doc, re.DOTALL)]
    reward = config["custom_reward_function"]
    module = importlib.import_module(reward["path"].removeprefix("pkg://").replace("/", "."))
    assert callable(getattr(module, reward["name"])) and callable(module.compute_score_batch)


@pytest.mark.parametrize("argv, message", [
    (["export", "--env", "math", "--format", "verl", "--out", "FILE"], "is a file, not a folder"),
    (["export", "--env", "math", "--format", "verl", "--out", "DIR", "--train", "-1"], "--train and --eval must be >= 0"),
    (["export", "--env", "chess", "--format", "openrlhf", "--out", "DIR"], "unknown env 'chess'"),
    (["serve", "--env", "math", "--max-batch", "0"], "--max-batch must be >= 1"),
    (["serve", "--env", "math", "--env", "math"], "two --env options are served as 'math'"),
])
def test_export_and_serve_misuse_is_one_line_and_status_2(tmp_path, capsys, argv, message):
    (tmp_path / "FILE").write_text("x")
    argv = [str(tmp_path / a) if a in ("FILE", "DIR") else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("llmgym: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "DIR").exists()
