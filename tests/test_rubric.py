import pytest

from llmgym import FunctionReward, Rubric, Score, Task


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
