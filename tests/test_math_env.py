"""The `math` env: every family and level, computed answers, splits, determinism, rubric."""

from __future__ import annotations

import ast
import itertools
import re
from fractions import Fraction

import pytest

import llmgym
from llmgym import LLMGymError, check_env
from llmgym.envs.math import FAMILIES, MathEnv
from llmgym.envs.math_word import TEMPLATES
from llmgym.rewards.verify import answers_match, parse_number

LEVELS = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("family,level", list(itertools.product(FAMILIES, LEVELS)))
def test_every_family_and_level_passes_check_env(family, level):
    check_env(MathEnv(level=level, family=family), n_tasks=16)


@pytest.mark.parametrize("family,level", list(itertools.product(FAMILIES[:3], LEVELS)))
def test_reference_solutions_earn_full_reward(family, level):
    env = MathEnv(level=level, family=family)
    for task in env.tasks("train", n=12, seed=3):
        solution = env.reference(task)
        assert solution.rstrip(".$").endswith(f"\\boxed{{{task.answer}}}")
        score = env.rubric.score(solution, task)
        assert score.value == pytest.approx(1.1) and score.reason is None, (task.prompt, solution, score)
        assert task.meta["family"] == family and task.meta["level"] == level
        assert task.meta["answer_type"] in ("number", "expression", "set")


def test_level_one_arithmetic_is_single_digit_addition_in_a_short_plain_prompt():
    env = MathEnv(level=1)
    tasks = list(env.tasks("train")) + list(env.tasks("eval"))
    assert len(tasks) == 81  # every pair of digits 1-9, nothing else
    for task in tasks:
        m = re.fullmatch(r"What is ([1-9]) \+ ([1-9])\? Put the final answer in \\boxed\{\}\.", task.prompt)
        assert m and task.answer == str(int(m.group(1)) + int(m.group(2)))


