"""The `tally` env: counts recomputed from the prompt, both reference forms score 1, hedges 0."""

from __future__ import annotations

import re

import pytest

import llmgym
from llmgym import LLMGymError
from llmgym.envs.tally import LENGTHS, TallyEnv, direct_solution, solution_form, steps_solution, tally_task


def sample(n: int = 200, split: str = "train", **options) -> list:
    return list(TallyEnv(**options).tasks(split, n=n, seed=0))


def correct(env: TallyEnv, completion: str, task) -> float:
    return env.rubric.score(completion, task).value


def recount(text: str) -> int:
    """The answer, worked out from the prompt text alone."""
    target, letters = re.fullmatch(r"How many (\w) in: (.*)\? Answer in \\boxed\{\}\.", text).groups()
    return letters.split(", ").count(target)


@pytest.mark.parametrize(("level", "solutions"), [(level, "mixed") for level in sorted(LENGTHS)]
                         + [(3, "steps"), (3, "direct")])
def test_every_level_and_form_of_reference_passes_check_env(level, solutions):
    llmgym.check_env(TallyEnv(level=level, solutions=solutions))


@pytest.mark.parametrize("level", sorted(LENGTHS))
def test_answers_match_a_count_from_the_prompt_and_lists_have_the_levels_length(level):
    for task in sample(level=level):
        assert task.answer == recount(task.text)
        assert len(task.meta["letters"]) == LENGTHS[level]


def test_both_reference_forms_score_full_marks():
    env = TallyEnv(level=3)
    for task in sample(50, level=3):
        assert correct(env, steps_solution(task), task) == 1.0
        assert correct(env, direct_solution(task), task) == 1.0


def test_the_step_form_spells_every_letter_with_the_running_count():
    task = tally_task(list("strawberry"[:9]), "r")
    assert steps_solution(task) == "s0 t0 r1 a1 w1 b1 e1 r2 r3 \\boxed{3}"
    assert direct_solution(task) == "\\boxed{3}"


def test_wrong_and_hedged_answers_score_zero():
    env = TallyEnv()
    task = tally_task(list("abbab"), "a")
    for completion in ("\\boxed{3}", "\\boxed{2} or \\boxed{3}", "\\boxed{3} \\boxed{2}", "a1 b1 b1 a2 b2", ""):
        assert correct(env, completion, task) == 0.0, completion


def test_the_rubric_rewards_correctness_only_so_length_is_not_paid_for():
    env = TallyEnv()
    assert [(reward.name, weight) for reward, weight in env.rubric.entries] == [("correct", 1.0)]
    task = tally_task(list("abbab"), "a")
    assert correct(env, steps_solution(task), task) == correct(env, direct_solution(task), task)


def test_mixed_references_are_about_half_of_each_form_and_the_tasks_do_not_change():
    mixed, steps = sample(400, solutions="mixed"), sample(400, solutions="steps")
    assert [t.id for t in mixed] == [t.id for t in steps]
    direct = [t for t in mixed if t.meta["solution"] == direct_solution(t)]
    assert 0.4 < len(direct) / len(mixed) < 0.6
    assert all(t.meta["solution"] == steps_solution(t) for t in mixed if t not in direct)
    assert all(solution_form(t, "mixed") == ("direct" if t in direct else "steps") for t in mixed)


def test_eval_split_never_overlaps_train():
    assert not {t.id for t in sample(300)} & {t.id for t in sample(300, split="eval")}


def test_make_takes_the_solutions_option_and_bad_values_are_one_line_errors():
    env = llmgym.make("tally:solutions=direct,level=2")
    task = next(env.tasks("train"))
    assert env.reference(task) == direct_solution(task) and len(task.meta["letters"]) == LENGTHS[2]
    with pytest.raises(LLMGymError, match="solutions must be one of steps, direct, mixed, got 'long'"):
        TallyEnv(solutions="long")
    with pytest.raises(LLMGymError, match="single lowercase letters"):
        tally_task(["A"], "a")
    with pytest.raises(LLMGymError, match="1 to 9 letters"):
        tally_task(list("abababababab"), "a")
