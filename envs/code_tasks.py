"""Procedural "write this function" problems for the `code` env: strings, lists, numbers, dicts.

Each problem is a reference implementation (source text, run here on the host to compute expected
outputs: it is our code, not the model's), a description with a random parameter baked in, and an
input generator. Level 1 problems are one idea, level 3 combine several or hide an edge case.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Any, Callable

N_TESTS = 12
N_EXAMPLES = 2


@dataclass(frozen=True)
class Problem:
    family: str
    level: int
    name: str
    signature: str  # "(s: str) -> int"
    describe: Callable[[dict], str]
    source: Callable[[dict], str]  # reference implementation for the parameters
    params: Callable[[random.Random], dict]
    inputs: Callable[[random.Random, dict], tuple]


def _word(rng: random.Random, lo: int = 1, hi: int = 7, alphabet: str = "abcdeilnorst") -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _sentence(rng: random.Random, hi: int = 6) -> str:
    return " ".join(_word(rng) for _ in range(rng.randint(0, hi)))


def _ints(rng: random.Random, n_hi: int = 8, lo: int = -20, hi: int = 20) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(rng.randint(0, n_hi))]


def _none(_rng: random.Random) -> dict:
    return {}


PROBLEMS: list[Problem] = [
    # -- strings -------------------------------------------------------------------------------
    Problem("strings", 1, "count_char", "(s: str) -> int",
            lambda p: f"returns how many times the letter {p['c']!r} occurs in `s`",
            lambda p: f"def count_char(s):\n    return s.count({p['c']!r})\n",
            lambda r: {"c": r.choice("aeiost")}, lambda r, p: (_word(r, 0, 12),)),
    Problem("strings", 1, "reverse_words", "(s: str) -> str",
            lambda p: "returns the words of `s` (separated by single spaces) in reverse order, joined by single spaces",
            lambda p: "def reverse_words(s):\n    return ' '.join(s.split(' ')[::-1]) if s else ''\n",
            _none, lambda r, p: (_sentence(r),)),
    Problem("strings", 2, "caesar", "(s: str) -> str",
            lambda p: f"shifts every lowercase letter of `s` forward by {p['k']} places in the alphabet, wrapping "
                      f"from 'z' to 'a'; other characters stay as they are",
            lambda p: ("def caesar(s):\n    return ''.join(chr((ord(c) - 97 + %d) %% 26 + 97) if 'a' <= c <= 'z' else c"
                       " for c in s)\n" % p["k"]),
            lambda r: {"k": r.randint(1, 25)}, lambda r, p: (_word(r, 0, 10, "abxyz! ") + _word(r, 0, 4),)),
    Problem("strings", 2, "every_kth", "(s: str) -> str",
            lambda p: f"returns every {p['k']}-th character of `s`, starting with the {p['k']}-th (1-based)",
            lambda p: f"def every_kth(s):\n    return s[{p['k'] - 1}::{p['k']}]\n",
            lambda r: {"k": r.randint(2, 4)}, lambda r, p: (_word(r, 0, 14, string.ascii_lowercase),)),
    Problem("strings", 3, "run_length", "(s: str) -> str",
            lambda p: "run-length encodes `s`: each maximal run of one character becomes the character followed by "
                      "the run's length (\"aaab\" -> \"a3b1\")",
            lambda p: ("def run_length(s):\n    out = []\n    i = 0\n    while i < len(s):\n        j = i\n"
                       "        while j < len(s) and s[j] == s[i]:\n            j += 1\n"
                       "        out.append(s[i] + str(j - i))\n        i = j\n    return ''.join(out)\n"),
            _none, lambda r, p: ("".join(r.choice("ab") * r.randint(1, 4) for _ in range(r.randint(0, 5))),)),
    # -- lists ---------------------------------------------------------------------------------
    Problem("lists", 1, "sum_multiples", "(xs: list[int]) -> int",
            lambda p: f"returns the sum of the elements of `xs` that are divisible by {p['k']}",
            lambda p: f"def sum_multiples(xs):\n    return sum(x for x in xs if x % {p['k']} == 0)\n",
            lambda r: {"k": r.randint(2, 7)}, lambda r, p: (_ints(r),)),
    Problem("lists", 1, "rotate", "(xs: list[int]) -> list[int]",
            lambda p: f"returns `xs` rotated left by {p['k']} places (the first {p['k']} elements move to the end, "
                      f"wrapping around for short lists; an empty list stays empty)",
            lambda p: f"def rotate(xs):\n    if not xs:\n        return []\n    k = {p['k']} % len(xs)\n"
                      f"    return xs[k:] + xs[:k]\n",
            lambda r: {"k": r.randint(1, 5)}, lambda r, p: (_ints(r),)),
    Problem("lists", 2, "running_max", "(xs: list[int]) -> list[int]",
            lambda p: "returns the running maximum of `xs`: element i is the largest of xs[0..i]",
            lambda p: ("def running_max(xs):\n    out = []\n    for x in xs:\n"
                       "        out.append(x if not out else max(out[-1], x))\n    return out\n"),
            _none, lambda r, p: (_ints(r),)),
    Problem("lists", 3, "second_largest", "(xs: list[int]) -> int | None",
            lambda p: "returns the second largest distinct value of `xs`, or None when there is none",
            lambda p: "def second_largest(xs):\n    v = sorted(set(xs))\n    return v[-2] if len(v) > 1 else None\n",
            _none, lambda r, p: (_ints(r, 6, -3, 3),)),
    Problem("lists", 3, "pairs_to_target", "(xs: list[int]) -> int",
            lambda p: f"returns how many index pairs i < j have xs[i] + xs[j] == {p['t']}",
            lambda p: (f"def pairs_to_target(xs):\n    return sum(1 for i in range(len(xs)) for j in range(i + 1, len(xs))"
                       f" if xs[i] + xs[j] == {p['t']})\n"),
            lambda r: {"t": r.randint(-3, 6)}, lambda r, p: (_ints(r, 9, -3, 6),)),
    # -- numbers -------------------------------------------------------------------------------
    Problem("numbers", 1, "digit_sum", "(n: int) -> int",
            lambda p: f"returns the sum of the digits of the non-negative integer `n` written in base {p['b']}",
            lambda p: f"def digit_sum(n):\n    s = 0\n    while n:\n        s += n % {p['b']}\n        n //= {p['b']}\n"
                      f"    return s\n",
            lambda r: {"b": r.choice([2, 3, 5, 8, 10, 16])}, lambda r, p: (r.randint(0, 10**r.randint(1, 6)),)),
    Problem("numbers", 1, "count_divisible", "(n: int) -> int",
            lambda p: f"returns how many integers in 1..n (inclusive) are divisible by {p['a']} or by {p['b']}",
            lambda p: f"def count_divisible(n):\n    return sum(1 for i in range(1, n + 1) if i % {p['a']} == 0 "
                      f"or i % {p['b']} == 0)\n",
            lambda r: {"a": r.randint(2, 6), "b": r.randint(7, 12)}, lambda r, p: (r.randint(0, 300),)),
    Problem("numbers", 2, "is_prime", "(n: int) -> bool",
            lambda p: "returns True when the integer `n` is prime (negative numbers, 0 and 1 are not)",
            lambda p: ("def is_prime(n):\n    if n < 2:\n        return False\n    i = 2\n    while i * i <= n:\n"
                       "        if n % i == 0:\n            return False\n        i += 1\n    return True\n"),
            _none, lambda r, p: (r.randint(-5, 400),)),
    Problem("numbers", 3, "collatz_steps", "(n: int) -> int",
            lambda p: f"returns how many steps the map n -> n/2 (n even), n -> {p['m']}n+1 (n odd) takes to reach 1 "
                      f"from the positive integer `n`, or -1 if it has not reached 1 after 500 steps",
            lambda p: (f"def collatz_steps(n):\n    for steps in range(501):\n        if n == 1:\n            return steps\n"
                       f"        n = n // 2 if n % 2 == 0 else {p['m']} * n + 1\n    return -1\n"),
            lambda r: {"m": r.choice([3, 3, 5])}, lambda r, p: (r.randint(1, 200),)),
    # -- dicts ---------------------------------------------------------------------------------
    Problem("dicts", 1, "word_counts", "(s: str) -> dict[str, int]",
            lambda p: "returns a dict mapping each word of `s` (split on whitespace) to how many times it occurs",
            lambda p: "def word_counts(s):\n    d = {}\n    for w in s.split():\n        d[w] = d.get(w, 0) + 1\n    return d\n",
            _none, lambda r, p: (" ".join(r.choice(["a", "to", "be", "or", "not"]) for _ in range(r.randint(0, 8))),)),
    Problem("dicts", 2, "merge_sum", "(a: dict[str, int], b: dict[str, int]) -> dict[str, int]",
            lambda p: f"merges the two dicts: a key in both maps to the sum of its values times {p['k']}, "
                      f"a key in one keeps its value",
            lambda p: (f"def merge_sum(a, b):\n    out = dict(a)\n    for key, v in b.items():\n"
                       f"        out[key] = (a[key] + v) * {p['k']} if key in a else v\n    return out\n"),
            lambda r: {"k": r.randint(1, 3)},
            lambda r, p: tuple({r.choice("abcdef"): r.randint(-5, 9) for _ in range(r.randint(0, 4))} for _ in range(2))),
    Problem("dicts", 2, "invert", "(d: dict[str, int]) -> dict[int, list[str]]",
            lambda p: "inverts `d`: maps each value to the sorted list of keys that have it",
            lambda p: ("def invert(d):\n    out = {}\n    for k, v in d.items():\n        out.setdefault(v, []).append(k)\n"
                       "    return {v: sorted(ks) for v, ks in out.items()}\n"),
            _none, lambda r, p: ({_word(r, 1, 3): r.randint(0, 3) for _ in range(r.randint(0, 6))},)),
    Problem("dicts", 3, "top_key", "(d: dict[str, int]) -> str | None",
            lambda p: "returns the key with the largest value (the alphabetically smallest among ties), or None for "
                      "an empty dict",
            lambda p: "def top_key(d):\n    return min(d, key=lambda k: (-d[k], k)) if d else None\n",
            _none, lambda r, p: ({_word(r, 1, 3): r.randint(0, 4) for _ in range(r.randint(0, 6))},)),
]

FAMILIES = ("strings", "lists", "numbers", "dicts")


def problems(family: str, level: int) -> list[Problem]:
    """Problems of a family ("mixed" = all four) at exactly this level."""
    return [p for p in PROBLEMS if p.level == level and (family == "mixed" or p.family == family)]


def _call(name: str, args: tuple) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def make_task_parts(problem: Problem, rng: random.Random) -> dict[str, Any]:
    """Prompt, tests and reference solution for one draw of a problem."""
    params = problem.params(rng)
    source = problem.source(params)
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<reference {problem.name}>", "exec"), namespace)  # our own reference code
    reference = namespace[problem.name]
    seen, cases = set(), []
    for _ in range(N_TESTS * 20):
        args = problem.inputs(rng, params)
        key = repr(args)
        if key not in seen:
            seen.add(key)
            cases.append((args, reference(*args)))
        if len(cases) >= N_TESTS + N_EXAMPLES:
            break
    examples, tests = cases[:N_EXAMPLES], cases[N_EXAMPLES:]
    shown = "\n".join(f">>> {_call(problem.name, a)}\n{r!r}" for a, r in examples)
    prompt = (f"Write a Python function `{problem.name}{problem.signature}` that {problem.describe(params)}.\n\n"
              f"Examples:\n{shown}\n\nAnswer with the complete function in a ```python code block.")
    units = [f"assert candidate({', '.join(repr(a) for a in args)}) == {result!r}" for args, result in tests]
    return {"prompt": prompt, "entry_point": problem.name, "units": units, "source": source}
