"""Algebra problems for the `math` env, built and solved with sympy.

Kinds by level: evaluating expressions and one-step equations (1), linear equations and fraction
arithmetic (2), expanding products and equations with fractional solutions (3), quadratics with
integer roots, polynomial derivatives and cancelling rational expressions (4), quadratics with
irrational roots, product-rule derivatives and sums of rational expressions (5).
Every answer is what sympy computes; answers are numbers, expressions or sets, checked for
mathematical equivalence by the verifier.
"""

from __future__ import annotations

import math
import random
from typing import Any, Callable

Problem = tuple[str, str, str, list[str]]  # question, answer (LaTeX), answer_type, solution steps


def _sympy() -> Any:
    import sympy  # imported here: `import llmgym` must stay light

    return sympy


def _nonzero(rng: random.Random, lo: int, hi: int) -> int:
    return rng.choice([v for v in range(lo, hi + 1) if v != 0])


def _tex(expr: Any) -> str:
    # `\\log` reads as base 10 to math-verify; sympy's natural log must be written `\\ln`
    return _sympy().latex(expr, ln_notation=True)


def _poly(rng: random.Random, degree: int, coef: int = 9) -> Any:
    sp = _sympy()
    x = sp.Symbol("x")
    terms = [_nonzero(rng, -coef, coef) * x**degree]
    terms += [rng.randint(-coef, coef) * x**k for k in range(degree - 1, -1, -1)]
    return sp.Add(*terms)


