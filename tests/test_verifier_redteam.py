"""The verifier against a policy that searches for reward: hedges, negations, disagreeing formats and
injected braces score 0; the forms a right answer really takes score 1; degenerate input is linear.

Every case the reliability review listed is a row here. The generated families of
`llmgym.rewards.redteam` then run over tasks of every math family and level and of counting, with
the floors of the review: no false positive at all, at least 99% of legitimate forms accepted.
"""

from __future__ import annotations

import pytest

import llmgym
from llmgym import Task
from llmgym.parsing import extract_answer
from llmgym.rewards.answer import AnswerReward
from llmgym.rewards.redteam import red_team, sample_tasks
from llmgym.rewards.verify import answers_match


def _score(completion: str, gold, answer_type: str | None = "number", question: str = "What is it?") -> float:
    meta = {"answer_type": answer_type} if answer_type else {}
    return AnswerReward().score(completion, Task(question, gold, meta)).value


# (completion, gold) pairs that a verifier once credited and must not.
MUST_SCORE_ZERO = [
    (r"\boxed{12 is wrong}", "12"),
    (r"\boxed{12 is not the answer}", "12"),
    (r"\boxed{12 or maybe more}", "12"),
    (r"\boxed{7 or eight}", "7"),
    (r"\boxed{12 \text{ (or 13)}}", "12"),
    (r"<answer>12} or {13</answer>", "12"),
    (r"#### 12} or {13", "12"),
    ("\\boxed{12}\n#### 13", "12"),
    ("\\boxed{12}\n#### 13", "13"),
    (r"\boxed{12} <answer>13</answer>", "12"),
    (r"\boxed{12} <answer>13</answer>", "13"),
    (r"\boxed{x = 1 \lor x = 2}", "2"),
    ("It is either 13 or 12.", "12"),
    ("The answer is not 12.", "12"),
    ("12 is wrong.", "12"),
]

# Right answers that a verifier once scored 0.
MUST_SCORE_ONE = [
    (r"#### \{-6, 8\}", r"\{-6, 8\}", "set"),
    (r"The answer is \frac{9}{8}.", "9/8", "number"),
    (r"\boxed{((((((((7))))))))}", "7", "number"),
    (r"\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}", "(2, 2), (6, 2)", None),
    (r"so the answer is \dfrac{1}{3}", "1/3", "number"),
    (r"which gives \tfrac13", "1/3", "number"),
    (r"Hence \frac{10}{9}", "10/9", "number"),
    (r"The length is \sqrt3", r"\sqrt{3}", "expression"),
    (r"so x = \left( \frac{1}{3} \right)", "1/3", "number"),
    (r"It is \frac{1}{3} \text{meters}", "1/3", "number"),
]


@pytest.mark.parametrize("completion,gold", MUST_SCORE_ZERO)
def test_hedges_negations_and_injected_braces_score_zero(completion, gold):
    assert _score(completion, gold) == 0.0


@pytest.mark.parametrize("completion,gold,kind", MUST_SCORE_ONE)
def test_real_forms_of_a_right_answer_score_one(completion, gold, kind):
    assert _score(completion, gold, kind) == 1.0


def test_fallback_reads_the_last_expression_not_the_last_number():
    assert extract_answer(r"Hence \frac{10}{9}").text == r"\frac{10}{9}"  # not 9
    assert _score(r"Hence \frac{10}{9}", "9") == 0.0


def test_several_boxes_are_a_set_only_when_the_gold_is_one():
    boxes = r"\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}"
    assert _score(boxes, "(2, 2), (6, 2)", None) == 1.0
    assert _score(boxes, "(2, 2)", None) == 0.0                       # two values for one: a hedge
    assert _score(boxes + r" and \boxed{(7, 7)}", "(2, 2), (6, 2)", None) == 0.0  # an extra element
    assert _score(r"\boxed{1} or \boxed{2}", r"\{1, 2\}", "set") == 1.0
    assert _score(r"\boxed{1} or \boxed{2}", "2") == 0.0


