"""Our verifier against someone else's ground truth: reasoning-gym's procedural tasks (offline).

For a few hundred reasoning-gym tasks of the kinds our envs also pose (arithmetic, letter counting,
spelling backwards, picking the largest of several numbers, ...), `AnswerReward` must score the
gold answer, boxed, as right every time, and perturbed answers (off by one, a digit or letter
changed, two letters or words swapped) as wrong every time. reasoning-gym's own `score_answer`
is consulted too: it must give its gold full marks, and it must agree that the whole-unit and
letter perturbations are wrong, so the test checks agreement rather than our own opinion twice.
"""

from __future__ import annotations

from decimal import Context, Decimal

import pytest
import reasoning_gym  # a dev dependency: a missing one must fail here, not skip

from llmgym.rewards.answer import AnswerReward
from llmgym.types import Task

PER_DATASET = 30
SEED = 20240601
# reasoning-gym dataset -> how our verifier compares its answers.
DATASETS = {
    "basic_arithmetic": "number",
    "chain_sum": "number",
    "products": "number",
    "decimal_chain_sum": "number",
    "decimal_arithmetic": "number",
    "count_bits": "number",
    "leg_counting": "number",
    "letter_counting": "number",
    "number_format": "number",  # the largest/smallest of several numbers: 9.11 vs 9.9 at scale
    "spell_backward": "string",
    "word_sequence_reversal": "string",
}
# reasoning-gym forgives a small error in the last place for these (decimal_arithmetic: one unit
# of its precision; number_format: 0.01), where we demand the number the task asks for. So a
# last-digit perturbation is checked against our verifier only; whole-unit ones against both.
LAST_DIGIT_LENIENT = {"decimal_arithmetic", "number_format"}


def entries(name: str) -> list[tuple[object, dict]]:
    dataset = reasoning_gym.create_dataset(name, size=PER_DATASET, seed=SEED)
    return [(dataset, entry) for entry in dataset]


def number_perturbations(gold: str) -> tuple[list[str], list[str]]:
    """(whole-unit changes, last-digit changes) of a numeric gold answer, exactly as written."""
    # A context of our own: reasoning-gym's decimal tasks lower the global decimal precision.
    exact = Context(prec=200)
    value = Decimal(gold)
    whole = [str(exact.add(value, 1)), str(exact.subtract(value, 1))]
    last = int(gold[-1])
    last_digit = [gold[:-1] + str((last + 1) % 10)] if "." in gold else []
    return whole, last_digit


def string_perturbations(gold: str) -> list[str]:
    """A changed last letter, a dropped last character, and the first two different items swapped."""
    out = [gold[:-1] + ("a" if gold[-1].lower() != "a" else "b"), gold[:-1]]
    items = gold.split(", ") if ", " in gold else list(gold)
    joiner = ", " if ", " in gold else ""
    for i in range(len(items) - 1):
        if items[i].lower() != items[i + 1].lower():
            items[i], items[i + 1] = items[i + 1], items[i]
            out.append(joiner.join(items))
            break
    return out


def score(task: Task, answer: str) -> float:
    completion = f"Working through it step by step.\nFinal answer: \\boxed{{{answer}}}"
    return AnswerReward().score(completion, task).value


def test_suite_covers_a_few_hundred_tasks_and_every_dataset_exists():
    total = sum(len(entries(name)) for name in DATASETS)
    assert total == PER_DATASET * len(DATASETS) >= 300


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_gold_answers_score_one_and_perturbed_answers_zero(name):
    answer_type = DATASETS[name]
    gold_wrong, perturbed_right, rg_disagrees = [], [], []
    for dataset, entry in entries(name):
        gold = entry["answer"]
        task = Task(entry["question"], gold, {"answer_type": answer_type, "family": name})
        assert dataset.score_answer(gold, entry) == 1.0, "reasoning-gym rejects its own gold"
        if score(task, gold) != 1.0:
            gold_wrong.append(gold)
        if answer_type == "number":
            whole, last_digit = number_perturbations(gold)
            checked_by_both = whole + ([] if name in LAST_DIGIT_LENIENT else last_digit)
            ours_only = last_digit if name in LAST_DIGIT_LENIENT else []
        else:
            checked_by_both, ours_only = string_perturbations(gold), []
        for wrong in checked_by_both + ours_only:
            if score(task, wrong) != 0.0:
                perturbed_right.append((gold, wrong))
        rg_disagrees += [(gold, w) for w in checked_by_both if dataset.score_answer(w, entry) >= 1.0]
    assert not rg_disagrees, f"not wrong by reasoning-gym's own scorer either: {rg_disagrees[:5]}"
    assert not gold_wrong, f"{len(gold_wrong)}/{PER_DATASET} gold answers scored 0: {gold_wrong[:5]}"
    assert not perturbed_right, f"{len(perturbed_right)} perturbed answers scored 1: {perturbed_right[:5]}"


def test_number_format_gold_with_thousands_separators_is_accepted_as_reasoning_gym_does():
    for dataset, entry in entries("number_format"):
        task = Task(entry["question"], entry["answer"], {"answer_type": "number"})
        whole, _, frac = entry["answer"].partition(".")
        with_commas = f"{int(whole):,}" + (f".{frac}" if frac else "")
        assert dataset.score_answer(with_commas, entry) == 1.0
        assert score(task, with_commas) == 1.0, with_commas
