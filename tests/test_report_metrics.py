"""Benchmark metrics against values computed by hand (and against the textbook formulas)."""

import doctest
import math
from fractions import Fraction

import pytest

import llmgym.policies.openai as openai_policy
import llmgym.report.metrics as metrics_module
import llmgym.report.render as render_module
import llmgym.report.run_report as run_report_module
from llmgym.report.metrics import group_metrics, k_values, majority_vote, pass_at_k, summarize, wilson_interval


@pytest.mark.parametrize("module", [metrics_module, render_module, run_report_module, openai_policy])
def test_doctests_of_report_modules_pass(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_pass_at_k_matches_the_binomial_definition_everywhere():
    for n in range(1, 13):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
                assert pass_at_k(n, c, k) == pytest.approx(float(exact), abs=1e-12), (n, c, k)


def test_pass_at_k_is_stable_for_large_n():
    # C(1000, 100) has 140 digits: the float form of the binomial ratio would overflow.
    exact = 1 - Fraction(math.comb(1000 - 3, 100), math.comb(1000, 100))
    assert pass_at_k(1000, 3, 100) == pytest.approx(float(exact), rel=1e-9)
    assert pass_at_k(200, 0, 50) == 0.0
    assert pass_at_k(200, 151, 50) == 1.0


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 2, 5)


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), table I: 81/263 -> 0.2553..0.3662; and the textbook 5/10, 0/10 cases.
    lo, hi = wilson_interval(81, 263)
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    lo, hi = wilson_interval(5, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.2366, 0.7634)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and round(hi, 4) == 0.2775
    lo, hi = wilson_interval(10, 10)
    assert round(lo, 4) == 0.7225 and hi == 1.0  # exactly: the interval holds p


def test_majority_vote_counts_votes_and_splits_ties():
    assert majority_vote(["1", "2", "2"], [True, False, False]) == 0.0
    assert majority_vote(["1", "1", "2"], [True, True, False]) == 1.0
    assert majority_vote(["1", "2"], [True, False]) == 0.5
    assert majority_vote(["1", "2", "3"], [True, False, False]) == pytest.approx(1 / 3)
    assert majority_vote([None, None, "2"], [False, False, True]) == 1.0  # no answer casts no vote


def test_k_values_are_powers_of_two_and_n():
    assert k_values(0) == []
    assert k_values(8) == [1, 2, 4, 8]
    assert k_values(5) == [1, 2, 4, 5]


def _record(task, sample, correct, answer, tokens, *, level, family, format_ok=True, tool_calls=None):
    return {"env": "toy", "policy": "p", "task_id": task, "sample": sample, "level": level, "family": family,
            "correct": correct, "answer": answer, "reward": float(correct),
            "components": {"correct": float(correct), "format": float(format_ok)}, "format_ok": format_ok,
            "completion_tokens": tokens, "seconds": 0.5, "wall_seconds": 1.0, "tool_calls": tool_calls}


@pytest.fixture
def two_tasks():
    a = [_record("A", i, ok, ans, t, level=1, family="x")
         for i, (ok, ans, t) in enumerate([(True, "4", 10), (False, "5", 20), (False, "5", 30), (True, "4", 40)])]
    b = [_record("B", i, False, ans, 5, level=2, family="y", format_ok=ans is not None)
         for i, ans in enumerate([None, "7", "7", None])]
    return a + b


def test_group_metrics_match_hand_computed_values(two_tasks):
    m = group_metrics(two_tasks)
    assert (m["tasks"], m["episodes"], m["samples_per_task"]) == (2, 8, 4)
    # Task A: 2 of 4 right; task B: none.
    assert m["accuracy"]["value"] == pytest.approx(0.25)
    assert (m["accuracy"]["low"], m["accuracy"]["high"]) == pytest.approx(wilson_interval(0.5, 2))
    # pass@2 of A = 1 - C(2,2)/C(4,2) = 5/6; of B = 0.
    assert m["pass_at_k"] == pytest.approx({"1": 0.25, "2": 5 / 12, "4": 0.5})
    # maj@2 of A: "4" vs "5", a tie -> 1/2; maj@4 of A: 2-2 tie -> 1/2; B's majority "7" is wrong.
    assert m["maj_at_k"] == pytest.approx({"2": 0.25, "4": 0.25})
    assert m["reward"]["mean"] == pytest.approx(0.25)
    assert m["reward"]["components"] == pytest.approx({"correct": 0.25, "format": 0.75})
    assert m["format_failure_rate"] == pytest.approx(0.25)
    assert m["length"] == {"mean": pytest.approx(15.0), "median": pytest.approx(7.5)}
    assert m["tokens_per_s"] == pytest.approx(120 / 4.0)
    assert m["wall_seconds"] == pytest.approx(8.0)
    assert m["tool_calls"] is None


def test_summary_breaks_down_by_level_and_family(two_tasks):
    (entry,) = summarize(two_tasks)
    assert (entry["env"], entry["policy"]) == ("toy", "p")
    assert set(entry["by_level"]) == {"1", "2"} and set(entry["by_family"]) == {"x", "y"}
    assert entry["by_level"]["1"]["accuracy"]["value"] == pytest.approx(0.5)
    assert entry["by_level"]["2"]["accuracy"]["value"] == 0.0
    assert entry["by_family"]["x"]["pass_at_k"]["2"] == pytest.approx(5 / 6)


def test_tool_calls_are_averaged_when_the_env_reports_them():
    rs = [_record("A", i, True, "1", 3, level=1, family=None, tool_calls=c) for i, c in enumerate([0, 1, 2, 5])]
    m = group_metrics(rs)
    assert m["tool_calls"] == {"mean": pytest.approx(2.0)}


def test_same_task_id_at_two_levels_counts_as_two_tasks():
    rs = [_record("A", 0, True, "1", 3, level=1, family=None), _record("A", 0, False, "2", 3, level=2, family=None)]
    m = group_metrics(rs)
    assert m["tasks"] == 2 and m["samples_per_task"] == 1
    assert m["accuracy"]["value"] == pytest.approx(0.5)


def test_summarize_keeps_env_policy_pairs_apart(two_tasks):
    other = [{**r, "policy": "q", "correct": True, "reward": 1.0} for r in two_tasks]
    entries = summarize(two_tasks + other)
    assert [(e["env"], e["policy"]) for e in entries] == [("toy", "p"), ("toy", "q")]
    assert entries[1]["accuracy"]["value"] == 1.0