def test_words_after_a_value_must_be_units_suffixes_or_words_of_the_question():
    assert _score(r"\boxed{5 apples}", "5", question="How many apples does Ana have?") == 1.0
    assert _score(r"\boxed{5 apples}", "5", question="What is 2 + 3?") == 0.0
    assert _score(r"\boxed{5 \text{ cm}}", "5") == 1.0
    assert _score(r"\boxed{12 in total}", "12") == 1.0
    assert _score(r"\boxed{12 xyzzy}", "12") == 0.0
    # hedge words stay hedges even when the question uses them
    assert _score(r"\boxed{12 or more}", "12", question="Is it 12 or more?") == 0.0


# Decisions the review asked to make, pinned: see rewards/verify.py's docstring.
@pytest.mark.parametrize("completion,gold,expected", [
    (r"\boxed{0.333333}", "1/3", 1.0),   # the correct rounding
    (r"\boxed{0.333334}", "1/3", 0.0),   # no rounding of 1/3 ends in 4
    (r"\boxed{0.33}", "1/3", 0.0),       # too coarse: over 10^-6 relative error
    ("#### 1,2", "12", 0.0),             # two numbers, not a thousands separator
    ("#### 1,234", "1234", 1.0),         # groups of three are a thousands separator
    (r"\boxed{3 4}", "34", 0.0),         # two numbers
    (r"\boxed{1\,000}", "1000", 1.0),    # a thin space between groups of three
])
def test_rounding_and_digit_grouping_decisions(completion, gold, expected):
    assert _score(completion, gold) == expected


def test_reasons_name_what_went_wrong():
    assert answers_match("12 is wrong", "12") == (False, "hedged")
    assert answers_match("12, 13", "12") == (False, "hedged")
    assert answers_match("12 xyzzy", "12") == (False, "extra_text")
    assert answers_match("12} or {13", "12") == (False, "unparsable")
    reward = AnswerReward()
    assert reward.score("It is either 13 or 12.", Task("q", "12", {})).reason == "hedged"


# Inputs that took 8-50 s per step through a backtracking regex; now linear. The timeout is a guard
# against a hang, not a speed assertion: benchmarks/bench_verifier.py prints the times.
DEGENERATE = {
    "hash line, 60,000 spaces, x": "#### 1" + " " * 60_000 + "x",
    "65,536 newlines": "\n" * 65_536 + "1",
    "tab-newline runs": "\t\n" * 500_000 + "\\boxed{1}",
    "repeated unclosed <answer>": "<answer>" * 200_000 + "1",
    "repeated closed tags": "<answer>1</answer>\n" * 100_000,
    "newline runs between formats": "#### 1" + "\n\t" * 100_000 + "<answer>1</answer>",
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_whitespace_and_tags_parse_and_score(name):
    env = llmgym.make("math", level=1)
    env.reset(seed=0)
    *_, info = env.step(DEGENERATE[name])
    assert info["reason"] is None or isinstance(info["reason"], str)


def test_degenerate_whitespace_does_not_hide_a_box():
    assert extract_answer("\\boxed{13}" + "\n" * 65_536 + "12").text == "13"
    assert _score("\\boxed{12}" + "\n" * 65_536, "12") == 1.0
    assert _score("x" * 100_000 + " 12", "12") == 0.0  # the start was not read: no last-number credit


def _table(results) -> str:
    return "\n".join(f"  {family:<22} {r.errors}/{r.n}  e.g. {r.examples[:2]}" for family, r in results.items())


@pytest.mark.timeout(600)
def test_red_team_finds_no_false_positive_and_accepts_legitimate_forms():
    tasks, reference = sample_tasks(n_per_level=2, seed=1)
    reward = AnswerReward()
    fp, fn = red_team(reward.score, tasks, reference=reference, skip=("huge",))
    huge_fp, _ = red_team(reward.score, tasks[:: len(tasks) // 3][:3], reference=None)
    false_positives = {f: r for f, r in {**fp, "huge": huge_fp["huge"]}.items() if r.errors}
    assert not false_positives, "false positives:\n" + _table(false_positives)
    accepted = sum(r.n - r.errors for r in fn.values()) / sum(r.n for r in fn.values())
    assert accepted >= 0.99, f"{accepted:.2%} of legitimate forms accepted:\n" + _table(fn)
    assert sum(r.n for r in fp.values()) > 3000 and len(fn) >= 8  # the families really ran
