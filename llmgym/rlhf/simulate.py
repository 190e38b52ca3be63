"""Simulated writers and labelers, so the RLHF loop runs unattended and its truth is measurable.

- `simulated_completions(task, k, rng)`: K candidates of mixed quality for an `rlhf` task, made by
  mutating the task's template answer (keywords swapped for random words, words repeated back to
  back, text cut short or padded, the form broken) plus outright degenerate texts ("the the the",
  keyword lists). It stands in for a policy's samples when no policy is given.
- `gold_ranking(task, completions, gold=None)`: the ranking the gold labeler gives (`gold`, a reward;
  by default the registered `gold` reward, the `rlhf` env's simulated labeler); equal gold scores
  form a tie group. `noise > 0` adds Gumbel noise to the scores before sorting (a Bradley-Terry
  labeler with temperature `noise`), to mimic a less consistent person.
- `simulate_rankings(env, n_prompts, k, seed, policy=None)`: rankings records (the JSONL format of
  `llmgym.rlhf.rankings`) with `ranker` "gold" (or "gold:noise=X").

>>> import random, llmgym
>>> env = llmgym.make("rlhf")
>>> task = next(env.tasks("train", n=1))
>>> texts = simulated_completions(task, 5, random.Random(0))
>>> ranking = gold_ranking(task, texts)
>>> sorted(i for g in ranking for i in (g if isinstance(g, list) else [g]))
[0, 1, 2, 3, 4]
"""

from __future__ import annotations

import math
import random
from typing import Any, Sequence

from .rankings import make_record

FILLER = ("the", "a", "and", "of", "to", "it", "was", "is", "with", "for", "on", "in", "that", "my")


def default_gold() -> Any:
    """The registered `gold` reward. The core names no reward module: a command that wants another
    labeler passes it as `gold=`, and everything else gets this one through the registry."""
    from llmgym.plugins import default_gym

    return default_gym().make_reward("gold")


def _common_words(gold: Any) -> list[str]:
    # The simulated writer swaps in words the gold labeler's fluency factor accepts, so that a
    # swap costs keyword coverage, not fluency; a labeler without a word list gets filler only.
    words = gold.words() if hasattr(gold, "words") else FILLER
    return sorted(w for w in words if 3 <= len(w) <= 8 and w.isalpha())


def _mutate(text: str, spec: dict[str, Any], rng: random.Random, vocab: Sequence[str]) -> str:
    keywords = set(spec.get("keywords", ()))
    lines = text.split("\n")
    out_lines = []
    p_swap = rng.choice((0.0, 0.0, 0.3, 0.7, 1.0))
    p_stutter = rng.choice((0.0, 0.0, 0.0, 0.1, 0.3))
    p_junk = rng.choice((0.0, 0.0, 0.0, 0.1, 0.3))
    for line in lines:
        toks = []
        for tok in line.split(" "):
            core = tok.strip(".,!?").lower()
            if core in keywords and rng.random() < p_swap:
                tok = tok.replace(tok.strip(".,!?"), rng.choice(vocab))
            elif rng.random() < p_junk:
                tok = rng.choice(vocab) + "".join(rng.choice("bcdfgkxz") for _ in range(rng.randint(1, 3)))
            toks.append(tok)
            if rng.random() < p_stutter:
                toks.extend([tok] * rng.randint(2, 4))
        out_lines.append(" ".join(toks))
    out = "\n".join(out_lines)
    roll = rng.random()
    if roll < 0.15:
        cut = out.split(" ")
        out = " ".join(cut[: max(1, len(cut) // rng.randint(2, 4))])
    elif roll < 0.3:
        out = out + " " + " ".join(rng.choice(vocab + list(FILLER)) for _ in range(rng.randint(10, 60)))
    elif roll < 0.4:
        out = out.replace("\n", " ").replace("?", ",").replace("!", ".").replace(". ", ", ")
    return out


def _degenerate(spec: dict[str, Any], rng: random.Random, vocab: Sequence[str]) -> str:
    keywords = list(spec.get("keywords", ())) or ["thing"]
    kind = rng.randrange(4)
    if kind == 0:
        return " ".join([rng.choice(FILLER)] * rng.randint(5, 40))
    if kind == 1:
        return " ".join(rng.choice(keywords) for _ in range(rng.randint(4, 30)))
    if kind == 2:
        return " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 30))) + "."
    word = rng.choice(keywords)
    return f"{word.capitalize()}! " * rng.randint(3, 12)


def simulated_completions(task: Any, k: int, rng: random.Random, *, gold: Any = None) -> list[str]:
    """K candidates of mixed quality for an `rlhf` task (see module docstring)."""
    spec = dict(task.answer) if isinstance(task.answer, dict) else {}
    base = task.meta.get("solution") or ""
    vocab = _common_words(gold if gold is not None else default_gold())
    out = []
    for _ in range(k):
        if not base or rng.random() < 0.2:
            out.append(_degenerate(spec, rng, vocab))
        else:
            out.append(_mutate(base, spec, rng, vocab))
    return out


def gold_ranking(task: Any, completions: Sequence[str], *, noise: float = 0.0,
                 rng: random.Random | None = None, gold: Any = None) -> list[Any]:
    """Indices best first by the score of `gold` (default: `default_gold()`); equal scores (without
    noise) form a tie group."""
    gold = gold if gold is not None else default_gold()
    scores = [s.value for s in gold.score_batch(list(completions), [task] * len(completions))]
    if noise > 0:
        rng = rng or random.Random(0)
        scores = [s - noise * math.log(-math.log(rng.random() or 1e-12)) for s in scores]
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    ranking: list[Any] = []
    for i in order:
        if ranking and noise == 0 and abs(scores[_first(ranking[-1])] - scores[i]) < 1e-9:
            last = ranking[-1]
            ranking[-1] = (last if isinstance(last, list) else [last]) + [i]
        else:
            ranking.append(i)
    return ranking


def _first(group: Any) -> int:
    return group[0] if isinstance(group, list) else group


def simulate_rankings(env: Any, n_prompts: int, k: int = 5, *, seed: int = 0, split: str = "train",
                      policy: Any = None, params: Any = None, noise: float = 0.0,
                      gold: Any = None) -> list[dict[str, Any]]:
    """Ranked records for `n_prompts` tasks of `env`, samples from `policy` (or the simulated writer),
    ranked by `gold` (default: `default_gold()`)."""
    gold = gold if gold is not None else default_gold()
    rng = random.Random(f"simulate/{seed}")
    tasks = list(env.tasks(split, n=n_prompts, seed=seed))
    if policy is not None:
        samples = [[c.text for c in row] for row in
                   policy.generate([t.messages(env.system_prompt) for t in tasks], n=k, params=params)]
    else:
        samples = [simulated_completions(t, k, rng, gold=gold) for t in tasks]
    ranker = "gold" if noise == 0 else f"gold:noise={noise:g}"
    # The record keeps the task's own messages (no system prompt): that is what the reward model
    # sees when it scores a (task, completion) during RL, so training and scoring inputs match.
    return [make_record(t.messages(), texts, gold_ranking(t, texts, noise=noise, rng=rng, gold=gold),
                        ranker=ranker, task=t.to_dict())
            for t, texts in zip(tasks, samples)]
