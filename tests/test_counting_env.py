"""The `counting` env: answers recomputed here from the prompt, the classic traps, splits, levels."""

from __future__ import annotations

import itertools
import re
import string
from fractions import Fraction
from importlib import resources
from statistics import mean

import pytest

import llmgym
from llmgym import LLMGymError, Task
from llmgym.envs.counting import FAMILIES, LEVELS, CountingEnv, counting_task, load_words
from llmgym.parsing import find_boxed

ALL_FAMILIES = sorted(FAMILIES)


def sample(family: str, level: int, n: int = 40, split: str = "train", seed: int = 0) -> list[Task]:
    return list(CountingEnv(family=family, level=level).tasks(split, n=n, seed=seed))


def correct(env: CountingEnv, completion: str, task: Task) -> float:
    """The answer component alone (the rubric adds a format bonus on top)."""
    return env.rubric.score(completion, task).components["correct"]


def quoted(text: str) -> list[str]:
    return re.findall(r'"([^"]+)"', text)


def recompute(task: Task) -> object:
    """The answer, worked out here from the prompt text alone (not from the env's code or meta)."""
    text, family = task.text, task.meta["family"]
    if family == "letter_count":
        letter, word = quoted(text)[:2]
        return word.count(letter)
    if family == "kth_letter":
        k = int(re.search(r"every (\d+)(?:st|nd|rd|th) letter", text).group(1))
        word = quoted(text)[0]
        start = 0 if "starting with the first letter" in text else k - 1
        return word[start::k]
    if family == "reverse":
        return quoted(text)[0][::-1]
    if family == "compare_decimals":
        numbers = re.findall(r"-?\d+\.\d+", text.split("?")[0])
        pick = max if re.search(r"\b(larger|largest)\b", text) else min
        return pick(numbers, key=Fraction)
    if family == "list_count":
        items = text.splitlines()[1].split(", ")
        target = quoted(text)
        return items.count(target[0]) if target else len(items)
    if family == "symbol_count":
        symbol, line = quoted(text)[0], text.splitlines()[1]
        return line.count(symbol)
    raise AssertionError(f"unknown family {family}")


# -- the contract -----------------------------------------------------------------------------
@pytest.mark.parametrize("family", ALL_FAMILIES)
@pytest.mark.parametrize("level", LEVELS)
def test_every_family_and_level_passes_check_env(family, level):
    llmgym.check_env(CountingEnv(family=family, level=level), n_tasks=16)


def test_mixed_env_passes_check_env_and_draws_every_family():
    env = CountingEnv(level=3)
    llmgym.check_env(env, n_tasks=16)
    assert {t.meta["family"] for t in env.tasks("train", n=120)} == set(FAMILIES)


def test_make_builds_the_registered_env_with_its_arguments():
    env = llmgym.make("counting", family="reverse", level=2)
    assert isinstance(env, CountingEnv) and env.family == "reverse" and env.level == 2
    assert all(t.meta["family"] == "reverse" for t in env.tasks("eval", n=10))


def test_unknown_family_and_bad_inputs_raise_llmgym_errors():
    with pytest.raises(LLMGymError, match="unknown family 'vowels'"):
        CountingEnv(family="vowels")
    with pytest.raises(LLMGymError, match="level"):
        CountingEnv(level=6)
    bad = [("letter_count", {"word": "Straw-berry", "letter": "r"}),
           ("letter_count", {"word": "strawberry", "letter": "rr"}),
           ("kth_letter", {"word": "cat", "k": 3}),
           ("compare_decimals", {"numbers": ["9.9", "9.90"]}),
           ("compare_decimals", {"numbers": ["nine"]}),
           ("symbol_count", {"text": "**\\**", "symbol": "*"}),
           ("reverse", {"wrod": "cat"})]
    for family, params in bad:
        with pytest.raises(LLMGymError):
            counting_task(family, **params)


# -- answers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_answers_match_an_independent_recomputation_from_the_prompt(family):
    for level in LEVELS:
        for task in sample(family, level, n=30):
            assert task.answer == recompute(task), task.text
            assert task.meta["family"] == family and task.meta["level"] == level
            assert task.meta["answer_type"] == ("string" if family in ("kth_letter", "reverse") else "number")


def test_strawberry_has_three_rs():
    task = counting_task("letter_count", word="strawberry", letter="r")
    assert task.answer == 3
    env = CountingEnv(family="letter_count")
    env.reset(seed=0, options={"task": task})
    assert env.step("Spelling it out: s-t-r-a-w-b-e-r-r-y, so \\boxed{3}")[1] == env.reward_bounds[1]
    env.reset(seed=0, options={"task": task})
    _, reward, _, _, info = env.step("There are \\boxed{2} r's in strawberry.")
    assert info["reward_components"]["correct"] == 0.0 and info["reason"] == "wrong"
    assert reward < 1.0


def test_every_third_letter_of_ubiquitous():
    # u b i q u i t o u s: letters 3, 6, 9 are i, i, u; from the first letter on, 1, 4, 7, 10.
    assert counting_task("kth_letter", word="ubiquitous", k=3).answer == "iiu"
    assert counting_task("kth_letter", word="ubiquitous", k=3, from_first=True).answer == "uqts"
    assert counting_task("reverse", word="ubiquitous").answer == "suotiuqibu"


