"""Held-out evaluation that resolves small gains: sampled answers seeded by the run's seed, accuracy with
a 95% interval clustered by task, and the share of answers in the prompt's format beside it; and the
rollout's seeds, which give every batch of one rollout its own random numbers."""

from __future__ import annotations

import pytest

from llmgym.env import SingleTurnEnv
from llmgym.rewards.answer import AnswerReward, FormatReward
from llmgym.rollout import rollout
from llmgym.rubric import Rubric
from llmgym.train.callbacks import clustered_wilson, evaluate
from llmgym.types import Completion, SamplingParams, Task


def test_one_sample_per_task_is_the_textbook_wilson_interval():
    lo, hi = clustered_wilson([1.0] * 3 + [0.0] * 7, samples=1)  # 3 of 10
    assert (round(lo, 4), round(hi, 4)) == (0.1078, 0.6032)


def test_tasks_that_always_agree_with_themselves_count_once_however_many_samples():
    # Every task answered all right or all wrong: 16 more samples of a task add no evidence.
    per_task = [1.0] * 5 + [0.0] * 5
    assert clustered_wilson(per_task, samples=16) == pytest.approx(clustered_wilson(per_task, samples=1))


def test_samples_that_vary_within_every_task_narrow_the_interval_up_to_all_draws():
    # Every task half right: the spread is all sampling noise, so all 10 x 16 answers count.
    lo, hi = clustered_wilson([0.5] * 10, samples=16)
    assert (round(lo, 4), round(hi, 4)) == (0.4234, 0.5766)  # Wilson at n = 160
    one_each = clustered_wilson([1.0] * 5 + [0.0] * 5, samples=1)
    assert hi - lo < (one_each[1] - one_each[0]) / 2


def test_interval_stays_inside_zero_and_one_and_holds_the_estimate():
    for per_task in ([0.0] * 17, [1.0] * 17, [0.0625] * 16 + [0.0], [0.9375, 1.0, 1.0]):
        lo, hi = clustered_wilson(per_task, samples=16)
        p = sum(per_task) / len(per_task)
        assert 0.0 <= lo <= p <= hi <= 1.0
    assert clustered_wilson([], samples=8) == (0.0, 1.0)


class SumEnv(SingleTurnEnv):
    """One-digit sums, scored like math: full credit only when boxed, plus a format entry."""

    name = "sums"

    def generate_task(self, rng):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        return Task(f"{a}+{b}", str(a + b), {"answer_type": "number"})

    def default_rubric(self):
        return Rubric([(AnswerReward(fallback=0.5), 1.0), (FormatReward(), 0.1)])


class Coin:
    """A policy that answers right with probability 1/2 by its seeded coin; every other answer it
    gives is bare (no box), so format compliance is the share of right answers."""

    name = "coin"

    def __init__(self):
        self.seeds = []

    def generate(self, prompts, n=1, params=None):
        import random

        self.seeds.append(params.seed)
        rng = random.Random(params.seed)
        out = []
        for p in prompts:
            a, b = (int(x) for x in p[-1]["content"].split("+"))
            right = rng.random() < 0.5 if params.temperature > 0 else True
            out.append([Completion(f"\\boxed{{{a + b}}}" if right else f"{a + b + 1}", completion_tokens=3)] * n)
        return out

    def with_model(self, model):
        return self


def test_sampled_evaluation_is_the_same_for_the_same_seed_and_another_for_another():
    tasks = list(SumEnv().tasks("eval", n=12, seed=0))
    runs = [evaluate(SumEnv(), Coin(), tasks, 8, batch_size=16, samples=8, temperature=1.0, seed=s)
            for s in (0, 0, 1)]
    assert runs[0] == runs[1] and runs[0] != runs[2]
    first = runs[0]
    assert first["n"] == 96 and first["samples"] == 8
    assert 0.0 < first["accuracy_lo"] < first["accuracy"] < first["accuracy_hi"] < 1.0
    # Every right answer is boxed and every wrong one bare: format equals accuracy here.
    assert first["format"] == pytest.approx(first["accuracy"])


def test_greedy_evaluation_answers_each_task_once():
    tasks = list(SumEnv().tasks("eval", n=5, seed=0))
    figures = evaluate(SumEnv(), Coin(), tasks, 8, samples=8, temperature=0.0)
    assert (figures["n"], figures["samples"], figures["accuracy"], figures["format"]) == (5, 1, 1.0, 1.0)


def test_format_is_the_share_of_answers_in_the_prompts_format():
    class Bare(Coin):
        def generate(self, prompts, n=1, params=None):
            answers = [r"\boxed{1}", "1", r"\boxed{1} or \boxed{2}", r"\boxed{}"]
            return [[Completion(answers[i % 4], completion_tokens=1)] for i, _ in enumerate(prompts)]

    tasks = list(SumEnv().tasks("eval", n=8, seed=0))
    assert evaluate(SumEnv(), Bare(), tasks, 8)["format"] == 0.25  # one boxed answer in four


def test_every_batch_of_one_rollout_samples_its_own_random_numbers():
    coin = Coin()
    tasks = list(SumEnv().tasks("eval", n=4, seed=0))
    params = SamplingParams(temperature=1.0, seed=7)
    rollout(SumEnv(), coin, tasks, n=4, params=params, batch_size=4)
    assert len(coin.seeds) == 4 and len(set(coin.seeds)) == 4
    again = Coin()
    rollout(SumEnv(), again, tasks, n=4, params=params, batch_size=4)
    assert again.seeds == coin.seeds  # one seed still fixes the whole rollout


def test_two_batches_of_the_same_prompts_get_different_samples_from_a_real_model():
    from llmgym.policies.tiny import tiny

    policy = tiny(hidden=32, layers=1, seed=0)
    task = Task("1+2", "3", {"answer_type": "number"})
    params = SamplingParams(temperature=1.0, max_tokens=12, seed=0)
    # Two batches of four copies of one prompt: before each batch drew its own seed, both batches
    # sampled the same four answers.
    episodes = rollout(SumEnv(), policy, [task] * 8, params=params, batch_size=4)
    texts = [e.turns[0].action for e in episodes]
    assert texts[:4] != texts[4:]
    again = [e.turns[0].action for e in rollout(SumEnv(), policy, [task] * 8, params=params, batch_size=4)]
    assert again == texts


def test_a_seeded_generate_leaves_the_callers_random_state_alone():
    import torch

    from llmgym.policies.tiny import tiny

    policy = tiny(hidden=32, layers=1, seed=0)
    prompt = [[{"role": "user", "content": "1+2"}]]
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    policy.generate(prompt, 2, SamplingParams(temperature=1.0, max_tokens=4, seed=5))
    assert torch.equal(torch.rand(3), expected)
