"""Arithmetic problems for the `math` env: expression trees with exact (Fraction) values.

Level 1 is one-digit addition ``a + b``; level 5 is nested expressions with parentheses,
negative numbers, multiplication and division that always divides exactly. Every answer is
computed from the tree, and the reference solution evaluates it one operation at a time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

SYMBOLS = {"+": "+", "-": "-", "*": "×", "/": "÷"}
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


@dataclass(frozen=True)
class Num:
    value: int

    def render(self) -> str:
        return f"({self.value})" if self.value < 0 else str(self.value)

    def evaluate(self) -> Fraction:
        return Fraction(self.value)


@dataclass(frozen=True)
class Op:
    op: str
    left: "Num | Op"
    right: "Num | Op"

    def render(self) -> str:
        return f"{_side(self.left, self.op, False)} {SYMBOLS[self.op]} {_side(self.right, self.op, True)}"

    def evaluate(self) -> Fraction:
        return apply(self.op, self.left.evaluate(), self.right.evaluate())


def apply(op: str, a: Fraction, b: Fraction) -> Fraction:
    """One operation; the generator never divides by zero, so neither does this."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b


def _side(node: "Num | Op", parent: str, right: bool) -> str:
    """Render a child, with parentheses only where precedence or left-associativity needs them."""
    text = node.render()
    if isinstance(node, Op):
        weaker = PRECEDENCE[node.op] < PRECEDENCE[parent]
        same_level_right = right and PRECEDENCE[node.op] == PRECEDENCE[parent] and parent in "-/"
        same_level_right = same_level_right or (right and parent == "*" and node.op == "/")
        if weaker or same_level_right:
            return f"({text})"
    return text


def fmt(value: Fraction) -> str:
    """A Fraction as the answer a person writes: ``7``, ``-3``, ``5/4``."""
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _literal(rng: random.Random, lo: int, hi: int, negative: bool) -> Num:
    value = rng.randint(lo, hi)
    if negative and rng.random() < 0.35:
        value = -value
    return Num(value)


def _tree(rng: random.Random, depth: int, ops: str, hi: int, negative: bool) -> "Num | Op":
    """A random expression of at most `depth` operator levels whose divisions are exact."""
    if depth == 0:
        return _literal(rng, 1, hi, negative)
    op = rng.choice(ops)
    left = _tree(rng, rng.randint(0, depth - 1) if depth > 1 else 0, ops, hi, negative)
    if op == "/":
        value = left.evaluate()
        if value.denominator != 1 or value == 0:
            return Op("*", left, _literal(rng, 2, 9, negative))
        divisors = [d for d in range(2, min(abs(value.numerator), 12) + 1) if value.numerator % d == 0]
        if not divisors:  # 1, primes over 12: divide a multiple we build instead
            d = rng.randint(2, 9)
            return Op("/", Op("*", left, Num(d)) if isinstance(left, Op) else Num(left.value * d), Num(d))
        d = rng.choice(divisors)
        return Op("/", left, Num(-d if negative and rng.random() < 0.3 else d))
    right = _tree(rng, depth - 1, ops, hi, negative)
    if op == "*" and abs(left.evaluate() * right.evaluate()) > 10_000:
        op = "+"
    return Op(op, left, right)


LEVELS = {
    # level: (maximum depth, operators, largest literal, negatives allowed)
    2: (1, "+-*", 99, False),
    3: (2, "+-*", 30, False),
    4: (3, "+-*/", 20, True),
    5: (4, "+-*/", 25, True),
}


def generate(rng: random.Random, level: int) -> tuple[str, str, str]:
    """One arithmetic task at `level`: ``(expression, answer, step-by-step solution)``."""
    if level == 1:
        tree: Num | Op = Op("+", Num(rng.randint(1, 9)), Num(rng.randint(1, 9)))
    else:
        depth, ops, hi, negative = LEVELS[level]
        while True:
            tree = _tree(rng, depth, ops, hi, negative)
            if isinstance(tree, Op) and _op_count(tree) >= max(1, depth - 1) and tree.evaluate().denominator == 1:
                if level != 2 or tree.op != "*" or min(abs(tree.left.evaluate()), abs(tree.right.evaluate())) <= 12:
                    break
    answer = tree.evaluate()
    return tree.render(), fmt(answer), solution(tree)


def _op_count(node: "Num | Op") -> int:
    return 0 if isinstance(node, Num) else 1 + _op_count(node.left) + _op_count(node.right)


def solution(tree: "Num | Op") -> str:
    """Evaluate `tree` one operation at a time, innermost first, and box the result."""
    steps: list[str] = []

    def walk(node: "Num | Op") -> Fraction:
        if isinstance(node, Num):
            return node.evaluate()
        a, b = walk(node.left), walk(node.right)
        value = apply(node.op, a, b)
        steps.append(f"{_paren(a)} {SYMBOLS[node.op]} {_paren(b)} = {fmt(value)}")
        return value

    answer = walk(tree)
    lines = [f"We compute {tree.render()} step by step."]
    lines += [f"Step {i}: {s}." for i, s in enumerate(steps, 1)]
    lines.append(f"The answer is \\boxed{{{fmt(answer)}}}.")
    return "\n".join(lines)


def _paren(value: Fraction) -> str:
    return f"({fmt(value)})" if value < 0 else fmt(value)
