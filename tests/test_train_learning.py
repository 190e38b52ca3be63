"""Evidence of learning: a from-scratch tiny policy is first fitted by `sft` to partial held-out
accuracy on single-digit addition, then `grpo` (and `bon`) for a fixed number of steps raise the
held-out accuracy by a margin far above run-to-run noise. Fixed seeds; no timing asserts.

Task: `toyadd` from tests/train_toy.py ("a+b=?" -> "a+b=c. \\boxed{c}", a, b in 0..9, the same
task as `math` arithmetic level 1), not `MathEnv(level=1)` itself. With the character-level tiny
tokenizer MathEnv's chat prompt plus its reference solution ("We compute 9 + 4 step by step.\\n...")
is ~165 tokens per sequence against ~40 for toyadd: measured on this 2-core machine (load ~6),
300 SFT steps on MathEnv(level=1) took 632 s (held-out 0% -> 41%), over ten times this file's budget.

Measured with the settings below (held-out = all 29 toyadd eval tasks, greedy, never trained on;
23 of them are the swapped order of a train task, so commutativity is part of what transfers):

    SFT, 150 steps (seed 0)                         0%  -> 20.7% (6/29): the start of both RL runs
    GRPO, 20 steps, seeds 0 / 1 / 2                 34.5% / 37.9% / 37.9%  (+4..+5 tasks; 30 steps
                                                    from seed 0: 37.9%, a plateau)
    best-of-n, 30 rounds, seeds 0 / 1 / 2           31.0% / 31.0% / 27.6%  (+2..+3 tasks)
    constant reward (test_train_run.py)             no parameter moves at all

Run-to-run noise across RL seeds is one task (3.4 points); GRPO's gain is four to five times that.
Each test asserts a gain of at least MARGIN (GRPO: 3 tasks, best-of-n: 2 tasks; every measured seed is at or
above it). Settings that failed, so nobody retries them: GRPO at lr 3e-4 (20.7% -> 24.1%, unstable;
the earlier default 5e-4 collapsed to 0%), best-of-n at lr 1e-3 or 5e-4 (13.8%..27.6%, 17.2%), and
the `toydigit` copy task from a near-chance SFT start (no change in 20 GRPO steps). A full run of this
file reproduced 20.7% -> 34.5% (GRPO) and 31.0% (best-of-n) in 335 s at load ~3.5 on 2 cores (SFT 64 s,
GRPO 51 s, best-of-n 217 s: each round builds a fresh SFTTrainer); idle, the RL stages took 17-35 s each.
"""

from __future__ import annotations

import pytest
import train_toy

from llmgym.train.config import TrainConfig
from llmgym.train.run import train

POLICY = "tiny:hidden=64,layers=2"
MARGIN_GRPO = 3 / 29 - 1e-9  # tasks of the 29 held-out ones, as a fraction
MARGIN_BON = 2 / 29 - 1e-9
COMMON = {"env": "toyadd", "max_completion_length": 20, "eval_tasks": 64, "eval_every": 0, "save_every": 0,
          "train_tasks": 2000, "seed": 0}


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory):
    """The SFT stage, shared by the RL tests: a checkpoint that is partly right on held-out tasks."""
    train_toy.register()
    out = tmp_path_factory.mktemp("learning") / "sft"
    summary = train(TrainConfig(policy=POLICY, algo="sft", steps=150, learning_rate=3e-3, batch_size=32,
                                out=str(out), **COMMON))
    accuracy = summary["after"]["accuracy"]
    # Partial: above the ~1/19 of a guessed sum, far from solved, so RL has something to improve.
    assert 0.1 <= accuracy <= 0.4, accuracy
    return out / "final", accuracy


@pytest.mark.timeout(900)  # SFT + GRPO on two shared cores; slow only on a crowded machine
def test_grpo_raises_held_out_accuracy_of_a_partly_right_policy(sft_model):
    final, start = sft_model
    summary = train(TrainConfig(policy=str(final), algo="grpo", steps=20, learning_rate=1e-4, num_generations=8,
                                prompts_per_step=4, temperature=1.0, beta=0.0, out=str(final.parent.parent / "grpo"),
                                **COMMON))
    assert summary["before"]["accuracy"] == pytest.approx(start)
    assert summary["after"]["accuracy"] >= start + MARGIN_GRPO, (start, summary["after"])


@pytest.mark.timeout(900)
def test_bon_raises_held_out_accuracy_of_a_partly_right_policy(sft_model):
    final, start = sft_model
    summary = train(TrainConfig(policy=str(final), algo="bon", steps=30, learning_rate=3e-4, num_generations=8,
                                batch_size=16, temperature=1.0, out=str(final.parent.parent / "bon"), **COMMON))
    assert summary["after"]["accuracy"] >= start + MARGIN_BON, (start, summary["after"])
