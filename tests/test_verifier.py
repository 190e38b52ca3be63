"""The shared answer verifier: equivalences, hostile input, hedging, threads and process pools."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from llmgym import Rubric, Task
from llmgym.rewards import verify_worker
from llmgym.rewards.answer import AnswerReward, FormatReward, LengthReward, distinct_answers
from llmgym.rewards.verify import answers_match, infer_answer_type, parse_number, prefilter

# Textbook identities: (predicted, gold, answer_type). Each must match.
EQUIVALENT = [
    ("0.5", "1/2", "number"),
    ("\\frac{1}{2}", "0.5", "number"),
    ("\\frac{2}{4}", "1/2", "number"),
    ("\\dfrac{3}{4}", "0.75", "number"),
    ("-\\frac{6}{4}", "-1.5", "number"),
    ("x=3", "3", "number"),
    ("x = -2", "-2", None),
    ("1,000", "1000", "number"),
    ("$5", "5", "number"),
    ("\\$2.50", "2.5", "number"),
    ("5 cm", "5", "number"),
    ("5\\text{ cm}", "5", "number"),
    ("12.0", "12", "number"),
    ("0.3333333", "1/3", "number"),
    ("{1,2}", "{2, 1}", "set"),
    ("\\{2, 1\\}", "\\{1, 2\\}", "set"),
    ("x = 1 \\text{ or } x = 2", "\\{1, 2\\}", "set"),
    ("-3, 4", "\\{-3, 4\\}", "set"),
    ("(1, 2]", "(1, 2]", "interval"),
    ("1 < x \\le 2", "(1, 2]", "interval"),
    ("(-\\infty, 3)", "(-\\infty, 3)", "interval"),
    ("\\sqrt{8}", "2\\sqrt{2}", "expression"),
    ("(x+2)(x-3)", "x^{2} - x - 6", "expression"),
    ("\\sin^2 x + \\cos^2 x", "1", "expression"),
    ("\\frac{x^2-1}{x-1}", "x + 1", "expression"),
    ("2x \\ln x + x", "2 x \\ln{\\left(x \\right)} + x", "expression"),
    ("-2x e^{-x^2}", "- 2 x e^{- x^{2}}", "expression"),
    ("3 \\pm \\sqrt{15}", "\\{3 - \\sqrt{15}, 3 + \\sqrt{15}\\}", "set"),
    ("y = 2x + 1", "y = 1 + 2x", "equation"),
    (" \"Strawberry\". ", "strawberry", "string"),
    ("\\text{Yes}", "yes", "string"),
    ("7", 7, None),
    ("2.5", 2.5, None),
]

# Pairs that look alike but are not equal. Each must score 0 with reason "wrong".
DIFFERENT = [
    ("0.33", "1/3", "number"),
    ("2", "1/2", "number"),
    ("-3", "3", "number"),
    ("{1, 2}", "{1, 2, 3}", "set"),
    ("{1, 3}", "\\{1, 2\\}", "set"),
    ("[1, 2]", "(1, 2]", "interval"),
    ("x^{3}", "x^{2}", "expression"),
    ("(x+1)(x-3)", "x^{2} - x - 6", "expression"),
    ("2\\sqrt{3}", "\\sqrt{8}", "expression"),
    ("\\frac{1}{23}", "\\frac{12}{3}", "expression"),  # the same characters, grouped differently
    ("2*3", "23", "expression"),
    ("\\{1, 2\\}", "\\{1 - \\sqrt{2}, 1 + \\sqrt{2}\\}", "set"),
    # math-verify would read both as a product of the same symbols: strings are never symbolic
    ("yrrebwarts", "strawberry", "string"),
    ("bac", "abc", "string"),
]

TEN_MB = "x" * (10 * 1024 * 1024)
HOSTILE = {
    "10 MB string": TEN_MB,
    "10 MB inside a box": "\\boxed{" + "1+" * (5 * 1024 * 1024) + "1}",
    "2,000-deep nested box": "\\boxed{" * 2000 + "3" + "}" * 2000,
    "unbalanced braces": "\\boxed{\\frac{7}{" + "{" * 50 + "}",
    "unbalanced box content": "\\boxed{7}}}}{{{{\\boxed{\\frac{1}{{2}}",
    "1e999999": "\\boxed{1e999999}",
    "bare 1e999999": "the answer is 1e999999",
    "NUL bytes": "\x00" * 100_000 + "\\boxed{\x00\x00}",
    "mixed scripts": "Ответ: \\boxed{三} 🤖 ١٢٣",
    "power tower": "\\boxed{9^{9^{9^{9}}}}",
    "plain power tower": "\\boxed{2^2^2^2^2^2}",
    "huge power": "\\boxed{10^{100000000}}",
    "huge factorial": "\\boxed{100000000!}",
    "factorial of a power": "\\boxed{(10^{10})!}",
    "deep parentheses": "\\boxed{" + "(" * 500 + "1" + ")" * 500 + "}",
    "many different boxes": "".join(f"\\boxed{{{i}}}" for i in range(5000)),
    "control characters": "\\boxed{\x07\x1b[31m7\x7f}",
}


@pytest.mark.parametrize("pred,gold,kind", EQUIVALENT)
def test_textbook_equivalences_match(pred, gold, kind):
    assert answers_match(pred, gold, kind) == (True, None)


@pytest.mark.parametrize("pred,gold,kind", DIFFERENT)
def test_non_equivalent_answers_score_wrong(pred, gold, kind):
    assert answers_match(pred, gold, kind) == (False, "wrong")


@pytest.mark.timeout(60)  # a guard against hangs, not a speed assertion
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_completions_score_zero_with_a_reason(name):
    task = Task("What is 1 + 2?", "3", {"answer_type": "number"})
    # one closed box of odd text is well-formed, just wrong; the rest also fails the format
    well_formed = ("mixed scripts", "control characters", "unbalanced box content")
    rewards = (AnswerReward(),) if name in well_formed else (AnswerReward(), FormatReward())
    for reward in rewards:
        score = reward.score(HOSTILE[name], task)
        assert score.value == 0.0 and score.reason, (name, reward.name, score)
        assert score.answer is None or len(score.answer) <= 1000


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["expression", "set", "interval", "equation", "string", None])
def test_hostile_answers_never_raise_whatever_the_answer_type(kind):
    for text in HOSTILE.values():
        ok, reason = answers_match(text, "x + 1", kind)
        assert ok is False and reason


def test_prefilter_stops_what_would_hang_sympy_before_it_starts():
    assert prefilter("9^{9^{9^{9}}}") == (None, "too_complex")
    assert prefilter("2**2**100") == (None, "too_complex")
    assert prefilter("9^{\\cdot 9^{9}}") == (None, "too_complex")
    assert prefilter("-2x e^{-x^{2}}") == ("-2x e^{-x^{2}}", None)  # a variable keeps a tower symbolic
    assert prefilter("e^{x^{100000}}") == (None, "too_complex")
    assert prefilter("(10^{9999})^{9999}") == (None, "too_complex")
    assert prefilter("{10^{9999}}^{9999}") == (None, "too_complex")
    assert prefilter("(x^{2} + 1)^{3}") == ("(x^{2} + 1)^{3}", None)
    assert prefilter("1000000!") == (None, "too_complex")
    assert prefilter("5!") == ("5!", None)
    assert prefilter("x^{2} + 2^{10}") == ("x^{2} + 2^{10}", None)
    assert prefilter("\\frac{1}{2") == (None, "unparsable")
    assert prefilter("1" * 2000) == (None, "too_long")
    assert prefilter(" \x00 ") == (None, "no_answer")


def test_numbers_parse_exactly():
    assert parse_number("-\\frac{6}{4}") == parse_number("-3/2") == parse_number("-1.5")
    assert parse_number("$1,250.50") == parse_number("1250.5")
    assert parse_number("x + 1") is None and parse_number("") is None and parse_number(float("nan")) is None
    assert parse_number("١٢٣") is None  # Arabic-Indic digits are not read as 123


def test_answer_type_is_inferred_when_a_task_does_not_say():
    assert [infer_answer_type(g) for g in (3, "1/2", "{1, 2}", "(0, 1]", "y = 2x", "x^2 + 1", "Paris")] == [
        "number", "number", "set", "interval", "equation", "expression", "string"]
    assert answers_match("paris", "Paris") == (True, None)


def test_hedging_between_different_boxed_answers_scores_zero():
    task = Task("What is 1 + 2?", "3", {"answer_type": "number"})
    for text in ("\\boxed{3} or \\boxed{4}", "maybe \\boxed{4}, or rather \\boxed{3}"):
        assert AnswerReward().score(text, task).reason == "hedged"
        assert FormatReward().score(text, task).reason == "hedged"
    repeated = "so \\boxed{3}. Final answer: \\boxed{3.0}"
    assert AnswerReward().score(repeated, task).value == 1.0 and FormatReward().score(repeated, task).value == 1.0
    assert distinct_answers(["3", "3.0", "\\frac{6}{2}"]) == 1


def test_last_number_fallback_credits_the_answer_but_not_the_format():
    task = Task("What is 1 + 2?", "3", {"answer_type": "number"})
    assert AnswerReward().score("1 + 2 makes 3", task).value == 1.0
    assert FormatReward().score("1 + 2 makes 3", task).reason == "no_boxed"
    assert AnswerReward().score("I am not sure", task).reason == "no_answer"
    assert AnswerReward().score("\\boxed{4}", task).reason == "wrong"


def test_length_reward_decays_beyond_the_budget():
    length = LengthReward(budget=100)
    assert [length.score("a" * n, None).value for n in (50, 100, 150, 200, 500)] == [1.0, 1.0, 0.5, 0.0, 0.0]
    assert LengthReward(budget=3, count_tokens=lambda t: len(t.split())).score("a b c d", None).value < 1


def test_score_batch_agrees_with_score_and_verifies_repeats_once(monkeypatch):
    tasks = [Task("q", "x^{2} - 1", {"answer_type": "expression"}), Task("q2", "5", {"answer_type": "number"})]
    completions = ["\\boxed{(x-1)(x+1)}", "\\boxed{(x-1)(x+1)}", "\\boxed{x^2}", "\\boxed{5}", "\\boxed{6}"]
    batch_tasks = [tasks[0]] * 3 + [tasks[1]] * 2
    calls = []
    real = verify_worker.symbolic_match
    monkeypatch.setattr(verify_worker, "symbolic_match", lambda *a, **k: calls.append(a) or real(*a, **k))
    scores = AnswerReward().score_batch(completions, batch_tasks)
    assert [s.value for s in scores] == [1.0, 1.0, 0.0, 1.0, 0.0]
    assert len(calls) == 2  # the repeated symbolic answer once, x^2 once; numbers never
    assert scores == [AnswerReward().score(c, t) for c, t in zip(completions, batch_tasks)]


def test_rubric_of_the_three_rewards_reports_each_component():
    rubric = Rubric([(AnswerReward(), 1.0), (FormatReward(), 0.1), (LengthReward(), 0.0)])
    score = rubric.score("\\boxed{3}", Task("1 + 2?", "3", {"answer_type": "number"}))
    assert score.value == pytest.approx(1.1) and score.components == {"correct": 1.0, "format": 1.0, "length": 1.0}


def test_random_text_never_raises():
    rng = random.Random(0)
    alphabet = "0123456789+-*/^(){}[]\\,.=xe !$%abcfrqtsin\x00三😀"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        for gold, kind in (("3", "number"), ("\\{1, 2\\}", "set"), ("yes", "string")):
            ok, reason = answers_match(text, gold, kind)
            assert isinstance(ok, bool) and (ok or reason)


def _score_pairs(pairs):
    return [answers_match(p, g, k) for p, g, k in pairs]


def test_scoring_from_worker_threads_gives_the_same_verdicts():
    pairs = (EQUIVALENT + DIFFERENT) * 2
    expected = _score_pairs(pairs)
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: answers_match(*p), pairs))
    assert got == expected


def test_scoring_from_a_forked_process_pool_works():
    verify_worker.warm()  # the parent's worker exists before the fork: children must not share it
    pairs = [("\\sqrt{8}", "2\\sqrt{2}", "expression"), ("x^{3}", "x^{2}", "expression"),
             ("0.5", "1/2", "number"), ("{2, 1}", "{1, 2}", "set")]
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:  # one child: each starts sympy
        results = list(pool.map(_score_pairs, [pairs, pairs[::-1]]))
    assert results[0] == [(True, None), (False, "wrong"), (True, None), (True, None)]
    assert results[1] == results[0][::-1]
    assert answers_match("\\sqrt{8}", "2\\sqrt{2}", "expression") == (True, None)  # parent's still works


def test_a_stuck_worker_is_killed_at_the_deadline_and_replaced():
    assert verify_worker.warm()
    worker = verify_worker._VERIFIER._current()
    os.kill(worker.proc.pid, signal.SIGSTOP)  # as stuck as a C-level big-integer power
    try:
        assert verify_worker.symbolic_match("x + 1", "x + 2", "expression", timeout=0.2) == (False, "timeout")
    finally:
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGCONT)
    assert worker.proc.poll() is not None  # killed, not left behind
    assert answers_match("(x+1)^2", "x^{2} + 2x + 1", "expression") == (True, None)

def test_the_worker_holds_math_verify_and_not_the_llmgym_package():
    # It runs for the whole of a training run beside the trainer, so what it imports is memory the run
    # holds: the llmgym package would bring gymnasium and numpy, which the child never uses.
    assert verify_worker.warm()
    worker = verify_worker._VERIFIER._current()
    assert verify_worker.symbolic_match("x^{2} - x - 6", "(x+2)(x-3)", "expression") == (True, None)
    with open(f"/proc/{worker.proc.pid}/maps") as f:  # the files the child has mapped
        maps = f.read()
    assert "_multiarray_umath" not in maps  # numpy's core library, mapped by any process that imports numpy



def test_soft_timeout_inside_the_worker_reports_timeout():
    ok, reason = verify_worker.symbolic_match("(x+1)^{40} - (x-1)^{40}", "x^{2}", "expression", timeout=0.01)
    assert (ok, reason) in ((False, "timeout"), (False, "wrong"))  # "wrong" only if sympy beat 10 ms
    assert answers_match("\\sqrt{8}", "2\\sqrt{2}", "expression") == (True, None)


def test_a_worker_that_cannot_start_scores_verifier_error_and_backs_off(monkeypatch):
    monkeypatch.setattr(verify_worker.sys, "executable", "/bin/false")  # dies before saying "ready"
    verifier = verify_worker.SymbolicVerifier()
    assert verifier.match("x + 1", "1 + x", "expression") == (False, "verifier_error")
    assert verifier._worker is None  # nothing left running or restarted in a loop
    assert verifier.match("x + 1", "1 + x", "expression") == (False, "verifier_error")
    assert verifier._worker is None and verifier.warm() is False