def _eval_fraction(expression: str) -> Fraction:
    """Re-evaluate a rendered expression with Python's Fractions, independently of the generator."""
    tree = ast.parse(expression.replace("×", "*").replace("÷", "/"), mode="eval").body

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant):
            return Fraction(repr(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}.get(type(node.op)) if not isinstance(
                node.op, ast.Div) else a / b
        raise AssertionError(f"unexpected node {ast.dump(node)}")

    return ev(tree)


@pytest.mark.parametrize("level", LEVELS)
def test_arithmetic_answers_are_what_the_expression_evaluates_to(level):
    env = MathEnv(level=level, family="arithmetic")
    for task in env.tasks("train", n=60, seed=1):
        value = _eval_fraction(task.meta["expression"])
        assert value.denominator == 1, "divisions must be exact"
        assert Fraction(task.answer) == value, task.prompt
        assert task.meta["expression"] in task.prompt


def test_higher_arithmetic_levels_use_parentheses_negatives_and_division():
    texts = " ".join(t.meta["expression"] for t in MathEnv(level=5).tasks("train", n=80))
    assert all(token in texts for token in ("(", "(-", "×", "÷"))
    low = " ".join(t.meta["expression"] for t in MathEnv(level=2).tasks("train", n=80))
    assert "(" not in low and "÷" not in low


_NUM = r"-?\d+(?:\.\d+)?"
_STEP_RE = re.compile(rf"((?:{_NUM} [+\-×÷] )+{_NUM}) = ({_NUM}(?:/\d+)?)")


@pytest.mark.parametrize("level", LEVELS)
def test_word_problem_solutions_compute_every_step(level):
    env = MathEnv(level=level, family="word")
    seen = set()
    for task in env.tasks("train", n=60, seed=2):
        seen.add(task.meta["kind"])
        solution = task.meta["solution"].replace("$", "")
        steps = _STEP_RE.findall(solution)
        assert steps, solution
        for left, result in steps:
            assert _eval_fraction(left) == Fraction(result), solution
        assert parse_number(task.answer) is not None
    assert len(seen) == len(TEMPLATES[level]) >= 3  # several distinct templates per level


def test_word_problems_vary_names_and_objects():
    prompts = [t.prompt for t in MathEnv(level=1, family="word").tasks("train", n=60)]
    names = {p.split()[0] for p in prompts}
    assert len(names) >= 8 and len(set(prompts)) == 60


def test_unknown_price_template_is_worked_backwards_from_the_total():
    env = MathEnv(level=4, family="word")
    checked = 0
    for task in env.tasks("train", n=80, seed=5):
        if task.meta["kind"] != "unknown_price":
            continue
        a, b, known, total = re.search(
            r"buys (\d+) \w+ and (\d+) \w+\. Each of the \w+ costs \$([\d.]+)\. The total is \$([\d.]+)\.",
            task.prompt).groups()
        assert Fraction(task.answer) == (Fraction(total) - int(b) * Fraction(known)) / int(a)
        checked += 1
    assert checked >= 5


def _latex(text: str):
    from latex2sympy2_extended import latex2sympy

    return latex2sympy(text)


@pytest.mark.parametrize("level", LEVELS)
def test_algebra_answers_satisfy_the_problem(level):
    import sympy

    x = sympy.Symbol("x")
    env = MathEnv(level=level, family="algebra")
    for task in env.tasks("train", n=30, seed=4):
        kind, maths = task.meta["kind"], re.findall(r"\$([^$]+)\$", task.prompt)
        if kind in ("one_step", "linear", "linear_fraction"):
            eq = _latex(maths[-1])
            assert sympy.simplify(eq.lhs.subs(x, _latex(task.answer)) - eq.rhs.subs(x, _latex(task.answer))) == 0
        elif kind.startswith("quadratic"):
            poly = _latex(maths[0].replace("= 0", ""))
            roots = [_latex(r) for r in task.answer[2:-2].split(", ")]
            assert len(roots) == 2 and all(sympy.simplify(poly.subs(x, r)) == 0 for r in roots)
        elif kind.startswith("derivative"):
            f = _latex(maths[0].split("=", 1)[1])
            assert sympy.simplify(sympy.diff(f, x) - _latex(task.answer)) == 0
        elif kind == "evaluate":
            at = int(maths[1].split("=")[1])
            assert _latex(maths[0]).subs(x, at) == int(task.answer)
        assert answers_match(task.answer, task.answer, task.meta["answer_type"]) == (True, None)


def test_algebra_answers_are_checked_for_equivalence_not_spelling():
    env = MathEnv(level=3, family="algebra")
    task = next(t for t in env.tasks("train", n=50) if t.meta["kind"] == "expand")
    factored = re.search(r"\$([^$]+)\$", task.prompt).group(1)
    assert env.rubric.score(f"\\boxed{{{factored}}}", task).components["correct"] == 1.0
    assert env.rubric.score("\\boxed{x^{2} + 12345}", task).components["correct"] == 0.0


@pytest.mark.parametrize("family", FAMILIES)
def test_same_seed_gives_the_same_tasks_and_different_seeds_differ(family):
    env = MathEnv(level=3, family=family)
    first = [t.to_dict() for t in env.tasks("train", n=20, seed=7)]
    assert first == [t.to_dict() for t in MathEnv(level=3, family=family).tasks("train", n=20, seed=7)]
    assert first != [t.to_dict() for t in env.tasks("train", n=20, seed=8)]
    assert env.reset(seed=11)[0] == MathEnv(level=3, family=family).reset(seed=11)[0]


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_split_never_overlaps_train(family):
    env = MathEnv(level=2, family=family)
    train = {t.id: t.prompt for t in env.tasks("train", n=300)}
    evals = {t.id: t.prompt for t in env.tasks("eval", n=80)}
    assert len(evals) >= 40 and not set(train) & set(evals) and not set(train.values()) & set(evals.values())
    eval_env = MathEnv(level=2, family=family, split="eval")
    drawn = {eval_env.reset(seed=s)[1]["task_id"] for s in range(30)}
    assert not drawn & set(train)


def test_hedging_scores_zero_in_the_env():
    env = MathEnv(level=1)
    env.reset(seed=0)
    answer = int(env.task.answer)
    _, reward, _, _, info = env.step(f"\\boxed{{{answer}}} or \\boxed{{{answer + 1}}}")
    assert reward == 0.0 and info["reason"] == "hedged"


def test_unboxed_right_answer_earns_less_than_a_boxed_one_so_dropping_the_box_never_pays():
    env = MathEnv(level=1)
    env.reset(seed=0)
    _, bare, _, _, info = env.step(f"The sum is {env.task.answer}")
    assert bare == 0.5 and info["reward_components"] == {"correct": 0.5, "format": 0.0, "length": 1.0}
    assert info["reason"] == "no_explicit_answer"
    env.reset(seed=0)
    _, boxed, *_ = env.step(f"The sum is \\boxed{{{env.task.answer}}}")
    env.reset(seed=0)
    _, bare_wrong, *_ = env.step(f"The sum is {int(env.task.answer) + 1}")
    assert boxed == pytest.approx(1.1) and bare_wrong == 0.0 < bare < boxed


def test_hedges_still_earn_no_correctness_under_the_boxed_rubric():
    env = MathEnv(level=1)
    for hedge in ("\\boxed{{{a}}} or \\boxed{{{b}}}", "It is either {a} or {b}.", "\\boxed{{{a} or {b}}}"):
        env.reset(seed=0)
        answer = int(env.task.answer)
        *_, info = env.step(hedge.format(a=answer, b=answer + 1))
        assert info["reward_components"]["correct"] == 0.0, hedge


def test_default_rubric_and_length_budget():
    assert MathEnv().rubric.weights == {"correct": 1.0, "format": 0.1, "length": 0.0}
    env = MathEnv(length_budget=50)
    assert env.rubric.weights["length"] == 0.1
    env.reset(seed=0)
    _, reward, _, _, info = env.step("x" * 75 + f" \\boxed{{{env.task.answer}}}")
    assert info["reward_components"]["length"] < 1.0 and reward < 1.2


def test_bad_arguments_are_user_errors():
    with pytest.raises(LLMGymError, match="family"):
        MathEnv(family="geometry")
    with pytest.raises(LLMGymError, match="level"):
        MathEnv(level=6)
    with pytest.raises(LLMGymError, match="length_budget"):
        MathEnv(length_budget=0)


def test_registered_as_math_and_built_through_make():
    env = llmgym.make("math", level=2, family="word")
    assert isinstance(env, MathEnv) and env.family == "word" and env.level == 2


def test_accuracy_counts_a_right_bare_answer_while_the_format_figure_counts_the_box():
    """The reward prefers the box (1.1 against 0.5); accuracy says whether the answer is right, in either form."""
    from llmgym.rubric import FORMAT, SUCCESS, component_with_role, is_solved, solved_at

    env = MathEnv(level=1)
    success, at, form = component_with_role(env.rubric, SUCCESS), solved_at(env.rubric), component_with_role(env.rubric, FORMAT)
    env.reset(seed=0)
    _, bare, _, _, info = env.step(f"The sum is {env.task.answer}")
    assert is_solved(info["reward_components"], bare, success, at) and info["reward_components"][form] == 0.0
    env.reset(seed=0)
    _, wrong, _, _, info = env.step(f"The sum is {int(env.task.answer) + 1}")
    assert not is_solved(info["reward_components"], wrong, success, at)
    env.reset(seed=0)
    _, hedged, _, _, info = env.step(f"\\boxed{{{env.task.answer}}} or \\boxed{{{int(env.task.answer) + 1}}}")
    assert not is_solved(info["reward_components"], hedged, success, at)
