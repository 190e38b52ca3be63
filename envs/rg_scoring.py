"""How each reasoning-gym dataset is scored: strictly by default, by reasoning-gym's own scorer on request.

reasoning-gym's base `score_answer` gives ``len(oracle) / len(answer)`` to any answer that merely
*contains* the oracle, and many datasets' own scorers add partial credit for a wrong answer that
parses (0.01, 0.05, ...) or for one that is close (``exp(-distance)``); a policy trained on those
learns to pad and to guess. So every dataset gets one of these strict scorers, all named `correct`
and scoring 1 or 0:

=========  ===========================================================================================
kind       what scores 1
=========  ===========================================================================================
number     the shared verifier (`llmgym.rewards.answer.AnswerReward`), ``answer_type="number"``
string     the shared verifier, ``answer_type="string"`` (case, spaces, quotes, a final period free)
auto       number or string, from each oracle (calendar_arithmetic mixes weekdays and day counts)
python     the shared verifier, ``answer_type="expression"``, with Python's ``**`` read as ``^``
exact      the oracle's text, after normalising whitespace (runs, line ends, around ``,[](){};``)
literal    the oracle as a JSON or Python literal (``['1', '2']`` equals ``["1","2"]``)
checker    the dataset's own scorer gives exactly 1.0 (never partial credit): for datasets where many
           answers are right (any valid sudoku, ladder, coloring, move list); a `form` regex the
           answer must match first keeps out padding that the scorer's parser would skip
=========  ===========================================================================================

Every kind reads the final answer through `llmgym.parsing.extract_answer` (the env asks for
``<answer>...</answer>`` tags; ``\\boxed{}`` works too). For the text kinds an explicit answer is
required (no last-number fallback), and two different explicit answers are a hedge (0).

`scorer="native"` (`NativeReward`, named `rg_score`) is reasoning-gym's `score_answer` as it is,
partial credit included, for comparison with published reasoning-gym numbers. Some of those scorers
pass the answer to Python's `eval` or to sympy's `parse_expr` (which evaluates Python); model output
reaches them only when it is a plain literal or plain arithmetic (`safe_for_native`), so a completion
can never run code in the reward.
"""

from __future__ import annotations

import ast
import copy
import json
import math
import re
from typing import Any, Callable, Sequence

from llmgym.parsing import MAX_SCAN_CHARS, extract_answer
from llmgym.rubric import SUCCESS, BaseReward, check_batch
from llmgym.types import Score, Task

# The parser reads the last MAX_SCAN_CHARS of a completion: a longer answer cannot be read whole.
MAX_ANSWER_CHARS = MAX_SCAN_CHARS

