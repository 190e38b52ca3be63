"""GRPO on tool envs through TRL's `environment_factory`: the per-rollout adapter, the tokenizer
setup, a whole `llmgym train` run, and a scripted rollout whose tool result TRL masks from the loss."""

from __future__ import annotations

import json

import pytest

import llmgym
from llmgym import LLMGymError, ToolEnv
from llmgym.sandbox.limits import Limits
from llmgym.sandbox.tool import python_tool
from llmgym.train.config import TrainConfig
from llmgym.train.data import task_rows
from llmgym.train.run import train
from llmgym.train.rundir import RunDir
from llmgym.train.tool_env import CHATML_TOOL_TEMPLATE, environment_factory, tool_tokenizer

TINY = "tiny:hidden=32,layers=1"


def slot_for(env: ToolEnv):
    slot = environment_factory(env)()
    slot.reset(**task_rows(env, 1, seed=0)[0])
    return slot


def test_slot_runs_python_in_the_sandbox_and_counts_calls_per_episode():
    env = llmgym.make("counting", tools=["python"])
    slot = slot_for(env)
    assert slot.python(code="print(6 * 7)") == "status: ok\nstdout:\n42\n"
    assert "NameError" in slot.python(code="print(undefined_name)")
    assert slot.tool_calls == 2
    slot.reset(**task_rows(env, 2, seed=0)[1])
    assert slot.tool_calls == 0


def test_slot_methods_carry_the_tools_json_schema():
    from transformers.utils import get_json_schema

    env = llmgym.make("counting", tools=["python"])
    schema = get_json_schema(environment_factory(env)().python)["function"]
    assert schema["name"] == "python" and schema["parameters"] == env.tools["python"].parameters


def test_slot_enforces_the_turn_limit():
    slot = slot_for(llmgym.make("counting", tools=["python"], max_turns=2))
    assert "stdout:\n1" in slot.python(code="print(1)")
    assert "stdout:\n2" in slot.python(code="print(2)")  # the ToolEnv runs it, then truncates the episode
    assert slot.python(code="print(3)").startswith("error: turn limit reached (2 turns)")
    assert slot.tool_calls == 2


def test_hostile_or_malformed_calls_come_back_as_error_text():
    tool = python_tool(Limits(wall_seconds=2, cpu_seconds=1, memory_mb=256))
    slot = slot_for(ToolEnv(llmgym.make("counting"), [tool], max_turns=8))
    assert slot.python(code="while True: pass").startswith("status: timeout")
    assert slot.python(code="x = bytearray(1 << 30)").startswith("status: memory")
    assert slot.python(code=5).startswith("error: the python tool takes")
    assert slot.python().startswith("error: the python tool takes")


def test_rewards_score_the_final_message_and_zero_an_episode_that_ends_on_a_tool_call():
    from llmgym.train.data import reward_functions

    env = llmgym.make("counting", tools=["python"])
    row = task_rows(env, 1, seed=0)[0]
    answer = json.loads(row["task"])["answer"]
    call = {"type": "function", "function": {"name": "python", "arguments": {"code": "print(1)"}}}
    steps = [{"role": "assistant", "content": "let me check", "tool_calls": [call]},
             {"role": "tool", "name": "python", "content": "status: ok"}]
    answered = [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}}"}]
    cut_off = [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}}", "tool_calls": [call]}]
    malformed = [*steps, {"role": "assistant", "content": f"\\boxed{{{answer}}} <tool_call>{{"}]
    funcs, _ = reward_functions(env)
    scores = funcs[0](prompts=[row["prompt"]] * 3, completions=[answered, cut_off, malformed], task=[row["task"]] * 3)
    assert funcs[0].__name__ == "correct" and scores == [1.0, 0.0, 0.0]


def test_chatml_policies_get_a_template_that_renders_tool_calls():
    from llmgym.policies.smollm2 import converted_path
    from llmgym.policies.tiny import build_tokenizer
    from transformers import AutoTokenizer
    from trl.chat_template_utils import supports_tool_calling

    for tok in (build_tokenizer(), AutoTokenizer.from_pretrained(str(converted_path()))):
        plain = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        before = tok.apply_chat_template(plain, tokenize=False, add_generation_prompt=True)
        assert not supports_tool_calling(tok)
        tool_tokenizer(tok, "p")
        assert tok.chat_template == CHATML_TOOL_TEMPLATE and supports_tool_calling(tok)
        assert tok.apply_chat_template(plain, tokenize=False, add_generation_prompt=True) == before
        ids = tok('<tool_call>{"name": "python", "arguments": {"code": "1"}}</tool_call><|im_end|>',
                  add_special_tokens=False)["input_ids"]
        prompt = tok.apply_chat_template(plain, add_generation_prompt=True, return_dict=False)
        assert tok.parse_response(ids, prefix=prompt)["tool_calls"] == [
            {"type": "function", "function": {"name": "python", "arguments": {"code": "1"}}}]


