"""The rankings format, the pairs a ranking implies (ties give none), atomic appends and bad data;
the gold labeler; the `rlhf` env; the judge reward's cache."""

import json
import multiprocessing
import random

import pytest

import llmgym
from llmgym.errors import LLMGymError
from llmgym.rewards.rlhf import GoldReward, JudgeReward
from llmgym.rlhf import rankings as rk
from llmgym.rlhf.degeneracy import batch_stats, near_identical_share
from llmgym.rlhf.simulate import gold_ranking, simulate_rankings, simulated_completions
from llmgym.types import Completion, Task


def record(**over):
    rec = {"prompt": "Tell a joke.", "completions": ["a", "b", "c"], "ranking": [0, 1, 2], "ranker": "human:x",
           "time": "2026-01-01T00:00:00Z"}
    rec.update(over)
    return rec


def test_pairs_of_a_strict_ranking_are_all_ordered_pairs():
    assert rk.pairs([2, 0, 1]) == [(2, 0), (2, 1), (0, 1)]


def test_tied_completions_give_no_pair_but_rank_against_the_others():
    assert rk.pairs([[0, 1], 2]) == [(0, 2), (1, 2)]
    assert rk.pairs([[0, 1, 2]]) == []
    assert rk.tied_pairs([3, [0, 1, 2]]) == 3


@pytest.mark.parametrize("bad, message", [
    (record(ranking=[0, 1]), "leaves out completion(s) [2]"),
    (record(ranking=[0, 1, 1]), "lists index 1 twice"),
    (record(ranking=[0, 1, 5]), "index 5 is not in 0..2"),
    (record(ranking=[0, [], 1, 2]), "empty tie group"),
    (record(ranking=None), "not marked skipped"),
    (record(completions=["only one"], ranking=[0]), "at least 2 strings"),
    (record(prompt=42), "prompt must be text"),
    ({k: v for k, v in record().items() if k != "ranker"}, "lacks ranker"),
    (record(ranking=[True, 1, 2]), "index True"),
])
def test_bad_records_raise_one_line_errors(bad, message):
    with pytest.raises(LLMGymError) as exc:
        rk.validate(bad)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_strict_read_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record()) + "\n" + json.dumps(record(ranking=[0, 0, 1])) + "\n")
    with pytest.raises(LLMGymError, match=r"r.jsonl:2: ranking lists index 0 twice"):
        rk.read(path, strict=True)
    assert len(rk.read(path)) == 1


def _append_many(path, worker):
    for i in range(40):
        rk.append(path, [record(ranker=f"w{worker}", completions=["x" * 5000, f"{worker}-{i}", "c"])])