# -- level 1 --------------------------------------------------------------------------------------
def evaluate(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    k, c, at = rng.randint(2, 9), rng.randint(1, 20), rng.randint(1, 10)
    expr = k * x + c
    value = expr.subs(x, at)
    return (f"Evaluate ${_tex(expr)}$ when $x = {at}$.", _tex(value), "number",
            [f"Substitute $x = {at}$: ${k} \\cdot {at} + {c} = {k * at} + {c} = {_tex(value)}$."])


def one_step(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    sol, b = rng.randint(1, 20), rng.randint(1, 20)
    if rng.random() < 0.5:
        eq, step = sp.Eq(x + b, sol + b), f"Subtract {b} from both sides: $x = {sol + b} - {b} = {sol}$."
    else:
        eq, step = sp.Eq(b * x, b * sol), f"Divide both sides by {b}: $x = {b * sol} \\div {b} = {sol}$."
    return f"Solve for $x$: ${_tex(eq)}$.", str(sol), "number", [step]


# -- level 2 --------------------------------------------------------------------------------------
def linear(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    a, sol, b = _nonzero(rng, -9, 9), rng.randint(-12, 12), _nonzero(rng, -20, 20)
    eq = sp.Eq(a * x + b, a * sol + b)
    steps = [f"Move the constant: ${_tex(a * x)} = {a * sol + b} - ({b}) = {a * sol}$.",
             f"Divide by {a}: $x = {_tex(sp.Rational(a * sol, a))}$."]
    return f"Solve for $x$: ${_tex(eq)}$.", _tex(sp.Integer(sol)), "number", steps


def fractions(rng: random.Random) -> Problem:
    sp = _sympy()
    p = sp.Rational(rng.randint(1, 9), rng.randint(2, 9))
    q = sp.Rational(rng.randint(1, 9), rng.randint(2, 9))
    op = rng.choice("+-*")
    value = {"+": p + q, "-": p - q, "*": p * q}[op]
    sym = {"+": "+", "-": "-", "*": "\\times"}[op]
    steps = ([f"Common denominator {sp.ilcm(p.q, q.q)}: ${_tex(p)} {sym} {_tex(q)} = {_tex(value)}$."]
             if op != "*" else [f"Multiply numerators and denominators: ${_tex(p)} \\times {_tex(q)} = {_tex(value)}$."])
    return (f"Compute ${_tex(p)} {sym} {_tex(q)}$ and simplify the fraction.", _tex(value), "number", steps)


# -- level 3 --------------------------------------------------------------------------------------
def expand(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    a, b = _nonzero(rng, -9, 9), _nonzero(rng, -9, 9)
    k = rng.choice([1, 1, 2, 3])
    product = (k * x + a) * (x + b)
    expanded = sp.expand(product)
    return (f"Expand and simplify ${_tex(product)}$.", _tex(expanded), "expression",
            [f"Multiply every term: ${_tex(product)} = {_tex(expanded)}$."])


def linear_fraction(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    a, c = rng.sample([v for v in range(-9, 10) if v != 0], 2)
    b, d = rng.randint(-15, 15), rng.randint(-15, 15)
    if b == d:
        d += 1
    sol = sp.Rational(d - b, a - c)
    eq = sp.Eq(a * x + b, c * x + d)
    steps = [f"Collect $x$ on the left: ${_tex((a - c) * x)} = {d - b}$.", f"So $x = {_tex(sol)}$."]
    return f"Solve for $x$: ${_tex(eq)}$.", _tex(sol), "number", steps


# -- level 4 --------------------------------------------------------------------------------------
def quadratic_integer(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    r1, r2 = rng.sample(range(-9, 10), 2)
    k = rng.choice([1, 1, 1, 2])
    poly = sp.expand(k * (x - r1) * (x - r2))
    roots = sorted([r1, r2])
    steps = [f"Factor: ${_tex(poly)} = {_tex(sp.factor(poly))}$.",
             f"A product is zero when a factor is zero: $x = {roots[0]}$ or $x = {roots[1]}$."]
    return (f"Find all real solutions of ${_tex(poly)} = 0$. Give them as a set, like $\\{{1, 2\\}}$.",
            "\\{" + ", ".join(str(r) for r in roots) + "\\}", "set", steps)


def derivative_poly(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    f = _poly(rng, rng.randint(2, 4), 7)
    df = sp.diff(f, x)
    return (f"Find the derivative of $f(x) = {_tex(f)}$ with respect to $x$.", _tex(df), "expression",
            [f"Differentiate term by term with $\\frac{{d}}{{dx}} x^n = n x^{{n-1}}$: $f'(x) = {_tex(df)}$."])


def cancel(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    a, b = rng.sample([v for v in range(-8, 9) if v != 0], 2)
    num = sp.expand((x + a) * (x + b))
    result = x + b
    return (f"Simplify $\\frac{{{_tex(num)}}}{{{_tex(x + a)}}}$ for $x \\neq {-a}$.", _tex(result), "expression",
            [f"Factor the numerator: ${_tex(num)} = {_tex((x + a) * (x + b))}$.",
             f"Cancel ${_tex(x + a)}$: the result is ${_tex(result)}$."])


# -- level 5 --------------------------------------------------------------------------------------
def quadratic_irrational(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    while True:
        p, q = rng.randint(-6, 6), rng.randint(-12, 12)
        disc = p * p - 4 * q
        if disc > 0 and math.isqrt(disc) ** 2 != disc:
            break
    poly = x**2 + p * x + q
    # the quadratic formula directly: sympy's solve() costs ~0.1 s per task
    roots = [(-p - sp.sqrt(disc)) / 2, (-p + sp.sqrt(disc)) / 2]
    steps = [f"Discriminant: $({p})^2 - 4 \\cdot ({q}) = {disc}$, not a perfect square.",
             f"Quadratic formula: $x = \\frac{{{-p} \\pm \\sqrt{{{disc}}}}}{{2}}$, "
             f"that is ${_tex(roots[0])}$ and ${_tex(roots[1])}$."]
    return (f"Find all real solutions of ${_tex(poly)} = 0$. Give them as a set, like $\\{{1, 2\\}}$.",
            "\\{" + ", ".join(_tex(r) for r in roots) + "\\}", "set", steps)


def derivative_product(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    u = rng.randint(1, 5) * x ** rng.randint(1, 3)
    v = rng.choice([sp.sin(x), sp.cos(x), sp.exp(x), sp.log(x)])
    f = u * v
    df = sp.diff(f, x)
    steps = [f"Product rule with $u = {_tex(u)}$ and $v = {_tex(v)}$: $f' = u'v + uv'$.",
             f"$u' = {_tex(sp.diff(u, x))}$, $v' = {_tex(sp.diff(v, x))}$, so $f'(x) = {_tex(df)}$."]
    return (f"Find the derivative of $f(x) = {_tex(f)}$ with respect to $x$.", _tex(df), "expression", steps)


def rational_sum(rng: random.Random) -> Problem:
    sp = _sympy()
    x = sp.Symbol("x")
    a, b = rng.sample([v for v in range(-7, 8) if v != 0], 2)
    total = sp.factor(sp.together(1 / (x + a) + 1 / (x + b)))
    return (f"Write $\\frac{{1}}{{{_tex(x + a)}}} + \\frac{{1}}{{{_tex(x + b)}}}$ as a single fraction.",
            _tex(total), "expression",
            [f"Common denominator ${_tex((x + a) * (x + b))}$: the numerators add to ${_tex(2 * x + a + b)}$.",
             f"So the sum is ${_tex(total)}$."])


KINDS: dict[int, list[Callable[[random.Random], Problem]]] = {
    1: [evaluate, one_step],
    2: [linear, fractions],
    3: [expand, linear_fraction],
    4: [quadratic_integer, derivative_poly, cancel],
    5: [quadratic_irrational, derivative_product, rational_sum],
}


def generate(rng: random.Random, level: int) -> tuple[str, str, str, str, str]:
    """One algebra task at `level`: ``(question, answer, answer_type, solution, kind)``."""
    kind = rng.choice(KINDS[level])
    question, answer, answer_type, steps = kind(rng)
    solution = "\n".join([*steps, f"The answer is $\\boxed{{{answer}}}$."])
    return question, answer, answer_type, solution, kind.__name__
