"""Verifier throughput, worst case and red team, side by side with calling math-verify directly.

    .venv/bin/python benchmarks/bench_verifier.py [--numeric N] [--symbolic N] [--tasks N] [--compare-hostile]

Prints verifications per second for simple numeric answers and for symbolic ones, for
`llmgym.rewards.verify.answers_match` and for ``math_verify.verify(parse(gold), parse(pred))`` in
the same run on the same distinct pairs (no pair repeats, so no cache helps either side), the
ratio, and the time of every hostile input through `AnswerReward` with the worst case.
Then the red team (`llmgym.rewards.redteam`) over `--tasks` eval tasks of every math family and
level and of counting: false-positive rate per adversarial family and false-negative rate per
legitimate family, each also for math-verify alone on the extracted answer (what a gym that hands
its answers to math-verify credits); and `env.step` on degenerate inputs up to 10 MB against a
step on an ordinary completion in the same run.
Targets: simple answers at least 2x faster than the direct call; no hostile input over 1 s;
red team 0 false positives and >= 99% legitimate forms accepted.
A figure, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from llmgym.rewards import verify_worker  # noqa: E402
from llmgym.rewards.answer import AnswerReward  # noqa: E402
from llmgym.rewards.verify import answers_match  # noqa: E402
from llmgym.types import Task  # noqa: E402


def numeric_pairs(n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Distinct (pred, gold) pairs as models and envs write them: ints, decimals, fractions."""
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        a, b = rng.randint(-999, 9999), rng.randint(2, 64)
        form = rng.randrange(4)
        if form == 0:
            pred, gold = str(a), str(a if rng.random() < 0.5 else a + 1)
        elif form == 1:
            pred, gold = f"{a / 4:g}", f"\\frac{{{a}}}{{4}}"
        elif form == 2:
            pred, gold = f"\\frac{{{a}}}{{{b}}}", f"{a}/{b}" if rng.random() < 0.5 else f"{a + 1}/{b}"
        else:
            pred, gold = f"{a}.{b}", f"{a}.{b}0"
        pairs.add((pred, gold))
    return sorted(pairs)


