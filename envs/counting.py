"""`counting`: the tasks that trip models because they see tokens, not characters.

How many r's are in "strawberry"? What is every third letter of "ubiquitous"? Is 9.11 or 9.9
larger? A model reads "strawberry" as two or three tokens, so it never sees the letters it is asked
to count; the fix is to think in small steps (spell the word out, keep a running count) or to use a
tool. Every task here is computed, never looked up, and its reference solution (`meta["solution"]`)
is exactly such a step-by-step walk, ending in ``\\boxed{answer}``, so the env can also teach the
habit by imitation (SFT) before reinforcement learning sharpens it.

Families (`family=` selects one; "mixed", the default, draws from all):

=================  ==========================================  =============================
family             task                                        `level` grows
=================  ==========================================  =============================
letter_count       how often a letter occurs in a word         word length
kth_letter         every k-th letter of a word                 word length and k
reverse            spell a word backwards                      word length
compare_decimals   largest/smallest of decimals (9.11 vs 9.9)  candidates and decimal places
list_count         count the items (or one item) of a list     list size
symbol_count       count a symbol in a run of symbols          run length
=================  ==========================================  =============================

Words come from `data/words.txt` (8,020 common English words, MIT; see `data/README.md`).
`counting_task(family, **params)` builds one specific task, for tests and for hand-made evals:

>>> task = counting_task("letter_count", word="strawberry", letter="r")
>>> task.answer, task.meta["answer_type"]
(3, 'number')
>>> counting_task("kth_letter", word="ubiquitous", k=3).answer
'iiu'
>>> counting_task("compare_decimals", numbers=["9.11", "9.9"], largest=True).answer
'9.9'
"""

from __future__ import annotations

import random
from fractions import Fraction
from functools import lru_cache
from importlib import resources
from typing import Any, Callable, NamedTuple, Sequence

from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.rubric import Rubric
from llmgym.types import Task

LEVELS = (1, 2, 3, 4, 5)
# Word lengths per level; the word list has 300-1300 words of each length up to 10 letters and
# ~630 of 11-16 letters, enough distinct tasks for every split.
WORD_LENGTHS = {1: (3, 4), 2: (5, 6), 3: (7, 8), 4: (9, 10), 5: (11, 16)}
KTH_K = {1: (2, 2), 2: (2, 3), 3: (3, 4), 4: (3, 5), 5: (4, 6)}
LIST_SIZES = {1: (3, 5), 2: (6, 9), 3: (10, 15), 4: (16, 24), 5: (25, 40)}
LIST_VOCAB = {1: (2, 3), 2: (2, 3), 3: (3, 4), 4: (3, 5), 5: (4, 6)}
RUN_LENGTHS = {1: (4, 8), 2: (9, 15), 3: (16, 25), 4: (26, 40), 5: (41, 60)}
# (number of candidates, most decimal places, largest integer part, chance all are negative)
DECIMALS = {1: (2, 2, 20, 0.0), 2: (2, 3, 99, 0.0), 3: (3, 3, 99, 0.0), 4: (4, 4, 999, 0.0),
            5: (5, 4, 999, 0.5)}
# ASCII only, and none that LaTeX or Markdown would eat (\, {, }, _, `).
SYMBOLS = ("*", "#", "@", "+", "=", "%", "&", "~", "^", "|", "o", "x")
BOX_HINT = "Think step by step, then give the final answer in \\boxed{}."
STRING_HINT = "Think step by step, then give the final answer (just the letters, no spaces) in \\boxed{}."


# -- the word list ---------------------------------------------------------------------------
@lru_cache(maxsize=1)
def load_words() -> tuple[str, ...]:
    """The shipped word list (lowercase a-z, 3-16 letters), in file order."""
    text = resources.files("llmgym.envs").joinpath("data", "words.txt").read_text(encoding="utf-8")
    return tuple(w for w in (line.strip() for line in text.splitlines()) if w)


