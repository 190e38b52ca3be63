import pytest

from llmgym import FunctionReward, LLMGymError, Rubric, Score, Task
from llmgym.rubric import BaseReward


def const(name, value, reason=None, answer=None):
    return FunctionReward(name, lambda c, t: Score(value, reason=reason, answer=answer))


def test_weighted_sum_and_metrics_do_not_move_the_value():
    r = Rubric([(const("a", 1.0), 1.0), (const("b", 0.5), 0.2), (const("m", 0.9), 0.0)])
    s = r.score("x", Task("q"))
    assert s.value == pytest.approx(1.1)
    assert s.components == {"a": 1.0, "b": 0.5, "m": 0.9}


def test_reason_comes_from_first_weighted_entry_not_from_metrics():
    r = Rubric([(const("m", 0.0, "metric-reason"), 0.0), (const("a", 0.0, "wrong", "7"), 1.0),
                (const("b", 0.0, "no_format"), 0.1)])
    s = r.score("x", Task("q"))
    assert s.reason == "wrong" and s.answer == "7"


def test_sub_components_are_prefixed():
    inner = FunctionReward("tests", lambda c, t: Score(0.5, {"passed": 2, "total": 4}))
    s = Rubric([(inner, 1.0)]).score("x", Task("q"))
    assert s.components == {"tests": 0.5, "tests/passed": 2.0, "tests/total": 4.0}


def test_value_range_follows_weights_including_negative():
    r = Rubric([(const("a", 1), 1.0), (const("b", 1), -0.5), (FunctionReward("c", lambda c, t: 0, (-1, 1)), 2)])
    assert r.value_range == (-2.5, 3.0)


def test_batch_matches_single_and_checks_lengths():
    r = Rubric([(FunctionReward("len", lambda c, t: len(c) / 10), 1.0)])
    tasks = [Task("q")] * 3
    assert [s.value for s in r.score_batch(["a", "ab", "abc"], tasks)] == [r.score(c, tasks[0]).value for c in ["a", "ab", "abc"]]
    with pytest.raises(ValueError):
        r.score_batch(["a"], tasks)


def test_rubric_rejects_duplicate_names_and_empty():
    with pytest.raises(ValueError):
        Rubric([(const("a", 1), 1), (const("a", 1), 1)])
    with pytest.raises(ValueError):
        Rubric([])


def raising(name, exc=ValueError("bad gold")):
    def fn(c, t):
        raise exc
    return FunctionReward(name, fn)


def test_a_raising_reward_scores_0_with_a_reason_that_outranks_the_others(caplog):
    r = Rubric([(const("format", 0.0, "no_format"), 0.5), (raising("gold"), 1.0), (const("m", 0.9), 0.0)])
    with caplog.at_level("WARNING", logger="llmgym"):
        s = r.score("x", Task("q", "seven"))
    assert (s.value, s.reason) == (0.0, "reward_error:gold")
    assert s.components == {"format": 0.0, "gold": 0.0, "m": 0.9}
    assert any("'gold' raised" in rec.getMessage() for rec in caplog.records)


def test_a_raising_metric_is_zeroed_without_moving_the_value_or_the_reason():
    s = Rubric([(const("a", 1.0), 1.0), (raising("m"), 0.0)]).score("x", Task("q"))
    assert (s.value, s.reason, s.components) == (1.0, None, {"a": 1.0, "m": 0.0})


def test_a_batch_reward_that_raises_is_retried_one_completion_at_a_time():
    class PickyBatch(BaseReward):
        name = "picky"

        def score_batch(self, completions, tasks):
            if "bad" in completions:
                raise RuntimeError("one bad apple")
            return [Score(1.0) for _ in completions]

    scores = Rubric([(PickyBatch(), 1.0)]).score_batch(["ok", "bad", "ok"], [Task("q")] * 3)
    assert [(s.value, s.reason) for s in scores] == [(1.0, None), (0.0, "reward_error:picky"), (1.0, None)]


def test_user_errors_from_a_reward_still_propagate():
    with pytest.raises(LLMGymError, match="install bubblewrap"):
        Rubric([(raising("tests", LLMGymError("install bubblewrap")), 1.0)]).score("x", Task("q"))
