"""Word problems for the `math` env: templates with varied names, objects and numbers.

Each template draws its *unknowns first* and derives the numbers the story states from them, so
every answer is exact and computed, never written by hand, and the step-by-step solution is
produced by the same code that computes the answer.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Callable

NAMES = ["Emily", "Liam", "Sofia", "Noah", "Aisha", "Mateo", "Yuki", "Olivia", "Ravi", "Chloe",
         "Kwame", "Lena", "Omar", "Hannah", "Diego", "Mei", "Jonas", "Zara", "Ivan", "Grace"]
FRUITS = ["apples", "oranges", "pears", "bananas", "peaches", "lemons", "mangoes", "plums"]
THINGS = ["marbles", "stickers", "pencils", "stamps", "cards", "shells", "coins", "beads"]
SNACKS = ["muffins", "cookies", "cupcakes", "bagels", "donuts", "croissants"]
CONTAINERS = ["boxes", "bags", "jars", "baskets", "crates"]
VEHICLES = ["car", "bus", "train", "bike"]

Template = Callable[[random.Random], tuple[str, Fraction, list[str]]]


def money(value: Fraction) -> str:
    """``$5`` or ``$2.50``: how a price is written in a story."""
    return f"${value.numerator}" if value.denominator == 1 else f"${float(value):.2f}"


def number(value: Fraction) -> str:
    """The plain answer: ``7``, ``2.5``, or ``7/3`` when the decimal does not terminate."""
    if value.denominator == 1:
        return str(value.numerator)
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:
        return format(float(value), "f").rstrip("0").rstrip(".") if abs(value) < 10**12 else str(value)
    return f"{value.numerator}/{value.denominator}"


def _hours(n: int) -> str:
    return "1 hour" if n == 1 else f"{n} hours"


def _two(rng: random.Random, pool: list[str]) -> tuple[str, str]:
    a, b = rng.sample(pool, 2)
    return a, b


# -- level 1: one step ----------------------------------------------------------------------------
def gets_more(rng: random.Random):
    name, thing, a, b = rng.choice(NAMES), rng.choice(THINGS), rng.randint(2, 9), rng.randint(1, 9)
    q = f"{name} has {a} {thing}. A friend gives {name} {b} more. How many {thing} does {name} have now?"
    return q, Fraction(a + b), [f"{name} starts with {a} {thing} and gets {b} more: {a} + {b} = {a + b}."]


def gives_away(rng: random.Random):
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a = rng.randint(5, 19)
    b = rng.randint(1, a - 1)
    q = f"{name} had {a} {thing} and gave {b} of them away. How many {thing} are left?"
    return q, Fraction(a - b), [f"{a} - {b} = {a - b} {thing} are left."]


def two_places(rng: random.Random):
    fruit, a, b = rng.choice(FRUITS), rng.randint(2, 12), rng.randint(2, 12)
    q = f"There are {a} {fruit} in a bowl and {b} {fruit} on the table. How many {fruit} are there in all?"
    return q, Fraction(a + b), [f"Add the two groups: {a} + {b} = {a + b}."]


# -- level 2: multiplication, division, change ------------------------------------------------------
def groups(rng: random.Random):
    name, box, thing = rng.choice(NAMES), rng.choice(CONTAINERS), rng.choice(THINGS)
    n, k = rng.randint(3, 9), rng.randint(4, 12)
    q = f"{name} has {n} {box} with {k} {thing} in each. How many {thing} does {name} have?"
    return q, Fraction(n * k), [f"{n} {box} with {k} {thing} each: {n} × {k} = {n * k} {thing}."]


def share_equally(rng: random.Random):
    name, snack = rng.choice(NAMES), rng.choice(SNACKS)
    friends, each = rng.randint(2, 8), rng.randint(2, 9)
    total = friends * each
    q = f"{name} shares {total} {snack} equally among {friends} friends. How many {snack} does each friend get?"
    return q, Fraction(each), [f"{total} ÷ {friends} = {each} {snack} for each friend."]


def change_from_bill(rng: random.Random):
    name, snack = rng.choice(NAMES), rng.choice(SNACKS)
    n, price = rng.randint(2, 6), Fraction(rng.randint(2, 12), rng.choice([1, 2]))
    cost = n * price
    bill = next(b for b in (10, 20, 50, 100) if b > cost)
    q = (f"{name} buys {n} {snack} at {money(price)} each and pays with a ${bill} bill. "
         f"How many dollars of change does {name} get?")
    steps = [f"The {snack} cost {n} × {money(price)} = {money(cost)}.",
             f"The change is ${bill} - {money(cost)} = {money(bill - cost)}."]
    return q, bill - cost, steps


# -- level 3: several steps -----------------------------------------------------------------------
def two_items_total(rng: random.Random):
    name = rng.choice(NAMES)
    f1, f2 = _two(rng, FRUITS)
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    p1, p2 = Fraction(rng.randint(1, 8), rng.choice([1, 2])), Fraction(rng.randint(1, 8))
    total = a * p1 + b * p2
    q = (f"{name} buys {a} {f1} at {money(p1)} each and {b} {f2} at {money(p2)} each. "
         f"How many dollars does {name} spend in total?")
    steps = [f"The {f1} cost {a} × {money(p1)} = {money(a * p1)}.",
             f"The {f2} cost {b} × {money(p2)} = {money(b * p2)}.",
             f"Together: {money(a * p1)} + {money(b * p2)} = {money(total)}."]
    return q, total, steps


def pages_left(rng: random.Random):
    name = rng.choice(NAMES)
    per_day, days = rng.randint(5, 30), rng.randint(2, 7)
    read = per_day * days
    book = read + rng.randint(10, 200)
    q = (f"A book has {book} pages. {name} reads {per_day} pages every day for {days} days. "
         f"How many pages are still left to read?")
    steps = [f"{name} reads {per_day} × {days} = {read} pages.", f"Left: {book} - {read} = {book - read} pages."]
    return q, Fraction(book - read), steps


def average_score(rng: random.Random):
    name = rng.choice(NAMES)
    mean = rng.randint(60, 90)
    d1, d2 = rng.randint(-10, 10), rng.randint(-10, 10)
    scores = [mean + d1, mean + d2, mean - d1 - d2]
    q = (f"{name} scored {scores[0]}, {scores[1]} and {scores[2]} on three tests. "
         f"What is {name}'s average score?")
    steps = [f"Sum: {scores[0]} + {scores[1]} + {scores[2]} = {sum(scores)}.",
             f"Average: {sum(scores)} ÷ 3 = {mean}."]
    return q, Fraction(mean), steps


# -- level 4: work backwards, rates, percentages ----------------------------------------------------
def unknown_price(rng: random.Random):
    name = rng.choice(NAMES)
    f1, f2 = _two(rng, FRUITS)
    a, b = rng.randint(2, 8), rng.randint(2, 8)
    unknown, known = Fraction(rng.randint(1, 12), rng.choice([1, 2])), Fraction(rng.randint(1, 6))
    total = a * unknown + b * known
    q = (f"{name} buys {a} {f1} and {b} {f2}. Each of the {f2} costs {money(known)}. "
         f"The total is {money(total)}. How many dollars does one of the {f1} cost?")
    steps = [f"The {f2} cost {b} × {money(known)} = {money(b * known)}.",
             f"So the {f1} cost {money(total)} - {money(b * known)} = {money(a * unknown)}.",
             f"One of the {f1} costs {money(a * unknown)} ÷ {a} = {money(unknown)}."]
    return q, unknown, steps


def two_legs_distance(rng: random.Random):
    name, vehicle = rng.choice(NAMES), rng.choice(VEHICLES)
    v, t, u, s = rng.randint(20, 90), rng.randint(1, 4), rng.randint(20, 90), rng.randint(1, 4)
    q = (f"{name}'s {vehicle} travels at {v} km/h for {_hours(t)} and then at {u} km/h for {_hours(s)}. "
         f"How many kilometres does it travel in total?")
    steps = [f"First part: {v} × {t} = {v * t} km.", f"Second part: {u} × {s} = {u * s} km.",
             f"Total: {v * t} + {u * s} = {v * t + u * s} km."]
    return q, Fraction(v * t + u * s), steps


def discount(rng: random.Random):
    name, item = rng.choice(NAMES), rng.choice(["jacket", "lamp", "backpack", "board game", "kettle"])
    price, pct = rng.randint(2, 30) * 10, rng.choice([10, 15, 20, 25, 30, 40, 50])
    off = Fraction(price * pct, 100)
    q = (f"A {item} costs ${price}. {name} gets a {pct}% discount. "
         f"How many dollars does {name} pay for the {item}?")
    steps = [f"The discount is {pct}% of ${price} = {money(off)}.", f"{name} pays ${price} - {money(off)} = {money(price - off)}."]
    return q, price - off, steps


# -- level 5: ratios, ages, planning --------------------------------------------------------------
def ratio_share(rng: random.Random):
    n1, n2 = rng.sample(NAMES, 2)
    a, b = rng.sample(range(1, 8), 2)
    unit = rng.randint(3, 40)
    total = (a + b) * unit
    q = f"{n1} and {n2} share ${total} in the ratio {a}:{b}. How many dollars does {n2} get?"
    steps = [f"There are {a} + {b} = {a + b} equal parts.", f"One part is ${total} ÷ {a + b} = ${unit}.",
             f"{n2} gets {b} × ${unit} = ${b * unit}."]
    return q, Fraction(b * unit), steps


def ages(rng: random.Random):
    n1, n2 = rng.sample(NAMES, 2)
    young, k, years = rng.randint(3, 15), rng.randint(2, 4), rng.randint(2, 10)
    old = k * young
    total = old + young + 2 * years
    q = (f"{n1} is {k} times as old as {n2}. In {years} years, the sum of their ages will be {total}. "
         f"How old is {n2} now?")
    steps = [f"Let {n2}'s age be a; then {n1} is {k}a.",
             f"In {years} years: (a + {years}) + ({k}a + {years}) = {total}, so {k + 1}a = {total - 2 * years}.",
             f"a = {total - 2 * years} ÷ {k + 1} = {young}."]
    return q, Fraction(young), steps


def weeks_to_save(rng: random.Random):
    name, item = rng.choice(NAMES), rng.choice(["tickets", "books", "plants", "puzzles"])
    n, price, has, per_week = rng.randint(2, 6), rng.randint(8, 40), rng.randint(0, 30), rng.randint(5, 20)
    need = n * price - has
    if need <= 0:
        has, need = 0, n * price
    weeks = math.ceil(Fraction(need, per_week))
    q = (f"{name} wants to buy {n} {item} at ${price} each. {name} has ${has} and saves ${per_week} "
         f"every week. What is the smallest number of weeks {name} must save?")
    steps = [f"The {item} cost {n} × ${price} = ${n * price}.", f"{name} still needs ${n * price} - ${has} = ${need}.",
             f"{need} ÷ {per_week} = {number(Fraction(need, per_week))}, so {name} needs {weeks} whole weeks."]
    return q, Fraction(weeks), steps


TEMPLATES: dict[int, list[Template]] = {
    1: [gets_more, gives_away, two_places],
    2: [groups, share_equally, change_from_bill],
    3: [two_items_total, pages_left, average_score],
    4: [unknown_price, two_legs_distance, discount],
    5: [ratio_share, ages, weeks_to_save],
}


def generate(rng: random.Random, level: int) -> tuple[str, str, str, str]:
    """One word problem at `level`: ``(question, answer, solution, template name)``."""
    template = rng.choice(TEMPLATES[level])
    question, answer, steps = template(rng)
    solution = "\n".join([*steps, f"The answer is \\boxed{{{number(answer)}}}."])
    return question, number(answer), solution, template.__name__
