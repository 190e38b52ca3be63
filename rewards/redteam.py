"""A red team for answer rewards: completions built from each task's gold that must, or must not, score.

RL optimises exactly what a reward credits, so every reward is adversarial code. This module
writes, for one task, the completions a policy searching for reward would try — hedges
(``\\boxed{12 or 13}``), negations (``\\boxed{12 is wrong}``), disagreeing formats (``\\boxed{12}``
then ``#### 13``), brace injection (``<answer>12} or {13</answer>``), trailing junk, degenerate
whitespace and huge inputs — and the forms a correct answer legitimately takes (``\\frac{3}{4}``
for 0.75, ``((7))``, ``5 apples`` when the question counts apples, a box inside a tag, an unboxed
``\\dfrac{1}{3}`` at the end). `red_team(reward, tasks)` scores them all and counts, per family,
false positives (an adversarial completion scored as correct) and false negatives (a legitimate
one scored wrong). `tests/test_verifier_redteam.py` holds the floors (no false positive, at least
99% of legitimate forms accepted) and `benchmarks/bench_verifier.py` prints the table.

Families are generators, not a fixed list of strings, so that a new env's golds get the same
attacks: a plugin author can run ``red_team(MyReward(), my_env.tasks("eval", n=200))``.

>>> from llmgym.types import Task
>>> task = Task("What is 5 + 7?", "12", {"answer_type": "number"})
>>> "\\\\boxed{12 is wrong}" in adversarial_forms(task)["negation"]
True
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable

from llmgym.types import Task

from .verify import is_multi_valued, parse_number, split_values

HUGE = 10 * 1024 * 1024


def _wrong(task: Task) -> str:
    """A value of the same kind as the gold that is not the gold."""
    gold = task.answer
    value = parse_number(gold, trusted=True)
    if value is not None:
        return _number_text(value + 1)
    text = str(gold)
    if task.meta.get("answer_type") == "string" or re.fullmatch(r"[A-Za-z' -]+", text):
        return text[::-1] + "x" if text[::-1] != text else text + "x"
    if is_multi_valued(gold, task.meta.get("answer_type")):
        items = split_values(text)
        return ", ".join(items[:-1] + ["1000"]) if len(items) > 1 else "1000"
    return f"{text} + 1"


def _number_text(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"\\frac{{{value.numerator}}}{{{value.denominator}}}"


def _forms_of_number(value: Fraction) -> list[str]:
    """Ways of writing `value` that any careful grader accepts."""
    forms = []
    if value.denominator == 1:
        n = value.numerator
        forms += [f"{n}.0", f"{{{n}}}", f"({n})", f"(((((((({n}))))))))", f"x = {n}", f"\\frac{{{2 * n}}}{{2}}"]
        if abs(n) >= 1000:
            forms.append(f"{n:,}")
    else:
        p, q = value.numerator, value.denominator
        sign, p = ("-" if p < 0 else ""), abs(p)
        forms += [f"{sign}\\frac{{{p}}}{{{q}}}", f"{sign}\\dfrac{{{p}}}{{{q}}}", f"{sign}{p}/{q}",
                  f"{sign}\\frac{{{2 * p}}}{{{2 * q}}}", f"{sign}\\left( \\frac{{{p}}}{{{q}}} \\right)"]
        if p < 10 and q < 10:
            forms.append(f"{sign}\\tfrac{p}{q}")
        decimal = _terminating_decimal(value)
        if decimal is not None:
            forms.append(decimal)
        else:
            forms.append(f"{float(value):.6f}" if abs(value) < 1 else f"{float(value):.8f}")
    return forms


def _terminating_decimal(value: Fraction) -> str | None:
    q = value.denominator
    for prime in (2, 5):
        while q % prime == 0:
            q //= prime
    if q != 1:
        return None
    text = f"{float(value):.12f}".rstrip("0")
    return text if Fraction(text) == value else None


def _question_noun(task: Task) -> str | None:
    """A plural noun the question counts ("How many apples ..."), to write after the value."""
    m = re.search(r"\b[Hh]ow many ([a-z]{3,}s)\b", task.text)
    return m.group(1) if m else None


def adversarial_forms(task: Task) -> dict[str, list[str]]:
    """Completions that must not score as correct for `task`, by family."""
    g, w = _gold_text(task), _wrong(task)
    multi = is_multi_valued(task.answer, task.meta.get("answer_type"))
    families: dict[str, list[str]] = {
        "negation": [f"\\boxed{{{g} is wrong}}", f"\\boxed{{{g} is not the answer}}", f"\\boxed{{not {g}}}",
                     f"\\boxed{{\\neq {g}}}", f"\\boxed{{\\text{{not }} {g}}}", f"\\boxed{{{g} \\text{{ is incorrect}}}}",
                     f"\\boxed{{\\neg {g}}}", f"<answer>not {g}</answer>", f"#### not {g}",
                     f"The answer is not {g}.", f"{g} is wrong.", f"It is definitely not {g}."],
        "cross_format": [f"\\boxed{{{g}}}\n#### {w}", f"\\boxed{{{w}}}\n#### {g}", f"\\boxed{{{g}}} <answer>{w}</answer>",
                         f"<answer>{w}</answer> \\boxed{{{g}}}", f"<answer>{g}</answer>\n#### {w}",
                         f"#### {w}\n<answer>{g}</answer>"],
        "injection": [f"<answer>{g}}} or {{{w}</answer>", f"#### {g}}} or {{{w}", f"\\boxed{{{g}}}}} or {{\\boxed{{{w}}}",
                      f"\\boxed{{{g}\\text{{}}or\\text{{}}{w}}}", f"\\boxed{{{{{g}}} or {{{w}}}}}",
                      f"\\boxed{{\\text{{{g}}} or \\text{{{w}}}}}", f"\\boxed{{{g} \\newline {w}}}",
                      f"\\boxed{{\\begin{{cases}}{g}\\\\{w}\\end{{cases}}}}", f"<answer>{g}</answer or {w}>"],
        "trailing_junk": [f"\\boxed{{{g} asdf}}", f"\\boxed{{{g} xyzzy qq}}", f"\\boxed{{{g} \\text{{lol}}}}",
                          f"\\boxed{{{g} maybe}}", f"\\boxed{{{g} or so}}", f"\\boxed{{{g}-ish}}", f"\\boxed{{{g}???}}",
                          f"\\boxed{{{g} etc}}", f"\\boxed{{{g} \\text{{ or more}}}}", f"\\boxed{{about {g}}}",
                          f"\\boxed{{approximately {g}}}", f"\\boxed{{\\approx {g}}}"],
        # LaTeX that math-verify reads only part of: whichever part it keeps must not decide.
        "latex_tricks": [t.format(a=a, b=b) for a, b in ((w, g), (g, w)) for t in (
            "\\boxed{{{a} \\\\ {b}}}", "\\boxed{{{a} | {b}}}", "\\boxed{{{a} \\mid {b}}}", "\\boxed{{{a} \\cup {b}}}",
            "\\boxed{{{a} \\hspace{{1em}} {b}}}", "\\boxed{{{a} \\wedge {b}}}", "\\boxed{{{a} \\land {b}}}",
            "\\boxed{{{a} \\dots {b}}}", "\\boxed{{{a} \\to {b}}}", "\\boxed{{{a} \\rightarrow {b}}}",
            "\\boxed{{\\underline{{{a}}} {b}}}", "\\boxed{{{a} \\text{{, }} {b}}}", "\\boxed{{\\cancel{{{a}}} {b}}}",
            "\\boxed{{\\sout{{{a}}} {b}}}", "\\boxed{{{b}_{{{a}}}}}", "\\boxed{{\\overset{{{a}}}{{{b}}}}}",
            "\\boxed{{{a} \\text{{ else }} {b}}}", "\\boxed{{{a} \\;\\text{{or}}\\; {b}}}", "\\boxed{{{a} OR {b}}}")],
        "degenerate_whitespace": [f"\\boxed{{{w}}}" + " " * 60_000 + g, f"#### {w}" + " " * 60_000 + "x",
                                  "\n" * 65_536 + w, "<answer>" * 10_000 + w, "\t\n" * 30_000 + f"\\boxed{{{w}}}",
                                  f"\\boxed{{{w}}}" + "\n" * 65_536 + g, f"#### {g}" + " " * 60_000 + "x"],
        "huge": ["x" * HUGE + f"\\boxed{{{w}}}", f"\\boxed{{{g}}}" + "lorem ipsum " * (HUGE // 12),
                 f"{g} or " * (HUGE // (len(g) + 4)) + w, "\\boxed{" * 100_000 + g, "9" * HUGE],
    }
    if not multi:
        families["hedge"] = [
            f"\\boxed{{{g} or {w}}}", f"\\boxed{{{w} or {g}}}", f"\\boxed{{{g} \\text{{ or }} {w}}}",
            f"\\boxed{{{g} \\text{{ (or {w})}}}}", f"\\boxed{{{g}, {w}}}", f"\\boxed{{{w}, {g}}}", f"\\boxed{{{g}; {w}}}",
            f"\\boxed{{x = {g} \\lor x = {w}}}", f"\\boxed{{{g} \\lor {w}}}", f"\\boxed{{{g} \\vee {w}}}",
            f"\\boxed{{{g} or maybe more}}", f"\\boxed{{either {g} or {w}}}", f"\\boxed{{{g} and {w}}}",
            f"\\boxed{{{g} \\quad {w}}}", f"\\boxed{{{g}}} or \\boxed{{{w}}}", f"\\boxed{{{w}}} \\boxed{{{g}}}",
            f"It is either {w} or {g}.", f"It is {g} or {w}.", f"Maybe {g}.", f"{w}, or maybe {g}.",
            f"I guess {g}?", f"The answer is probably {g}.", f"approximately {g}", f"{w} or {g}",
        ]
    return families


def legitimate_forms(task: Task, reference: str | None = None) -> dict[str, list[str]]:
    """Completions that must score as correct for `task`, by family."""
    g = _gold_text(task)
    families: dict[str, list[str]] = {
        "boxed": [f"\\boxed{{{g}}}", f"The answer is \\boxed{{{g}}}.", f"So $\\boxed{{{g}}}$", f"\\boxed{{\\boxed{{{g}}}}}",
                  f"\\fbox{{{g}}}", f"\\boxed {{{g}}}", f"\\boxed{{ {g} }}"],
        "tags": [f"<answer>{g}</answer>", f"<answer> {g} </answer>", f"<ANSWER>{g}</ANSWER>",
                 f"<answer>\\boxed{{{g}}}</answer>"],
        "hash": [f"Adding up.\n#### {g}", f"#### {g}", f"\n\n#### {g}\n\n"],
        "agreeing_formats": [f"\\boxed{{{g}}}\n#### {g}", f"<answer>{g}</answer> \\boxed{{{g}}}",
                             f"First \\boxed{{{g}}}, and checking again: \\boxed{{{g}}}."],
        "whitespace": [f"\\boxed{{{g}}}" + "\n" * 65_536, f"\\boxed{{{g}}}" + " " * 60_000, "\t\n" * 1000 + f"\\boxed{{{g}}}"],
    }
    if reference:
        families["reference"] = [reference]
    multi = is_multi_valued(task.answer, task.meta.get("answer_type"))
    value = parse_number(task.answer, trusted=True)
    if task.meta.get("answer_type") == "string" and isinstance(task.answer, str):
        families["text"] = [f"\\boxed{{\\text{{{g}}}}}", f'\\boxed{{"{g}"}}', f"\\boxed{{{g}.}}", f"\\boxed{{{g.upper()}}}"]
    elif value is not None:
        forms = _forms_of_number(value)
        families["equivalent"] = [f"\\boxed{{{f}}}" for f in forms]
        families["unboxed_final"] = [f"The answer is {g}.", f"So the result is {g}", f"Therefore, {g}.",
                                     f"1 + 1 = 2, and so the total is **{g}**."]
        families["unboxed_latex"] = [f"The answer is ${f}$." for f in forms if "\\" in f] + \
                                    [f"so we get \\[ {f} \\]" for f in forms if "frac" in f]
        if value.denominator != 1:
            families["unboxed_latex"].append(f"{_number_text(value)} \\text{{meters}}")
        noun = _question_noun(task)
        if noun:
            families["with_question_noun"] = [f"\\boxed{{{g} {noun}}}", f"There are {g} {noun} in total.",
                                               f"\\boxed{{{g} \\text{{ {noun}}}}}"]
    if multi:
        items = split_values(g)
        families["several_boxes"] = [" \\quad \\text{and} \\quad ".join(f"\\boxed{{{i}}}" for i in items),
                                     ", ".join(f"\\boxed{{{i}}}" for i in reversed(items))]
    return families


def _gold_text(task: Task) -> str:
    gold = task.answer
    if isinstance(gold, (list, tuple, set, frozenset)):
        return ", ".join(str(g) for g in gold)
    return str(gold)


@dataclass
class FamilyResult:
    """Counts of one family: `n` completions, `errors` of them scored the wrong way, and the
    slowest single score in seconds."""

    n: int = 0
    errors: int = 0
    slowest: float = 0.0
    examples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.errors / self.n if self.n else 0.0


def red_team(score: Callable[[str, Task], Any], tasks: Iterable[Task],
             reference: Callable[[Task], str | None] | None = None,
             skip: Iterable[str] = ()) -> tuple[dict[str, FamilyResult], dict[str, FamilyResult]]:
    """Score every family's completions for every task with `score(completion, task) -> Score`.

    Returns ``(false_positives, false_negatives)`` by family; an adversarial completion counts as
    a false positive when its value is 1, a legitimate one as a false negative when it is not.
    Families named in `skip` are left out (the huge inputs cost ~1 s a task to build).
    """
    skipped = set(skip)
    fp: dict[str, FamilyResult] = {}
    fn: dict[str, FamilyResult] = {}
    for task in tasks:
        ref = reference(task) if reference else None
        for families, out, bad in ((adversarial_forms(task), fp, True), (legitimate_forms(task, ref), fn, False)):
            for family, completions in families.items():
                if family in skipped:
                    continue
                result = out.setdefault(family, FamilyResult())
                for completion in completions:
                    start = time.perf_counter()
                    value = score(completion, task).value
                    result.slowest = max(result.slowest, time.perf_counter() - start)
                    result.n += 1
                    if (value == 1.0) == bad:
                        result.errors += 1
                        if len(result.examples) < 5:
                            result.examples.append((str(task.answer), completion[:120]))
    return fp, fn


def sample_tasks(n_per_level: int, seed: int = 0) -> tuple[list[Task], Callable[[Task], str | None]]:
    """Eval tasks of every math family and level (`n_per_level` each) and of counting (twice that
    per level), and a function giving each task's reference solution: the red team's usual sample."""
    import llmgym

    envs: dict[str, Any] = {}
    tasks: list[Task] = []
    specs = [("math", {"level": lv, "family": f}, n_per_level) for f in ("arithmetic", "word", "algebra")
             for lv in range(1, 6)]
    specs += [("counting", {"level": lv, "family": "mixed"}, 2 * n_per_level) for lv in range(1, 6)]
    for name, options, n in specs:
        env = llmgym.make(name, **options)
        for task in env.tasks("eval", n=n, seed=seed):
            envs[task.id] = env
            tasks.append(task)
    return tasks, lambda task: envs[task.id].reference(task)