def test_a_template_that_cannot_render_tool_calls_is_one_clear_error():
    from llmgym.policies.tiny import build_tokenizer

    tok = build_tokenizer()
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    with pytest.raises(LLMGymError, match="cannot render tool calls; use a ChatML policy") as err:
        tool_tokenizer(tok, "hf:path=x")
    assert "\n" not in str(err.value)


def test_rloo_and_bon_refuse_tool_envs_and_name_grpo(tmp_path):
    for algo in ("rloo", "bon"):
        with pytest.raises(LLMGymError, match="use --algo grpo"):
            train(TrainConfig(env="counting:tools=python", policy=TINY, algo=algo, steps=1, out=str(tmp_path / algo)))


def test_grpo_trains_a_tool_env_end_to_end(tmp_path):
    out = tmp_path / "tools"
    summary = train(TrainConfig(env="counting:tools=python", policy=TINY, algo="grpo", steps=2, save_every=0,
                                eval_every=0, eval_tasks=4, max_completion_length=16, train_tasks=16,
                                num_generations=2, prompts_per_step=2, out=str(out)))
    steps = [r for r in RunDir(out).rows() if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        assert {"rewards/correct/mean", "rewards/tool_calls/mean", "tools/call_frequency", "reward"} <= set(r)
    assert summary["steps"] == 2 and (RunDir(out).final / "config.json").is_file()


def test_tool_results_are_masked_from_the_loss_and_the_final_answer_is_scored(tmp_path):
    """A scripted rollout: `sequence_bias` makes the tiny model write a python call, then, after the
    tool's output, the right boxed answer. TRL runs the call through our adapter and gives the tool
    result's tokens `tool_mask` 0 (the loss mask is completion_mask * tool_mask)."""
    from llmgym.train.algos import rl_trainer

    env = llmgym.make("counting", tools=["python"], max_turns=2)
    row = task_rows(env, 1, seed=0)[0]
    answer = json.loads(row["task"])["answer"]
    policy = llmgym.make_policy(TINY, seed=0)
    tok = tool_tokenizer(policy.tokenizer, TINY)
    code = json.dumps({"code": f"print({answer!r})"})
    call = f'<tool_call>{{"name": "python", "arguments": {code}}}</tool_call><|im_end|>'
    result = f"\n<|im_start|>tool\nstatus: ok\nstdout:\n{answer}\n<|im_end|>\n<|im_start|>assistant\n"
    final = f"\\boxed{{{answer}}}<|im_end|>"
    script = tok(call + result + final, add_special_tokens=False)["input_ids"]
    # Each token is pushed by its whole preceding script, the longer the stronger, so greedy or not the
    # model writes the script wherever its tail matches.
    bias = [[script[:i + 1], 100.0 * (i + 1)] for i in range(len(script))]
    cfg = TrainConfig(env="counting", policy=TINY, algo="grpo", steps=1, train_tasks=1, num_generations=2,
                      prompts_per_step=1, max_completion_length=len(script) + 8, save_every=0).resolved(is_tiny=True)
    trainer = rl_trainer(cfg, env, policy.model, tok, str(tmp_path), [], None, 1,
                         generation_kwargs={"sequence_bias": bias})
    assert trainer.max_tool_calling_iterations == 1  # max_turns 2: one tool turn, then the answer
    trainer.model.train()
    batch = trainer._generate_and_score_completions([row, row])

    n_call, n_result = (len(tok(text, add_special_tokens=False)["input_ids"]) for text in (call, result))
    for ids, tool_mask, mask in zip(batch["completion_ids"], batch["tool_mask"], batch["completion_mask"]):
        ids, tool_mask = ids[mask.bool()].tolist(), tool_mask[mask.bool()].tolist()
        assert tok.decode(ids) == call + result + final
        assert tool_mask == [1] * n_call + [0] * n_result + [1] * (len(ids) - n_call - n_result)
        assert "stdout" not in tok.decode([t for t, m in zip(ids, tool_mask) if m])
    metrics = trainer._metrics["train"]
    assert metrics["tools/call_frequency"] == [1.0] and metrics["rewards/tool_calls/mean"] == [1.0]
    assert metrics["rewards/correct/mean"] == [1.0]
