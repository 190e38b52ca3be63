"""Models need tokens to think: RL on correctness alone raises held-out accuracy AND response length.

A from-scratch tiny policy is fitted by `sft` on `tally:solutions=mixed` (count one letter in a
list of nine; half the references answer directly, ``\\boxed{3}``, half spell the list out with a
running count, ``c0 s0 m1 m2 c2 m3 c3 s3 s3 \\boxed{3}``). It learns to write both forms, and the
long one is right much more often: it adds 0 or 1 per letter where the short one must count nine
letters in the one token that writes the answer. `grpo` then moves the policy's mass to the long
form, with the env's correctness reward only (no length term anywhere), so held-out accuracy and
mean completion length rise together. docs/thinking.md has the command-line run and its curves.

Measurement as in tests/test_train_learning.py (whose helpers this file uses): EVAL_TASKS held-out
prompts x SAMPLES completions at T=1.0; per task, its success rate and its mean completion length
in tokens (characters, for the tiny policy); each gain is the mean over tasks of end - start and
its noise the paired standard error over tasks. Both gains must exceed MULTIPLE x their noise.

The SFT stage stops by construction where RL has something to choose: it trains SFT_FIRST steps,
then SFT_CHUNK more at a time (one run, resumed with a larger `steps`), and stops at the first
check (GATE_TASKS x SAMPLES, other draws than the gains') where the policy writes both forms and
the long one is right at least GATE_MARGIN more often than the short one, failing at SFT_CAP.

Measured on an Intel Xeon, 2 shared cores at load ~7, torch threads 1 (pytest -s prints it):

    SFT gate (steps, step form right, direct right): (1500, 0.33, 0.20), (2000, 0.48, 0.18)
    after SFT        accuracy 0.321, length 22.2, step form 50% (right 0.49; direct right 0.16)
    after GRPO       accuracy 0.538, length 34.2, step form 94% (right 0.56; direct right 0.15)
    gains            accuracy +0.217, noise 0.022, ratio 9.6; length +12.1, noise 0.48, ratio 25.3
    whole file       713 s (SFT 0.3 s a step under that load, 30 GRPO steps 81 s); checks
                     from 500 steps on gave the same figures and 785 s

Settings that did not work, so nobody retries them: 7 letters (level 2) instead of 9 learned no
faster (after 1200 SFT steps the step form was right 0.28, the direct one 0.21); before ~1000 SFT
steps the step form is no more often right than the direct one, and there is nothing for RL to
choose.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest
from test_train_learning import eval_policy, gain_and_noise

from llmgym.train.config import TrainConfig
from llmgym.train.run import train

POLICY = "tiny:hidden=64,layers=2"
ENV = "tally:solutions=mixed,level=3"
MAX_TOKENS = 40
COMMON = {"env": ENV, "max_completion_length": MAX_TOKENS, "eval_tasks": 64, "eval_every": 0,
          "train_tasks": 2000, "seed": 0}
EVAL_TASKS, GATE_TASKS, SAMPLES = 256, 64, 4
EVAL_SEED, GATE_SEED = 1, 0
MULTIPLE = 3.0
# Checks start at SFT_FIRST: before ~1000 steps the step form is no more often right (docstring).
SFT_FIRST, SFT_CHUNK, SFT_CAP, GATE_MARGIN = 1500, 500, 3000, 0.15


def is_direct(completion: str) -> bool:
    return completion.lstrip().startswith("\\boxed")


def sampled(spec, tasks: list, seed: int) -> dict:
    """Per task, the share of SAMPLES completions at T=1.0 that are right and their mean length in
    tokens; over all completions, how often each form is right and the share of the step form."""
    import llmgym
    from llmgym.rollout import rollout
    from llmgym.types import SamplingParams

    params = SamplingParams(temperature=1.0, max_tokens=MAX_TOKENS, seed=seed)
    # One generate call for every episode, for the reason test_train_learning.success_rates gives.
    episodes = rollout(llmgym.make(ENV), eval_policy(spec), tasks, n=SAMPLES, params=params,
                       batch_size=len(tasks) * SAMPLES)
    right = [e.score.components["correct"] >= 1.0 for e in episodes]
    length = [e.info["completion_tokens"] for e in episodes]
    direct = [is_direct(e.turns[-1].action) for e in episodes]

    def per_task(values):
        return [statistics.fmean(values[i * SAMPLES:(i + 1) * SAMPLES]) for i in range(len(tasks))]

    def right_when(form_is_direct):
        hits = [r for r, d in zip(right, direct) if d == form_is_direct]
        return statistics.fmean(hits) if hits else 0.0

    return {"rates": per_task(right), "lengths": per_task(length), "steps_share": 1 - statistics.fmean(direct),
            "steps_right": right_when(False), "direct_right": right_when(True)}


def describe(m: dict) -> str:
    return (f"accuracy {statistics.fmean(m['rates']):.3f}, length {statistics.fmean(m['lengths']):.1f}, "
            f"step form {m['steps_share']:.0%} (right {m['steps_right']:.2f}; direct right {m['direct_right']:.2f})")


@pytest.fixture(scope="module")
def eval_tasks():
    import llmgym

    return list(llmgym.make(ENV).tasks("eval", n=EVAL_TASKS, seed=0))


@pytest.fixture(scope="module")
def sft_model(tmp_path_factory, eval_tasks):
    out = tmp_path_factory.mktemp("thinking") / "sft"
    path, steps = [], SFT_FIRST - SFT_CHUNK
    while steps < SFT_CAP:
        steps += SFT_CHUNK
        train(TrainConfig(policy=POLICY, algo="sft", steps=steps, learning_rate=3e-3, batch_size=32,
                          save_every=SFT_CHUNK, save_total_limit=1, out=str(out), **COMMON), resume=steps > SFT_FIRST)
        gate = sampled(out / "final", eval_tasks[:GATE_TASKS], GATE_SEED)
        path.append((steps, round(gate["steps_right"], 2), round(gate["direct_right"], 2)))
        if 0.2 <= gate["steps_share"] <= 0.8 and gate["steps_right"] >= gate["direct_right"] + GATE_MARGIN:
            break
    else:
        raise AssertionError(f"the step form never paid off by {GATE_MARGIN}: (steps, right, direct right) {path}")
    return {"final": out / "final", "path": path, "measured": sampled(out / "final", eval_tasks, EVAL_SEED)}


@pytest.mark.timeout(1800)  # SFT to the gate and 30 GRPO steps: 713 s on two cores at load ~7
def test_grpo_on_correctness_raises_held_out_accuracy_and_response_length_together(sft_model, eval_tasks, tmp_path):
    summary = train(TrainConfig(policy=str(sft_model["final"]), algo="grpo", steps=30, learning_rate=3e-4,
                                num_generations=8, prompts_per_step=16, temperature=1.0, beta=0.0, save_every=0,
                                out=str(tmp_path / "grpo"), **COMMON))
    start, end = sft_model["measured"], sampled(Path(summary["run"]) / "final", eval_tasks, EVAL_SEED)
    acc_gain, acc_noise = gain_and_noise(end["rates"], start["rates"])
    len_gain, len_noise = gain_and_noise(end["lengths"], start["lengths"])
    print(f"sft (steps, step form right, direct right) {sft_model['path']}\n  after sft:  {describe(start)}\n"
          f"  after grpo: {describe(end)}\n  accuracy gain {acc_gain:.3f}, noise {acc_noise:.3f}, "
          f"ratio {acc_gain / acc_noise:.1f}; length gain {len_gain:.1f}, noise {len_noise:.2f}, "
          f"ratio {len_gain / len_noise:.1f}")
    assert acc_gain > MULTIPLE * acc_noise, (describe(start), describe(end), acc_gain, acc_noise)
    assert len_gain > MULTIPLE * len_noise, (describe(start), describe(end), len_gain, len_noise)