def test_9_9_is_larger_than_9_11_and_9_11_is_not_accepted():
    task = counting_task("compare_decimals", numbers=["9.11", "9.9"], largest=True)
    assert task.answer == "9.9"
    assert counting_task("compare_decimals", numbers=["9.11", "9.9"], largest=False).answer == "9.11"
    env = CountingEnv(family="compare_decimals")
    assert correct(env, "\\boxed{9.9}", task) == 1.0
    assert correct(env, "\\boxed{9.90}", task) == 1.0  # the same number, written differently
    assert correct(env, "\\boxed{9.11}", task) == 0.0
    # A neighbour closer than the verifier's rounding tolerance is still another number.
    close = counting_task("compare_decimals", level=5, numbers=["999.2", "999.1999"], largest=True)
    assert correct(env, "\\boxed{999.2}", close) == 1.0
    assert correct(env, "\\boxed{999.1999}", close) == 0.0


def perturbations(task: Task) -> list[str]:
    """Answers that are wrong for `task`: off by one, a letter changed or moved, another candidate."""
    answer = task.answer
    if task.meta["family"] == "compare_decimals":
        return [x for x in task.meta["numbers"] if x != answer]
    if isinstance(answer, int):
        return [str(answer + 1)] + ([str(answer - 1)] if answer > 0 else [])
    out = [answer[:-1] + ("a" if answer[-1] != "a" else "b"), answer + answer[-1]]
    swap = next((i for i in range(len(answer) - 1) if answer[i] != answer[i + 1]), None)
    if swap is not None:
        out.append(answer[:swap] + answer[swap + 1] + answer[swap] + answer[swap + 2:])
    return out


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_reference_solutions_score_full_marks_and_wrong_answers_zero(family):
    env = CountingEnv(family=family)
    for level in LEVELS:
        for task in sample(family, level, n=15, split="eval"):
            solution = env.reference(task)
            assert find_boxed(solution) == [str(task.answer)], "exactly one box, holding the answer"
            score = env.rubric.score(solution, task)
            assert score.value == env.reward_bounds[1] and score.reason is None, (task.text, score)
            assert score.components["length"] == 1.0, "a reference walk stays within the length budget"
            for wrong in perturbations(task):
                assert correct(env, f"\\boxed{{{wrong}}}", task) == 0.0, (task.text, wrong)


def test_solutions_walk_through_every_character():
    task = counting_task("letter_count", level=2, word="banana", letter="a")
    steps = [line for line in task.meta["solution"].splitlines() if re.match(r"\d+\. ", line)]
    assert [line.split()[1] for line in steps] == list("banana")
    running = [m.group(1) if (m := re.search(r"number (\d+)$", line)) else None for line in steps]
    assert running == [None, "1", None, "2", None, "3"]
    symbols = counting_task("symbol_count", text="#*##", symbol="#").meta["solution"]
    assert "1. #  <- \"#\" number 1" in symbols and "4. #  <- \"#\" number 3" in symbols


def test_compare_decimals_always_holds_the_short_versus_long_decimal_trap():
    # Every task has a shorter decimal part that is larger in value, like 9.9 against 9.11.
    for level in LEVELS:
        for task in sample("compare_decimals", level, n=30):
            fracs = [x.partition(".")[2] for x in task.meta["numbers"]]
            assert any(len(a) < len(b) and int(a) < int(b) and Fraction(f"0.{a}") > Fraction(f"0.{b}")
                       for a, b in itertools.permutations(fracs, 2)), task.text


# -- determinism, splits, levels ---------------------------------------------------------------
def test_same_seed_gives_the_same_tasks_and_a_new_seed_new_ones():
    first = [t.to_dict() for t in CountingEnv(level=2).tasks("train", n=40, seed=7)]
    again = [t.to_dict() for t in CountingEnv(level=2).tasks("train", n=40, seed=7)]
    other = [t.to_dict() for t in CountingEnv(level=2).tasks("train", n=40, seed=8)]
    assert first == again and first != other
    env_a, env_b = CountingEnv(level=4), CountingEnv(level=4)
    assert env_a.reset(seed=3) == env_b.reset(seed=3)


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_eval_split_never_overlaps_train(family):
    env = CountingEnv(family=family, level=1)
    train = {t.text for t in env.tasks("train", n=300)}
    evals = {t.text for t in env.tasks("eval", n=100)}
    assert len(train) == 300 and len(evals) == 100
    assert not train & evals


DIFFICULTY = {
    "letter_count": lambda t: len(t.meta["word"]),
    "reverse": lambda t: len(t.meta["word"]),
    "kth_letter": lambda t: len(t.meta["word"]) + t.meta["k"],
    "compare_decimals": lambda t: len(t.meta["numbers"]) + max(len(x) for x in t.meta["numbers"]),
    "list_count": lambda t: len(t.meta["items"]),
    "symbol_count": lambda t: len(t.meta["text"]),
}


@pytest.mark.parametrize("family", ALL_FAMILIES)
def test_difficulty_grows_with_level(family):
    means = [mean(DIFFICULTY[family](t) for t in sample(family, level, n=60)) for level in LEVELS]
    assert all(a < b for a, b in zip(means, means[1:])), means


# -- the word list -----------------------------------------------------------------------------
def test_word_list_ships_as_package_data_with_its_licence():
    data = resources.files("llmgym.envs").joinpath("data")
    words = data.joinpath("words.txt").read_text().split()
    assert words == list(load_words()) and len(words) == len(set(words)) > 5000
    assert all(set(w) <= set(string.ascii_lowercase) and 3 <= len(w) <= 16 for w in words)
    assert {"strawberry", "ubiquitous", "banana"} <= set(words)
    readme = data.joinpath("README.md").read_text()
    assert "wonderwords" in readme and "MIT License" in readme
