"""Rewards for unverifiable text: the simulated gold labeler (`gold`), a learned reward model
(`reward_model`) and an LLM judge (`judge`).

**Gold** is the measure of true quality in over-optimisation experiments, so it is written to be
hard to satisfy by degenerate text. Given the task's spec (`task.answer`: `keywords`, `need`,
`min_words`, `max_words`, `form`) it multiplies five factors in [0, 1]:

- `topic`   distinct topic keywords used / `need` (a keyword matches a word it starts: pelican(s)),
- `length`  1 inside the word window, falling linearly to 0 at half the minimum / twice the maximum,
- `variety` distinct-1 >= 0.6 and distinct-2 >= 0.9 for full marks; any word three times in a row
            gives 0 ("the the the"),
- `fluency` the share of known English words (>= 0.75 for full marks) times the share of function
            words (the, a, of, ...; >= 0.15 for full marks): a bare list of keywords is not a joke,
- `form`    the family's shape: a joke has a question or an exclamation, a poem 2-8 lines, a
            summary exactly one sentence, a slogan one line.

Being a product, one failed factor sinks the score; the task's template answer scores 1.0.

>>> from llmgym.types import Task
>>> spec = {"keywords": ["pelican", "beak", "fish"], "need": 2, "min_words": 8, "max_words": 40, "form": "joke"}
>>> task = Task("Tell a joke about pelicans.", spec)
>>> gold = GoldReward()
>>> gold.score("Why did the pelican open its beak at the market? It wanted fish on sale!", task).value
1.0
>>> gold.score("the the the the the the the the the", task).value
0.0
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import append_jsonl, iter_jsonl
from llmgym.rlhf.degeneracy import distinct_n, longest_run, words
from llmgym.rubric import ORACLE, BaseReward, check_batch
from llmgym.types import Score, Task

MAX_CHARS = 20_000
FUNCTION_WORDS = frozenset("""
a an the of to in on at and or but is are was were be been am it its it's with for that this these those
why what who how did do does done because my your our their we i you he she they them his her him me us
not no so as by from every all there where when after about like up out if then than just can will
would could should into over under while before again too very one two some any more most has have had
off only own same such both each few other nor yet now here once
""".split())
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """English words the fluency factor accepts: the shipped word list plus function words."""
    text = resources.files("llmgym.envs").joinpath("data", "words.txt").read_text(encoding="utf-8")
    extra = ("clerk crowd laughs plan shop sale life party neighbours quiet care walk leave finds stand "
             "wait soft hour late opens gate calling air days made best yet built after hit lived people "
             "lost hope gathered started build took years work end still talk refused give").split()
    return frozenset(w.strip() for w in text.splitlines() if w.strip()) | FUNCTION_WORDS | frozenset(extra)


def _matches(word: str, keyword: str) -> bool:
    return word == keyword or (len(keyword) >= 3 and word.startswith(keyword) and len(word) - len(keyword) <= 3)


def _window(n: int, lo: int, hi: int) -> float:
    if lo <= n <= hi:
        return 1.0
    if n < lo:
        return max(0.0, (n - lo / 2) / (lo / 2)) if lo > 0 else 1.0
    return max(0.0, 1.0 - (n - hi) / hi)


def _form(text: str, form: str) -> float:
    stripped = text.strip()
    if form == "joke":
        return 1.0 if ("?" in stripped or "!" in stripped) else 0.5
    if form == "poem":
        lines = [ln for ln in stripped.splitlines() if ln.strip()]
        return 1.0 if 2 <= len(lines) <= 8 else 0.3
    if form == "summary":
        ends = len(_SENTENCE_END.findall(stripped))
        one_line = "\n" not in stripped
        return 1.0 if ends == 1 and stripped[-1:] in ".!?" and one_line else 0.4
    if form == "slogan":
        return 1.0 if "\n" not in stripped else 0.3
    return 1.0


def gold_components(text: str, spec: Mapping[str, Any], prompt: str = "") -> dict[str, float]:
    """The five gold factors of `text` under a task spec (see module docstring)."""
    toks = words(text)
    n = len(toks)
    keywords = [str(k).lower() for k in spec.get("keywords", ())]
    need = max(1, int(spec.get("need", 1)))
    hits = sum(1 for k in keywords if any(_matches(w, k) for w in toks))
    known = known_words() | set(keywords) | set(words(prompt))
    variety = min(1.0, distinct_n(toks, 1) / 0.6) * min(1.0, distinct_n(toks, 2) / 0.9)
    if longest_run(toks) >= 3:
        variety = 0.0
    fluency = 0.0
    if n:
        known_share = sum(w in known for w in toks) / n
        function_share = sum(w in FUNCTION_WORDS for w in toks) / n
        fluency = min(1.0, known_share / 0.75) * min(1.0, function_share / 0.15)
    return {
        "topic": min(1.0, hits / need),
        "length": _window(n, int(spec.get("min_words", 1)), int(spec.get("max_words", 10_000))),
        "variety": variety,
        "fluency": fluency,
        "form": _form(text, str(spec.get("form", ""))),
    }


REASONS = {"topic": "off_topic", "length": "bad_length", "variety": "repetitive", "fluency": "not_fluent",
           "form": "wrong_form"}


class GoldReward(BaseReward):
    """The simulated gold labeler: a deterministic preference degenerate text cannot satisfy."""

    name = "gold"
    role = ORACLE

    def words(self) -> frozenset[str]:
        """The words its fluency factor accepts: what the simulated writer (`llmgym.rlhf.simulate`) swaps in."""
        return known_words()

    def score(self, completion: str, task: Task) -> Score:
        spec = task.answer if isinstance(task.answer, Mapping) else {}
        if not isinstance(completion, str) or not completion.strip():
            return Score.zero("empty", **dict.fromkeys(REASONS, 0.0))
        if len(completion) > MAX_CHARS:
            return Score.zero("too_long", **dict.fromkeys(REASONS, 0.0))
        if not spec:
            return Score.zero("no_gold_spec", **dict.fromkeys(REASONS, 0.0))
        comps = gold_components(completion, spec, task.text)
        value = math.prod(comps.values())
        weakest = min(comps, key=comps.get)
        reason = None if value >= 1.0 - 1e-9 else REASONS[weakest]
        return Score(value, comps, reason)


# -- reward model ----------------------------------------------------------------------------------
class RewardModelReward(BaseReward):
    """A reward model saved by `llmgym rm train`, loaded by path; scores whole batches at once.

    The raw scalar is standardised with the mean and spread of the training rewards (saved with
    the model) and squashed by a sigmoid, so `value` lies in (0, 1); `components["raw"]` keeps the
    raw output.
    """

    name = "reward_model"

    def __init__(self, path: str, batch_size: int = 32, device: str | None = None):
        if not path or not Path(path).expanduser().is_dir():
            raise LLMGymError(f"reward_model: {path!r} is not a directory saved by `llmgym rm train`")
        self.path = str(Path(path).expanduser())
        self.batch_size = int(batch_size)
        self.device = device
        self._scorer: Any = None

    @property
    def scorer(self) -> Any:
        if self._scorer is None:
            from llmgym.rlhf.reward_model import RewardScorer

            self._scorer = RewardScorer.load(self.path, device=self.device, batch_size=self.batch_size)
        return self._scorer

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        check_batch(completions, tasks)
        out: list[Score | None] = [None] * len(completions)
        idx = []
        for i, c in enumerate(completions):
            if not isinstance(c, str) or len(c) > MAX_CHARS:
                out[i] = Score.zero("too_long" if isinstance(c, str) else "not_text", raw=0.0)
            else:
                idx.append(i)
        if idx:
            raws = self.scorer.score([tasks[i].messages() for i in idx], [completions[i] for i in idx])
            for i, raw in zip(idx, raws):
                out[i] = Score(self.scorer.squash(raw), {"raw": raw})
        return [s for s in out if s is not None]

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]


# -- LLM judge -----------------------------------------------------------------------------------
JUDGE_PROMPT = """You are judging a response to a writing request.