NUMBER = frozenset("""
    aiw basic_arithmetic binary_alternation chain_sum circuit_logic coin_flip count_bits count_primes
    decimal_arithmetic decimal_chain_sum dice gcd gsm_symbolic largest_island lcm leg_counting
    letter_counting maze number_format number_sequence power_function products rectangle_count
    rotten_oranges self_reference simple_equations simple_geometry
""".split())
STRING = frozenset("""
    acre base_conversion caesar_cipher color_cube_rotation course_schedule family_relationships
    figlet_font game_of_life_halting isomorphic_strings letter_jumble mahjong_puzzle needle_haystack
    ransom_note spell_backward syllogism tsumego word_sequence_reversal zebra_puzzles
""".split())
AUTO = frozenset(["calendar_arithmetic"])
PYTHON = frozenset(["simple_integration", "intermediate_integration"])
EXACT = frozenset("""
    ab arc_1d arc_agi bf binary_matrix emoji_mystery futoshiki manipulate_matrix mini_sudoku modulo_grid
    path_star pool_matrix rearc rotate_matrix sentence_reordering spiral_matrix string_insertion
    string_manipulation string_splitting string_synthesis sudoku survo time_intervals word_sorting
""".split())
LITERAL = frozenset(["codeio", "game_of_life", "list_functions", "number_filtering", "number_sorting"])
# Datasets scored by their own scorer (strictly), with the form an answer must have first, if any.
_GRID01 = r"[01]+(?:[ \t]+[01]+)*(?:\n[01]+(?:[ \t]+[01]+)*)*"
CHECKER: dict[str, str | None] = {
    "advanced_geometry": None, "bitwise_arithmetic": None, "boxnet": None, "complex_arithmetic": None,
    "countdown": None, "cryptarithm": None, "graph_color": None, "group_anagrams": None, "jugs": None,
    "knight_swap": None, "n_queens": None, "palindrome_generation": r"[A-Za-z]+",
    "palindrome_partitioning": None, "polynomial_equations": None, "polynomial_multiplication": None,
    "prime_factorization": None, "propositional_logic": None, "puzzle24": None, "rubiks_cube": None,
    "rush_hour": None, "shortest_path": None, "tower_of_hanoi": None, "word_ladder": None,
    "fraction_simplification": r"\$?\s*(?:\\[dt]?frac\{\s*-?\d+\s*\}\{\s*-?\d+\s*\}|-?\d+\s*/\s*-?\d+)\s*\$?",
    "kakurasu": _GRID01,
    "knights_knaves": r"[A-Z][a-z]+ is an? [a-z]+(?:(?:,\s*|\s+)(?:and\s+)?[A-Z][a-z]+ is an? [a-z]+)*\.?",
    "quantum_lock": r"[A-C](?:\s*(?:→|->|,)?\s*[A-C])*",
    "sokoban": r"[UDLR]+",
}
# Scorers that pass the answer to Python's eval (literals are safe) or to sympy's parse_expr (plain
# arithmetic, or a polynomial in named variables, is safe).
EVAL_FLAVOUR = {"binary_matrix": "python", "n_queens": "python", "spiral_matrix": "python",
                "string_insertion": "python", "countdown": "arithmetic", "puzzle24": "arithmetic",
                "polynomial_multiplication": "polynomial", "simple_integration": "polynomial",
                "intermediate_integration": "polynomial"}
# Datasets that give no oracle answer but keep a valid one in their metadata (the env's reference).
REFERENCE_FIELDS = {"graph_color": "possible_answer", "propositional_logic": "example_answer",
                    "rubiks_cube": "example_correct_answer"}
# Metadata fields reasoning-gym keeps as tuples and its scorer compares with tuples (JSON makes lists).
TUPLE_FIELDS = {"arc_agi": ("input", "output"), "rearc": ("input", "output")}
KINDS = ("number", "string", "auto", "python", "exact", "literal", "checker")


def scoring_kind(dataset: str) -> str:
    """The strict scorer of a dataset; one this table does not know is compared as exact text."""
    for kind, names in (("number", NUMBER), ("string", STRING), ("auto", AUTO), ("python", PYTHON),
                        ("exact", EXACT), ("literal", LITERAL), ("checker", CHECKER)):
        if dataset in names:
            return kind
    return "exact"


# -- reading the final answer ----------------------------------------------------------------------
def final_answer(completion: str) -> tuple[str | None, str | None]:
    """The explicit final answer of a completion and, when there is none to score, why.

    >>> final_answer("so <answer>\\n1 0\\n0 1\\n</answer>")
    ('1 0\\n0 1', None)
    >>> final_answer("<answer>a</answer> or <answer>b</answer>")
    ('b', 'hedged')
    """
    parsed = extract_answer(completion)
    if not parsed.found or parsed.source == "last_number" or not parsed.text.strip():  # type: ignore[union-attr]
        return None, "no_answer"
    text = parsed.text.strip()  # type: ignore[union-attr]
    if len(text) > MAX_ANSWER_CHARS:
        return None, "too_long"
    if len({normalize_text(c) for c in parsed.candidates[:64]}) > 1:
        return text, "hedged"
    return text, None


_LINE_SPACE_RE = re.compile(r"[ \t\r\f\v]+")
_PUNCT_SPACE_RE = re.compile(r"[ \t]*([,;\[\](){}])[ \t]*")


def normalize_text(text: str) -> str:
    """Text compared as text: runs of spaces, blank lines and spaces around ``,;[](){}`` do not matter.

    >>> normalize_text("  [1,  2 ]\\n\\n 3   4 ") == normalize_text("[1, 2]\\n3 4")
    True
    """
    lines = (_LINE_SPACE_RE.sub(" ", line).strip() for line in text.strip().splitlines())
    return _PUNCT_SPACE_RE.sub(r"\1", "\n".join(line for line in lines if line))