@lru_cache(maxsize=None)
def words_between(lo: int, hi: int) -> tuple[str, ...]:
    """Words with `lo <= len(word) <= hi` letters."""
    return tuple(w for w in load_words() if lo <= len(w) <= hi)


# -- helpers for prompts and solutions ---------------------------------------------------------
def ordinal(n: int) -> str:
    """1 -> '1st', 2 -> '2nd', 11 -> '11th', 23 -> '23rd'."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _boxed(answer: Any) -> str:
    return f"\\boxed{{{answer}}}"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise LLMGymError(message)


def _word(word: Any) -> str:
    _require(isinstance(word, str) and word.isascii() and word.isalpha() and word.islower(),
             f"counting: word must be lowercase letters a-z, got {word!r}")
    return word


def _task(family: str, level: int, prompt: str, answer: Any, answer_type: str, solution: str,
          **inputs: Any) -> Task:
    meta = {"family": family, "level": level, "answer_type": answer_type, "solution": solution, **inputs}
    return Task(prompt, answer, meta)


# -- letter_count ----------------------------------------------------------------------------
def build_letter_count(level: int, word: str, letter: str) -> Task:
    """How many times `letter` occurs in `word` (0 when it does not occur)."""
    word = _word(word)
    _require(isinstance(letter, str) and len(letter) == 1 and letter.isascii() and letter.isalpha(),
             f"counting: letter must be one letter a-z, got {letter!r}")
    letter = letter.lower()
    lines, count = [], 0
    for i, ch in enumerate(word, 1):
        if ch == letter:
            count += 1
            lines.append(f"{i}. {ch}  <- \"{letter}\" number {count}")
        else:
            lines.append(f"{i}. {ch}")
    solution = (f"Spell \"{word}\" one letter at a time and keep a running count of \"{letter}\":\n"
                + "\n".join(lines)
                + f"\nThe word has {len(word)} letters; \"{letter}\" occurs {count} "
                  f"time{'' if count == 1 else 's'}.\n{_boxed(count)}")
    prompt = f"How many times does the letter \"{letter}\" occur in the word \"{word}\"? {BOX_HINT}"
    return _task("letter_count", level, prompt, count, "number", solution, word=word, letter=letter)


def draw_letter_count(rng: random.Random, level: int) -> dict[str, Any]:
    word = rng.choice(words_between(*WORD_LENGTHS[level]))
    if rng.random() < 0.85:
        letter = rng.choice(word)  # by position, so letters that repeat are asked about more often
    else:
        letter = rng.choice(sorted(set("abcdefghijklmnopqrstuvwxyz") - set(word)))
    return {"word": word, "letter": letter}


# -- kth_letter ------------------------------------------------------------------------------
def kth_positions(length: int, k: int, from_first: bool = False) -> list[int]:
    """1-based positions k, 2k, 3k, ... (or 1, 1+k, 1+2k, ... when `from_first`) up to `length`."""
    return list(range(1 if from_first else k, length + 1, k))


def build_kth_letter(level: int, word: str, k: int, from_first: bool = False) -> Task:
    """Every `k`-th letter of `word`, read from the k-th letter on (or from the first)."""
    word = _word(word)
    _require(isinstance(k, int) and not isinstance(k, bool) and k >= 2,
             f"counting: k must be an integer >= 2, got {k!r}")
    positions = kth_positions(len(word), k, from_first)
    _require(len(positions) >= 2, f"counting: \"{word}\" is too short to take two letters every {k}")
    answer = "".join(word[p - 1] for p in positions)
    start = "the first letter" if from_first else f"the {ordinal(k)} letter"
    shown = ", ".join(str(p) for p in positions[:3])
    prompt = (f"Take every {ordinal(k)} letter of the word \"{word}\", starting with {start} "
              f"(so letters {shown}, ...), and write the letters you took in order. {STRING_HINT}")
    picked = set(positions)
    lines = [f"{i}. {ch}" + ("  <- take" if i in picked else "") for i, ch in enumerate(word, 1)]
    solution = (f"Number the letters of \"{word}\" and take positions {', '.join(map(str, positions))}:\n"
                + "\n".join(lines)
                + f"\nThe letters taken, in order: {', '.join(answer)}.\n{_boxed(answer)}")
    return _task("kth_letter", level, prompt, answer, "string", solution,
                 word=word, k=k, from_first=from_first)


def draw_kth_letter(rng: random.Random, level: int) -> dict[str, Any]:
    k = rng.randint(*KTH_K[level])
    from_first = rng.random() < 0.5
    lo, hi = WORD_LENGTHS[level]
    shortest = k + 1 if from_first else 2 * k  # at least two letters taken
    word = rng.choice(words_between(max(lo, shortest), max(hi, shortest)))
    return {"word": word, "k": k, "from_first": from_first}


# -- reverse ---------------------------------------------------------------------------------
def build_reverse(level: int, word: str) -> Task:
    """`word` spelled backwards."""
    word = _word(word)
    answer = word[::-1]
    lines = [f"{i}. {ch}" for i, ch in enumerate(word, 1)]
    solution = (f"Number the letters of \"{word}\":\n" + "\n".join(lines)
                + f"\nRead them from {len(word)} down to 1: {', '.join(answer)}.\n{_boxed(answer)}")
    prompt = f"Spell the word \"{word}\" backwards. {STRING_HINT}"
    return _task("reverse", level, prompt, answer, "string", solution, word=word)


def draw_reverse(rng: random.Random, level: int) -> dict[str, Any]:
    return {"word": rng.choice(words_between(*WORD_LENGTHS[level]))}


# -- compare_decimals ------------------------------------------------------------------------
def _decimal(text: Any) -> Fraction:
    ok = isinstance(text, str) and text.lstrip("-").replace(".", "", 1).isdigit() and not text.endswith(".")
    _require(ok, f"counting: numbers must be decimals written as text like \"9.11\", got {text!r}")
    return Fraction(text)


def build_compare_decimals(level: int, numbers: Sequence[str], largest: bool = True) -> Task:
    """The largest (or smallest) of `numbers`, answered as written in the prompt."""
    numbers = list(numbers)
    _require(len(numbers) >= 2, "counting: compare_decimals needs at least two numbers")
    values = [_decimal(x) for x in numbers]
    _require(len(set(values)) == len(values), f"counting: numbers must differ in value, got {numbers}")
    answer = numbers[values.index(max(values) if largest else min(values))]
    which = "larger" if largest else "smaller"
    if len(numbers) == 2:
        prompt = f"Which number is {which}: {numbers[0]} or {numbers[1]}? {BOX_HINT}"
    else:
        which = "largest" if largest else "smallest"
        prompt = f"Which of these numbers is the {which}: {', '.join(numbers)}? {BOX_HINT}"
    places = max(len(x.partition(".")[2]) for x in numbers)
    padded = [_pad(x, places) for x in numbers]
    order = sorted(range(len(numbers)), key=lambda i: values[i])
    solution = (f"Write every number with {places} decimal place{'s' * (places != 1)}, so the digits "
                "line up, and compare them column by column from the left:\n"
                + "\n".join(f"{x} -> {p}" for x, p in zip(numbers, padded))
                + ("\nFor negative numbers the one further from zero is the smaller." if min(values) < 0 else "")
                + "\nFrom smallest to largest: " + " < ".join(padded[i] for i in order)
                + f".\nThe {which} is {answer}.\n{_boxed(answer)}")
    return _task("compare_decimals", level, prompt, answer, "number", solution,
                 numbers=numbers, largest=largest)


def _pad(number: str, places: int) -> str:
    whole, _, frac = number.partition(".")
    return f"{whole}.{frac.ljust(places, '0')}" if places else whole


def _fraction_digits(rng: random.Random, length: int, first: str = "0123456789") -> str:
    """Random decimal digits without a trailing zero (so the written number is canonical)."""
    digits = [rng.choice(first)] + [rng.choice("0123456789") for _ in range(length - 1)]
    if digits[-1] == "0":
        digits[-1] = rng.choice("123456789")
    return "".join(digits)


def draw_compare_decimals(rng: random.Random, level: int) -> dict[str, Any]:
    count, places, top, negative = DECIMALS[level]
    whole = str(rng.randint(0, top))
    sign = "-" if rng.random() < negative else ""
    # The trap of "9.11 vs 9.9": a shorter decimal part that is larger in value but smaller when
    # read as a whole number (9 < 11). Every task holds one such pair.
    short_len = rng.randint(1, places - 1)
    short = _fraction_digits(rng, short_len, "23456789")
    prefix = str(rng.randint(10 ** (short_len - 1), int(short) - 1)).zfill(short_len)
    long = prefix + _fraction_digits(rng, rng.randint(1, places - short_len))
    fracs = [short, long]
    while len(fracs) < count:
        frac = _fraction_digits(rng, rng.randint(1, places))
        if Fraction(f"0.{frac}") not in {Fraction(f"0.{f}") for f in fracs}:
            fracs.append(frac)
    rng.shuffle(fracs)
    return {"numbers": [f"{sign}{whole}.{f}" for f in fracs], "largest": rng.random() < 0.5}


# -- list_count ------------------------------------------------------------------------------
def build_list_count(level: int, items: Sequence[str], target: str | None = None) -> Task:
    """How many items `items` has, or how many of them equal `target`."""
    items = [_word(w) for w in items]
    _require(len(items) >= 1, "counting: list_count needs a non-empty list")
    shown = ", ".join(items)
    if target is None:
        answer = len(items)
        prompt = f"How many items are in this list?\n{shown}\n{BOX_HINT}"
        lines = [f"{i}. {w}" for i, w in enumerate(items, 1)]
        tail = f"The last item is number {answer}."
    else:
        target = _word(target)
        answer, lines = 0, []
        for i, w in enumerate(items, 1):
            answer += w == target
            lines.append(f"{i}. {w}" + (f"  <- \"{target}\" number {answer}" if w == target else ""))
        prompt = f"How many times does \"{target}\" appear in this list?\n{shown}\n{BOX_HINT}"
        tail = f"\"{target}\" appears {answer} time{'' if answer == 1 else 's'}."
    solution = "Go through the list one item at a time, numbering them:\n" + "\n".join(lines) \
        + f"\n{tail}\n{_boxed(answer)}"
    return _task("list_count", level, prompt, answer, "number", solution, items=items, target=target)


def draw_list_count(rng: random.Random, level: int) -> dict[str, Any]:
    vocab = rng.sample(words_between(3, 7), rng.randint(*LIST_VOCAB[level]))
    items = [rng.choice(vocab) for _ in range(rng.randint(*LIST_SIZES[level]))]
    target = None if rng.random() < 0.3 else rng.choice(vocab)
    return {"items": items, "target": target}


# -- symbol_count ----------------------------------------------------------------------------
def build_symbol_count(level: int, text: str, symbol: str) -> Task:
    """How many times `symbol` occurs in the string `text`."""
    _require(isinstance(symbol, str) and len(symbol) == 1 and symbol in SYMBOLS,
             f"counting: symbol must be one of {' '.join(SYMBOLS)}, got {symbol!r}")
    _require(isinstance(text, str) and bool(text) and set(text) <= set(SYMBOLS),
             f"counting: text must be a non-empty run of {' '.join(SYMBOLS)}")
    answer, lines = 0, []
    for i, ch in enumerate(text, 1):
        answer += ch == symbol
        lines.append(f"{i}. {ch}" + (f"  <- \"{symbol}\" number {answer}" if ch == symbol else ""))
    prompt = f"How many \"{symbol}\" characters are in this string?\n{text}\n{BOX_HINT}"
    solution = (f"Go through the string one character at a time, counting \"{symbol}\":\n"
                + "\n".join(lines) + f"\nThere are {answer}.\n{_boxed(answer)}")
    return _task("symbol_count", level, prompt, answer, "number", solution, text=text, symbol=symbol)


def draw_symbol_count(rng: random.Random, level: int) -> dict[str, Any]:
    length = rng.randint(*RUN_LENGTHS[level])
    if rng.random() < 0.4:  # one symbol repeated: "how long is this run"
        symbol = rng.choice(SYMBOLS)
        return {"text": symbol * length, "symbol": symbol}
    alphabet = rng.sample(SYMBOLS, rng.randint(2, 3))
    text = "".join(rng.choice(alphabet) for _ in range(length))
    # Mostly a symbol that occurs (by position, like letters); sometimes one that may not.
    symbol = rng.choice(text) if rng.random() < 0.85 else rng.choice(alphabet)
    return {"text": text, "symbol": symbol}


# -- families ----------------------------------------------------------------------------------
class Family(NamedTuple):
    draw: Callable[[random.Random, int], dict[str, Any]]
    build: Callable[..., Task]


FAMILIES: dict[str, Family] = {
    "letter_count": Family(draw_letter_count, build_letter_count),
    "kth_letter": Family(draw_kth_letter, build_kth_letter),
    "reverse": Family(draw_reverse, build_reverse),
    "compare_decimals": Family(draw_compare_decimals, build_compare_decimals),
    "list_count": Family(draw_list_count, build_list_count),
    "symbol_count": Family(draw_symbol_count, build_symbol_count),
}


def _family(name: str) -> Family:
    if name not in FAMILIES:
        raise LLMGymError(f"counting: unknown family {name!r}; "
                          f"choose one of {', '.join(FAMILIES)} or 'mixed'")
    return FAMILIES[name]


def counting_task(family: str, level: int = 1, **params: Any) -> Task:
    """Build one task of `family` from explicit inputs (bad inputs raise `LLMGymError`).

    >>> counting_task("reverse", word="strawberry").answer
    'yrrebwarts'
    """
    _require(level in LEVELS, f"counting: level must be one of {list(LEVELS)}, got {level!r}")
    try:
        return _family(family).build(level, **params)
    except TypeError as exc:  # a missing or misspelled parameter
        raise LLMGymError(f"counting: bad parameters for {family}: {exc}") from None


class CountingEnv(SingleTurnEnv):
    """Count letters, take every k-th letter, reverse words, compare decimals, count items.

    `family` is one of `FAMILIES` or "mixed" (each task from a family drawn uniformly).
    """

    name = "counting"
    version = "1"  # bump when a change alters the tasks of a split or how they score
    description = "Letters in words, every k-th letter, spelling backwards, 9.11 vs 9.9, counting items."
    levels = LEVELS
    families = (*FAMILIES, "mixed")
    system_prompt = "Solve the task. Think in small steps, then put the final answer in \\boxed{}."

    def __init__(self, *, family: str = "mixed", level: int = 1, split: str = "train",
                 rubric: Rubric | None = None, render_mode: str | None = None):
        if family != "mixed":
            _family(family)
        self.family = family
        super().__init__(level=level, split=split, rubric=rubric, render_mode=render_mode)

    def generate_task(self, rng: random.Random) -> Task:
        name = rng.choice(sorted(FAMILIES)) if self.family == "mixed" else self.family
        family = FAMILIES[name]
        return family.build(self.level, **family.draw(rng, self.level))

    def default_rubric(self) -> Rubric:
        from llmgym.rewards.answer import AnswerReward, FormatReward, LengthReward

        # The format bonus is what first separates completions of a small model that never boxes
        # (with a reward for the answer alone, every GRPO group of such a model scored 0: no signal).
        return Rubric([(AnswerReward(), 1.0), (FormatReward(), 0.1), (LengthReward(), 0.0)])