Request:
{prompt}

Response:
{completion}

How good is the response (on topic, well written, not repetitive, the requested form)? Rate it
from 1 (worst) to 10 (best). Reply with the rating in \\boxed{{}}, for example \\boxed{{7}}."""


class JudgeReward(BaseReward):
    """An LLM judge: any policy rates each (prompt, completion) from 1 to 10; value = (rating-1)/9.

    `prompt` overrides the judging prompt (placeholders `{prompt}` and `{completion}`). Verdicts are
    cached per (prompt, completion) in memory and, with `cache=FILE`, in a JSONL file that a later
    run reads back. A reply without a rating scores 0 with reason `judge_no_rating`.
    """

    name = "judge"

    def __init__(self, policy: Any = "smollm2", prompt: str = JUDGE_PROMPT, cache: str | None = None,
                 max_tokens: int = 32, batch_size: int = 16):
        if "{completion}" not in prompt:
            raise LLMGymError("judge prompt must contain {completion} (and usually {prompt})")
        self.policy_spec = policy
        self._policy = None if isinstance(policy, str) else policy
        self.template = prompt
        self.max_tokens = int(max_tokens)
        self.batch_size = int(batch_size)
        self.cache_path = Path(cache) if cache else None
        self.cache: dict[str, float | None] = {}
        if self.cache_path and self.cache_path.is_file():
            # A cache: a row it cannot read is asked again, never an error.
            for _, row in iter_jsonl(self.cache_path, skip_bad=True):
                if isinstance(row, dict) and isinstance(row.get("key"), str) and "rating" in row:
                    self.cache[row["key"]] = row["rating"]

    @property
    def policy(self) -> Any:
        if self._policy is None:
            import llmgym

            self._policy = llmgym.make_policy(self.policy_spec)
        return self._policy

    def key(self, prompt: str, completion: str) -> str:
        return hashlib.sha256(json.dumps([self.template, prompt, completion]).encode()).hexdigest()[:32]

    def ratings(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float | None]:
        """Ratings 1-10 (None when the judge gave none), asking the judge only for uncached pairs."""
        from llmgym.parsing import extract_answer
        from llmgym.types import SamplingParams

        keys = [self.key(p, c) for p, c in zip(prompts, completions)]
        todo = sorted({k: i for i, k in enumerate(keys) if k not in self.cache}.items(), key=lambda kv: kv[1])
        params = SamplingParams(temperature=0.0, max_tokens=self.max_tokens)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            msgs = [[{"role": "user", "content": self.template.format(prompt=prompts[i], completion=completions[i])}]
                    for _, i in chunk]
            replies = self.policy.generate(msgs, n=1, params=params)
            rows = []
            for (k, _), reply in zip(chunk, replies):
                parsed = extract_answer(reply[0].text if reply else "")
                try:
                    rating = float(parsed.text) if parsed.found else None
                except (TypeError, ValueError):
                    rating = None
                if rating is not None and not 1 <= rating <= 10:
                    rating = None
                self.cache[k] = rating
                rows.append({"key": k, "rating": rating})
            if self.cache_path:
                append_jsonl(self.cache_path, rows)
        return [self.cache[k] for k in keys]

    def score_batch(self, completions: Sequence[str], tasks: Sequence[Task]) -> list[Score]:
        check_batch(completions, tasks)
        texts = [c[:MAX_CHARS] if isinstance(c, str) else "" for c in completions]
        rated = self.ratings([t.text for t in tasks], texts)
        return [Score.zero("judge_no_rating") if r is None else Score((r - 1) / 9, {"rating": r}) for r in rated]

    def score(self, completion: str, task: Task) -> Score:
        return self.score_batch([completion], [task])[0]


def make_preference_reward(spec: str) -> BaseReward:
    """The reward an `rlhf` env's `reward=` names: gold, reward_model:PATH or judge:POLICY."""
    kind, _, arg = spec.partition(":")
    if kind == "gold":
        return GoldReward()
    if kind == "reward_model" and arg:
        return RewardModelReward(arg)
    if kind == "judge":
        return JudgeReward(arg or "smollm2")
    raise LLMGymError(f"rlhf: reward must be 'gold', 'reward_model:PATH' or 'judge:POLICY', got {spec!r}")