def test_concurrent_appends_never_interleave_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    procs = [multiprocessing.Process(target=_append_many, args=(path, w)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    records = rk.read(path, strict=True)
    assert len(records) == 120
    assert {r["completions"][1] for r in records} == {f"{w}-{i}" for w in range(3) for i in range(40)}


def test_torn_last_line_is_skipped_and_the_next_append_starts_a_new_line(tmp_path):
    path = tmp_path / "r.jsonl"
    rk.append(path, [record()])
    with open(path, "a") as f:
        f.write(json.dumps(record())[:30])  # a crash in the middle of a write
    rk.append(path, [record(ranker="after")])
    records = rk.read(path)
    assert [r["ranker"] for r in records] == ["human:x", "after"]


def test_preference_pairs_skip_skipped_records_and_identical_texts():
    recs = [record(ranking=[2, 1, 0]), record(ranking=None, skipped=True),
            record(completions=["same", "same", "other"], ranking=[0, 1, 2])]
    rows = list(rk.preference_pairs(recs))
    assert [(r["chosen"], r["rejected"]) for r in rows] == [
        ("c", "b"), ("c", "a"), ("b", "a"), ("same", "other"), ("same", "other")]
    assert [r["group"] for r in rows] == [0, 0, 0, 2, 2]


# -- gold labeler ------------------------------------------------------------------------------------
def joke_task():
    return Task("Tell a short joke about pelicans.",
                {"keywords": ["pelican", "beak", "pouch", "fish", "bird"], "need": 2, "min_words": 8,
                 "max_words": 45, "form": "joke"})


GOOD = "Why did the pelican keep its wallet in its pouch? Because it never wanted to pay the fish bill!"


@pytest.mark.parametrize("degenerate, reason", [
    ("the the the the the the the the the the", "off_topic"),
    ("pelican pelican pelican pelican fish fish fish fish", "repetitive"),
    ("pelican beak pouch fish bird wings beach sand water salt", "not_fluent"),
    ("Pelican!", "bad_length"),
    (GOOD + " " + GOOD + " " + GOOD, "repetitive"),
    ("Why did the cat sit on the warm chair all day? Because it liked the sun!", "off_topic"),
    ("", "empty"),
])
def test_gold_orders_good_above_degenerate(degenerate, reason):
    gold = GoldReward()
    good, bad = gold.score(GOOD, joke_task()), gold.score(degenerate, joke_task())
    assert good.value == 1.0 and good.reason is None
    assert bad.value < 0.5 and bad.reason == reason


def test_gold_is_deterministic_and_bounded_on_hostile_text():
    gold = GoldReward()
    for text in ("x" * 1_000_000, "\x00" * 10, "Ответ 🤖", GOOD):
        a, b = gold.score(text, joke_task()), gold.score(text, joke_task())
        assert a == b and 0.0 <= a.value <= 1.0


def test_every_template_answer_scores_full_gold_at_every_level():
    gold = GoldReward()
    for level in (1, 2, 3):
        env = llmgym.make("rlhf", level=level)
        for task in env.tasks("train", n=40):
            assert gold.score(task.meta["solution"], task).value == 1.0, task.meta["solution"]


def test_rlhf_env_passes_the_checker_for_each_family():
    for family in ("mixed", "joke", "poem", "summary", "slogan"):
        llmgym.check_env(llmgym.make(f"rlhf:family={family}"))


def test_rlhf_env_with_a_learned_reward_keeps_gold_as_a_metric(tmp_path):
    with pytest.raises(LLMGymError, match="not a directory saved by"):
        llmgym.make(f"rlhf:reward=reward_model:{tmp_path / 'missing'}")
    with pytest.raises(LLMGymError, match="reward must be"):
        llmgym.make("rlhf:reward=bogus")
    env = llmgym.make("rlhf", reward="judge:tiny")
    assert env.rubric.weights == {"judge": 1.0, "gold": 0.0}
    assert env.reference(next(env.tasks("train", n=1))) is None


def test_simulated_rankings_follow_gold_and_mark_ties():
    env = llmgym.make("rlhf")
    recs = simulate_rankings(env, 6, 5, seed=1)
    gold = GoldReward()
    for rec in recs:
        task = Task.from_dict(rec["task"])
        vals = [gold.score(c, task).value for c in rec["completions"]]
        for a, b in rk.pairs(rec["ranking"]):
            assert vals[a] > vals[b]
        for group in rk.groups(rec["ranking"]):
            assert len({vals[i] for i in group}) == 1
    assert simulate_rankings(env, 6, 5, seed=1)[0]["completions"] == recs[0]["completions"]


def test_noisy_labeler_disagrees_with_gold_sometimes():
    task = next(llmgym.make("rlhf").tasks("train", n=1))
    rng = random.Random(0)
    texts = simulated_completions(task, 8, rng)
    clean = gold_ranking(task, texts)
    noisy = [gold_ranking(task, texts, noise=0.3, rng=random.Random(s)) for s in range(5)]
    assert any(n != clean for n in noisy)


def test_degeneracy_figures():
    stats = batch_stats(["the the the the", "a fine joke about a bird", "a fine joke about a bird"])
    assert stats["longest_run"] == pytest.approx((4 + 1 + 1) / 3)
    assert stats["near_identical"] == pytest.approx(2 / 3)
    assert near_identical_share(["one two three", "four five six"]) == 0.0


# -- judge -------------------------------------------------------------------------------------------
class CountingJudge:
    """A stand-in judge policy: rates by length, counts the prompts it was asked."""

    name = "counting-judge"

    def __init__(self):
        self.asked = 0

    def generate(self, prompts, n=1, params=None):
        self.asked += len(prompts)
        out = []
        for p in prompts:
            text = p[-1]["content"]
            rating = "no idea" if "UNRATED" in text else f"\\boxed{{{min(10, 1 + text.count('beak'))}}}"
            out.append([Completion(rating)])
        return out


def test_judge_scores_with_an_overridable_prompt_and_caches(tmp_path):
    policy = CountingJudge()
    cache = tmp_path / "judge.jsonl"
    judge = JudgeReward(policy, prompt="Rate: {completion} for {prompt}", cache=str(cache))
    task = joke_task()
    scores = judge.score_batch(["beak beak", "nothing", "UNRATED"], [task] * 3)
    assert [s.value for s in scores] == [pytest.approx(2 / 9), 0.0, 0.0]
    assert scores[2].reason == "judge_no_rating"
    assert policy.asked == 3
    judge.score_batch(["beak beak", "nothing"], [task] * 2)
    assert policy.asked == 3  # served from the cache
    again = JudgeReward(policy, prompt="Rate: {completion} for {prompt}", cache=str(cache))
    again.score("nothing", task)
    assert policy.asked == 3  # and from the cache file, after a restart
    JudgeReward(policy, prompt="Other: {completion}").score("nothing", task)
    assert policy.asked == 4  # another prompt is another cache key
    with pytest.raises(LLMGymError, match="must contain"):
        JudgeReward(policy, prompt="no placeholder")


@pytest.mark.parametrize("module", ["llmgym.rlhf.rankings", "llmgym.rlhf.degeneracy", "llmgym.rlhf.guard",
                                    "llmgym.rlhf.simulate", "llmgym.rewards.rlhf"])
def test_doctests_of_rlhf_modules_pass(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
