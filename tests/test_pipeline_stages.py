"""The three stages from scratch, as the lecture orders them: `pretrain` (next-token training on the
env's plain-text documents) -> `sft` (the chat turn) -> `grpo` (reward), on the `compare` env with a
from-scratch tiny policy. Each stage raises held-out *sampled* accuracy above the noise this test
measures, in the style and with the helpers of tests/test_train_learning.py (its module docstring
explains the noise: the paired standard error over tasks, gain > MULTIPLE x noise).

Why `compare` and not `math`: the tiny model does not learn to copy operands out of MathEnv's
long prompt in the steps a CPU allows (SFT alone: 0% -> 0%); "Which is larger, 37 or 52?" is short,
and its held-out prompts need only the skills train teaches (compare digits, copy a number).

What each stage learns (measured, EVAL_TASKS x SAMPLES sampled answers, one torch thread): the
pretrained model, which never saw the chat template, mostly writes a box straight after the
assistant header, with a number close to the larger one (0.000 -> 0.055); SFT teaches it the
answer's form in the assistant turn ("37 < 52, so \\boxed{52}.") in 100 steps (-> 0.356; the same
100 steps from the untrained model: 0.000 -> 0.002); GRPO sharpens the answer (-> 0.448 in 60
steps). Those figures were measured on 256 eval tasks (ratios 5.1, 11.2, 5.7); this file uses 512.

The fast tests pin what `--algo pretrain` refuses, each in one line: a mixture, a tool env, an env
that writes no documents.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_train_learning import MULTIPLE, accuracy, eval_policy, gain_and_noise, success_rates

import llmgym
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.train.config import TrainConfig
from llmgym.train.run import train

ENV = "compare"
POLICY = "tiny:hidden=64,layers=2"
MAX_TOKENS = 32  # "37 < 52, so \boxed{52}." is 23 characters and EOS
EVAL_TASKS, EVAL_SEED = 512, 1
COMMON = {"env": ENV, "max_completion_length": MAX_TOKENS, "eval_tasks": 64, "eval_every": 0, "seed": 0,
          "save_every": 0}
STAGES = [  # (algo, options): each trains from the one before
    ("pretrain", {"steps": 1000, "learning_rate": 3e-3, "batch_size": 32, "train_tasks": 4000}),
    ("sft", {"steps": 100, "learning_rate": 1e-3, "batch_size": 16}),
    ("grpo", {"steps": 60, "learning_rate": 3e-4, "num_generations": 8, "prompts_per_step": 16,
              "temperature": 1.0, "beta": 0.0}),
]


def rates(policy_spec, tasks, **options) -> list[float]:
    return success_rates(eval_policy(policy_spec, **options), tasks, EVAL_SEED, env=ENV, max_tokens=MAX_TOKENS)


@pytest.fixture(scope="module")
def stages(tmp_path_factory):
    """Run the three stages; each one's per-task success rates on the same held-out tasks."""
    out = tmp_path_factory.mktemp("pipeline")
    tasks = list(llmgym.make(ENV).tasks("eval", n=EVAL_TASKS, seed=0))
    measured = {"untrained": rates(POLICY, tasks, seed=0)}
    policy = POLICY
    for algo, options in STAGES:
        summary = train(TrainConfig(policy=str(policy), algo=algo, out=str(out / algo), **COMMON, **options))
        policy = Path(summary["run"]) / "final"
        measured[algo] = rates(policy, tasks)
    return measured


@pytest.mark.timeout(900)  # about 4 minutes on two busy cores; slow only on a crowded machine
@pytest.mark.parametrize("stage, before", [("pretrain", "untrained"), ("sft", "pretrain"), ("grpo", "sft")])
def test_each_stage_raises_held_out_accuracy_above_noise(stages, stage, before):
    gain, noise = gain_and_noise(stages[stage], stages[before])
    print(f"{stage}: held-out {accuracy(stages[before]):.3f} -> {accuracy(stages[stage]):.3f}, gain {gain:.3f}, "
          f"noise {noise:.4f}, ratio {gain / max(noise, 1e-9):.1f}")
    assert gain > MULTIPLE * noise, {"before": accuracy(stages[before]), "after": accuracy(stages[stage]),
                                     "gain": gain, "noise": noise}


def test_pretrain_documents_are_problems_with_worked_solutions_without_a_chat_template():
    env = llmgym.make(ENV)
    task = next(env.tasks("train", n=1))
    docs = list(env.documents("train", n=3))
    assert docs[0] == f"{task.text}\n{env.reference(task)}" and len(docs) == 3
    assert not any("<|im_start|>" in d or "<|im_end|>" in d for d in docs)
    assert not set(docs) & set(env.documents("eval", n=200))  # no held-out problem is pretrained on


@pytest.mark.parametrize("argv, message", [
    (["--env", "compare", "--env", "math"],
     "--algo pretrain trains one env; train a mixture of envs with --algo grpo, rloo or sft"),
    (["--env", "compare:tools=python"],
     "--algo pretrain cannot train tool envs; use --algo grpo or sft, or the env without tools="),
])
def test_pretrain_refuses_what_it_cannot_train_in_one_line(argv, message, tmp_path, capsys):
    assert main(["train", "--algo", "pretrain", "--policy", "tiny:hidden=32,layers=1", *argv,
                 "--out", str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.strip() == f"llmgym: error: {message}"


def test_pretrain_refuses_an_env_that_writes_no_documents():
    from llmgym.algorithms.pretrain import document_dataset

    class Unsolved(type(llmgym.make(ENV))):
        name = "unsolved"

        def reference(self, task):
            return None

    with pytest.raises(LLMGymError, match="env unsolved writes no documents to pretrain on"):
        document_dataset(Unsolved(), 10, 0)


def test_pretrain_resumes_from_its_checkpoint(tmp_path):
    cfg = dict(COMMON, policy="tiny:hidden=32,layers=1", algo="pretrain", eval_tasks=2, max_completion_length=4,
               train_tasks=40, batch_size=4, save_every=2, out=str(tmp_path / "run"))
    train(TrainConfig(**{**cfg, "steps": 2}))
    summary = train(TrainConfig(**{**cfg, "steps": 4}), resume=True)
    assert summary["steps"] == 4 and (tmp_path / "run" / "checkpoints" / "checkpoint-4").is_dir()