def parse_literal(text: str) -> Any:
    """A JSON or Python literal, tagged by type so that ``True`` never equals ``1``; None if neither.

    >>> parse_literal("['1', 2]") == parse_literal('["1", 2.0]')
    True
    >>> parse_literal("[1] junk") is None
    True
    """
    if not isinstance(text, str) or len(text) > MAX_ANSWER_CHARS:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            return _tagged(parse(text.strip()))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def _tagged(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return ("const", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    if isinstance(value, str):
        return ("text", value)
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_tagged(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((repr(_tagged(k)), _tagged(v)) for k, v in value.items())))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_tagged(v) for v in value))
    return ("other", repr(value))


# -- what may reach a scorer that evaluates its input ----------------------------------------------
_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div,
               ast.USub, ast.UAdd)
# A bare name only looks a value up (no call, attribute or subscript can follow it), so it is safe.
_LITERAL_NODES = (ast.Expression, ast.Constant, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.UnaryOp,
                  ast.USub, ast.UAdd, ast.Name, ast.Load)
_FUNCTIONS = frozenset("sin cos tan cot sec csc asin acos atan sinh cosh tanh exp log sqrt Abs".split())
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}")


def safe_for_native(dataset: str, answer: str) -> bool:
    """Whether `answer` may be handed to `dataset`'s own scorer: always, unless that scorer evaluates
    its input, and then only literals and bare names (Python's eval), plain arithmetic on numbers, or
    polynomials (sympy's parse_expr, which evaluates Python): no calls but a few math functions, no
    attributes or subscripts, no names starting with ``_``, powers only by small constants.

    >>> safe_for_native("countdown", "(25 - 5) * 4 + 3")
    True
    >>> safe_for_native("countdown", "__import__('os').system('true')")
    False
    >>> safe_for_native("simple_integration", "x**9**9**9")
    False
    """
    flavour = EVAL_FLAVOUR.get(dataset)
    if flavour is None:
        return True
    if len(answer) > 2000:
        return False
    try:
        tree = ast.parse(answer.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return flavour == "python"  # Python's eval fails on it as well; parse_expr might still run it
    if flavour == "python":
        return all(isinstance(node, _LITERAL_NODES) for node in ast.walk(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool) or abs(node.value) > 10**12:
                return False
        elif flavour == "arithmetic":
            if not isinstance(node, _ARITHMETIC):
                return False
        elif isinstance(node, ast.Name):
            if not _NAME_RE.fullmatch(node.id):
                return False
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS and not node.keywords):
                return False
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            exponent = node.right
            if isinstance(exponent, ast.UnaryOp):
                exponent = exponent.operand
            if not (isinstance(exponent, ast.Constant) and isinstance(exponent.value, (int, float))
                    and abs(exponent.value) <= 64):
                return False
        elif not isinstance(node, (*_ARITHMETIC, ast.Pow, ast.Name, ast.Load, ast.Call)):
            return False
    return True


# -- the rewards -------------------------------------------------------------------------------------
def rg_entry(task: Task) -> dict[str, Any]:
    """The reasoning-gym entry a task was made from, as its scorer expects it (a fresh copy: some
    scorers write into it)."""
    meta = task.meta
    metadata = copy.deepcopy(meta.get("rg_metadata") or {})
    for field in TUPLE_FIELDS.get(str(meta.get("rg_dataset")), ()):
        if field in metadata:
            metadata[field] = _tuples(metadata[field])
    return {"question": task.text, "answer": task.answer, "metadata": metadata}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


DatasetGetter = Callable[[str, int], Any]


class TextReward(BaseReward):
    """`exact` and `literal`: the explicit final answer against the oracle, as text or as a literal."""

    name = "correct"
    role = SUCCESS

    def __init__(self, kind: str):
        self.kind = kind

    def score(self, completion: str, task: Task) -> Score:
        answer, reason = final_answer(completion)
        if reason is not None:
            return Score.zero(reason, answer)
        gold = task.answer if isinstance(task.answer, str) else str(task.answer)
        if self.kind == "literal":
            mine = parse_literal(answer)
            if mine is None:
                return Score.zero("unparsable", answer)
            ok = mine == parse_literal(gold)
        else:
            ok = normalize_text(answer) == normalize_text(gold)  # type: ignore[arg-type]
        return Score(1.0, {}, None, answer) if ok else Score.zero("wrong", answer)


class PythonExpressionReward(BaseReward):
    """The shared verifier on expressions written in Python (``x**2``), which it reads as ``x^2``."""

    name = "correct"
    role = SUCCESS

    def __init__(self) -> None:
        from llmgym.rewards.answer import AnswerReward

        self.inner = AnswerReward()

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        check_batch(completions, tasks)
        converted = [Task(t.prompt, str(t.answer).replace("**", "^"), t.meta, id=t.id) for t in tasks]
        return self.inner.score_batch([c.replace("**", "^") for c in completions], converted)


class CheckerReward(BaseReward):
    """reasoning-gym's own scorer, on the explicit final answer and the task's entry.

    `strict` (the default scorer of `checker` datasets) scores 1 only for a full 1.0 from that scorer
    and 0 otherwise; `NativeReward` keeps its partial credit. A scorer that raises scores 0.
    """

    name = "correct"
    role = SUCCESS

    def __init__(self, dataset_of: DatasetGetter, *, strict: bool = True, form: str | None = None):
        self.dataset_of = dataset_of
        self.strict = strict
        self.form = re.compile(form) if form else None

    def score(self, completion: str, task: Task) -> Score:
        if self.strict:
            answer, reason = final_answer(completion)
        else:
            parsed = extract_answer(completion)  # reasoning-gym's own reading: the answer, hedged or not
            answer = parsed.text.strip() if parsed.found else None  # type: ignore[union-attr]
            reason = "no_answer" if not answer else "too_long" if len(answer) > MAX_ANSWER_CHARS else None
        if reason is not None:
            return Score.zero(reason, answer)
        assert answer is not None
        name = str(task.meta.get("rg_dataset"))
        if self.form is not None and not self.form.fullmatch(answer):
            return Score.zero("wrong_form", answer)
        if not safe_for_native(name, answer):
            return Score.zero("unsafe_answer", answer)
        try:
            dataset = self.dataset_of(name, int(task.meta.get("level", 1)))
            value = float(dataset.score_answer(answer, rg_entry(task)))
        except Exception:  # the dataset's parser on hostile text: its answer is not one
            return Score.zero("unparsable", answer)
        if not math.isfinite(value):
            return Score.zero("unparsable", answer)
        value = min(1.0, max(0.0, value))
        if self.strict:
            value = 1.0 if value >= 1.0 else 0.0
        return Score(value, {}, None if value >= 1.0 else "wrong", answer)


class NativeReward(CheckerReward):
    """`scorer="native"`: reasoning-gym's `score_answer` as it is, partial credit included."""

    name = "rg_score"

    def __init__(self, dataset_of: DatasetGetter):
        super().__init__(dataset_of, strict=False)


def strict_reward(dataset: str, dataset_of: DatasetGetter) -> BaseReward:
    """The strict `correct` reward of `dataset` (see the table in the module docstring)."""
    kind = scoring_kind(dataset)
    if kind in ("number", "string", "auto"):
        from llmgym.rewards.answer import AnswerReward

        return AnswerReward()  # reads task.meta["answer_type"]
    if kind == "python":
        return PythonExpressionReward()
    if kind == "checker":
        return CheckerReward(dataset_of, form=CHECKER.get(dataset))
    return TextReward(kind)


def answer_type(dataset: str, oracle: Any) -> str | None:
    """`task.meta["answer_type"]` for the shared verifier, or None for datasets it does not score."""
    kind = scoring_kind(dataset)
    if kind == "auto":
        from llmgym.rewards.verify import parse_number

        return "number" if parse_number(str(oracle)) is not None else "string"
    return {"number": "number", "string": "string", "python": "expression"}.get(kind)