def symbolic_pairs(n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """Distinct pairs that need sympy: factored vs expanded polynomials, radicals, sets."""
    out: list[tuple[str, str, str]] = []
    seen: set[tuple[int, ...]] = set()
    while len(out) < n:
        a, b, c = rng.randint(-9, 9), rng.randint(-9, 9), rng.randint(2, 50)
        if (a, b, c) in seen:
            continue
        seen.add((a, b, c))
        kind = len(out) % 3
        if kind == 0:
            wrong = rng.random() < 0.5
            out.append((f"(x + {a})(x + {b + wrong})", f"x^{{2}} + {a + b} x + {a * b}", "expression"))
        elif kind == 1:
            out.append((f"\\sqrt{{{4 * c}}}", f"2 \\sqrt{{{c}}}", "expression"))
        else:
            out.append((f"{a} \\pm \\sqrt{{{c}}}", f"\\{{{a} - \\sqrt{{{c}}}, {a} + \\sqrt{{{c}}}\\}}", "set"))
    return out


def rate(fn, items) -> tuple[float, float]:
    """(verifications per second, fraction judged equal)."""
    start = time.perf_counter()
    hits = sum(bool(fn(*item)) for item in items)
    elapsed = time.perf_counter() - start
    return len(items) / elapsed, hits / len(items)


def hostile_inputs() -> dict[str, str]:
    from test_verifier import HOSTILE

    return HOSTILE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numeric", type=int, default=3000, help="distinct numeric pairs")
    parser.add_argument("--symbolic", type=int, default=150, help="distinct symbolic pairs")
    parser.add_argument("--compare-hostile", action="store_true",
                        help="also time math-verify directly on the hostile inputs (slow: its own 5 s timeouts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tasks", type=int, default=4, help="red team: eval tasks per math family and level")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # math-verify logs whole inputs on timeouts

    from math_verify import parse, verify

    def direct(pred: str, gold: str, kind: str | None = None) -> bool:
        return verify(parse(f"\\boxed{{{gold}}}"), parse(f"\\boxed{{{pred}}}"))

    def ours(pred: str, gold: str, kind: str | None = None) -> bool:
        return answers_match(pred, gold, kind)[0]

    rng = random.Random(args.seed)
    start = time.perf_counter()
    verify_worker.warm()
    print(f"worker start-up (once per process, imports sympy): {time.perf_counter() - start:.2f} s")
    for pred, gold in (("1", "1"), ("(x+1)^2", "x^2+2x+1"), ("\\{1,2\\}", "\\{2,1\\}")):
        direct(pred, gold), ours(pred, gold)  # both sides warm

    numeric = [(p, g, "number") for p, g in numeric_pairs(args.numeric, rng)]
    symbolic = symbolic_pairs(args.symbolic, rng)
    print(f"\n{'answers':<10} {'pairs':>6} {'ours /s':>10} {'math-verify /s':>15} {'ratio':>7}  agreement")
    for name, items in (("numeric", numeric), ("symbolic", symbolic)):
        ours_rate, ours_hits = rate(ours, items)
        direct_rate, direct_hits = rate(direct, items)
        print(f"{name:<10} {len(items):>6} {ours_rate:>10.0f} {direct_rate:>15.0f} {ours_rate / direct_rate:>6.1f}x"
              f"  equal: ours {ours_hits:.0%}, math-verify {direct_hits:.0%}")

    print("\nhostile inputs through AnswerReward (gold 3):")
    reward, task = AnswerReward(), Task("What is 1 + 2?", "3", {"answer_type": "number"})
    worst = ("", 0.0)
    for name, text in hostile_inputs().items():
        start = time.perf_counter()
        score = reward.score(text, task)
        elapsed = time.perf_counter() - start
        line = f"  {name:<26} {elapsed * 1000:>9.2f} ms  value {score.value:.0f}  reason {score.reason}"
        if args.compare_hostile:
            start = time.perf_counter()
            try:
                verify(parse("3"), parse(text))
                line += f"   math-verify {time.perf_counter() - start:.2f} s"
            except BaseException as exc:  # noqa: BLE001 - a figure, whatever it raised
                line += f"   math-verify raised {type(exc).__name__} after {time.perf_counter() - start:.2f} s"
        print(line)
        worst = max(worst, (name, elapsed), key=lambda w: w[1])
    print(f"worst case: {worst[1] * 1000:.1f} ms ({worst[0]}); target: under 1000 ms")
    red_team_table(args.tasks, direct)
    degenerate_steps()


def red_team_table(n_tasks: int, direct) -> None:
    from llmgym.parsing import extract_answer
    from llmgym.rewards.redteam import red_team, sample_tasks

    tasks, reference = sample_tasks(n_tasks, seed=2)
    reward = AnswerReward()

    class _Verdict:
        def __init__(self, value: float):
            self.value = value

    def math_verify_alone(completion: str, task: Task) -> _Verdict:
        answer = extract_answer(completion).text
        try:
            return _Verdict(float(answer is not None and bool(direct(answer, str(task.answer)))))
        except BaseException:  # noqa: BLE001 - a figure, whatever it raised
            return _Verdict(0.0)

    skip = ("huge", "degenerate_whitespace")  # math-verify alone takes seconds each on these
    start = time.perf_counter()
    ours_fp, ours_fn = red_team(reward.score, tasks, reference=reference)
    elapsed = time.perf_counter() - start
    mv_fp, mv_fn = red_team(math_verify_alone, tasks, reference=reference, skip=skip)
    print(f"\nred team over {len(tasks)} tasks ({elapsed:.1f} s for ours): "
          "adversarial families (false positives) and legitimate ones (false negatives)")
    print(f"  {'family':<24} {'n':>6} {'ours':>8} {'math-verify':>12} {'slowest step':>14}")
    for title, ours, theirs in (("false positives", ours_fp, mv_fp), ("false negatives", ours_fn, mv_fn)):
        print(f"  -- {title}")
        for family, result in ours.items():
            other = theirs.get(family)
            mv = f"{other.rate:>11.1%}" if other else f"{'(skipped)':>12}"
            print(f"  {family:<24} {result.n:>6} {result.rate:>7.1%} {mv} {result.slowest * 1000:>11.1f} ms")
        total = sum(r.n for r in ours.values())
        errors = sum(r.errors for r in ours.values())
        print(f"  {'all':<24} {total:>6} {errors / total:>7.2%}")


def degenerate_steps() -> None:
    import llmgym

    env = llmgym.make("math", level=1)
    cases = {
        "ordinary completion": "3 + 4 = 7, so the answer is \\boxed{7}.",
        "#### 1 + 60,000 spaces + x": "#### 1" + " " * 60_000 + "x",
        "65,536 newlines": "\n" * 65_536 + "1",
        "\\t\\n runs (10 MB)": "\t\n" * 5_000_000,
        "<answer> x 1M (8 MB)": "<answer>" * 1_000_000,
        "<answer>1</answer> x 500k": "<answer>1</answer>" * 500_000,
        "\\boxed{1} x 1M": "\\boxed{1}" * 1_000_000,
        "#### lines x 1.4M": "#### 1\n" * 1_400_000,
        "unclosed \\boxed{ x 1.4M": "\\boxed{" * 1_400_000,
        "10 MB of x": "x" * 10_000_000,
        "10 MB of digits": "9" * 10_000_000,
        "'12 or ' x 1.7M": "12 or " * 1_700_000,
    }
    print("\nenv.step (math level 1: correct + format + length) on degenerate inputs")
    print(f"  {'input':<30} {'ms':>9} {'x ordinary':>11}  reward reason")
    base = None
    for name, text in cases.items():
        env.reset(seed=0)
        times = []
        for _ in range(3):
            env.reset(seed=0)
            start = time.perf_counter()
            _, reward, *_, info = env.step(text)
            times.append(time.perf_counter() - start)
        best = min(times)
        base = base or best
        print(f"  {name:<30} {best * 1000:>9.2f} {best / base:>10.0f}x  {reward:.1f} {info['reason']}")


if __name__ == "__main__":
    main()
