"""Mixtures of envs (`--env A@3 --env B`) and rubrics from the command line (`rubric=+NAME@W`):
weights in the drawn prompts, each row scored by its own env, per-env metrics and held-out rows,
config.yaml's record, bench over the same flags, and one-line errors for names and weights."""

from __future__ import annotations

import json
import math

import pytest

import llmgym
import train_toy
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.mixture import Mixture, Share, parse_env_spec, parse_env_specs
from llmgym.plugins import default_gym
from llmgym.rubric import FunctionReward, Rubric
from llmgym.rubric_option import parse_rubric_option
from llmgym.train.data import ENV_COLUMN, TASK_COLUMN, reward_functions, task_rows
from llmgym.train.rundir import RunDir
from llmgym.types import Completion

TINY = "tiny:hidden=32,layers=1"


def terse(completion, task):
    """A reward plugin's function: 1 for an answer of at most 200 characters."""
    return float(len(completion) <= 200)


class FixedPolicy:
    """Answers every prompt with \\boxed{1}: enough for a bench to score."""

    name = "fixed"

    def generate(self, prompts, n=1, params=None):
        return [[Completion("\\boxed{1}", prompt_tokens=4, completion_tokens=3, seconds=0.0)] * n for _ in prompts]


@pytest.fixture(autouse=True)
def plugins():
    """The toy envs, a third-party-style reward `terse` and a `fixed` policy, in the default gym."""
    train_toy.register()
    gym = default_gym()
    gym.registry("rewards").register("terse", lambda: FunctionReward("terse", terse), source="tests")
    gym.registry("policies").register("fixed", FixedPolicy, source="tests")
    yield
    gym.rewards.unregister("terse")
    gym.policies.unregister("fixed")


# -- specs ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, label, weight", [
    ("math:level=2@3", "math:level=2", 3.0),
    ("counting", "counting", None),
    ("rg/leg_counting@0.5", "rg/leg_counting", 0.5),
    ("dataset:path='runs/a@2.jsonl'@3", "dataset:path='runs/a@2.jsonl'", 3.0),  # @ inside quotes stays
    ("dataset:path=a@b.jsonl", "dataset:path=a@b.jsonl", None),  # no number after @: no weight
    ("counting:rubric=[exact@0.5]", "counting:rubric=[exact@0.5]", None),  # inside brackets: the reward's
    ("counting:rubric=[exact]@2", "counting:rubric=[exact]", 2.0),
])
def test_a_weight_is_split_off_only_outside_quotes_and_brackets(text, label, weight):
    spec = parse_env_spec(text)
    assert (spec.label, spec.weight) == (label, weight)


@pytest.mark.parametrize("specs, message", [
    (["math@0"], "the weight of 'math' in a mixture must be a finite number > 0, got '0'"),
    (["math@-2"], "got '-2'"),
    (["math@inf"], "got 'inf'"),
    (["math", "math@2"], "env 'math' is given twice"),
    (["counting:rubric=exact@0.5"], "write rubric=[exact@0.5] for the reward's weight, or rubric=[exact]@0.5"),
    ([], "name at least one env"),
])
def test_bad_weights_and_ambiguous_specs_are_one_line(specs, message):
    with pytest.raises(LLMGymError) as err:
        parse_env_specs(specs)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("value, parsed", [
    ("exact", (False, [("exact", 1.0)])),
    ("[exact@0.5,length@0]", (False, [("exact", 0.5), ("length", 0.0)])),
    ("+exact@0.5", (True, [("exact", 0.5)])),
    ("+[exact@0.5,length@0]", (True, [("exact", 0.5), ("length", 0.0)])),
    (["+exact@-0.1", "+length"], (True, [("exact", -0.1), ("length", 1.0)])),
])
def test_rubric_option_reads_names_weights_and_plus(value, parsed):
    assert parse_rubric_option(value) == parsed


def test_rubric_option_mixing_plus_and_plain_items_is_refused():
    with pytest.raises(LLMGymError, match=r"mark every one with \+"):
        parse_rubric_option("[+exact,length]")


# -- rubrics from names -----------------------------------------------------------------------------
def test_a_registered_reward_replaces_or_extends_an_envs_rubric_by_name():
    assert llmgym.make("counting", rubric="terse").rubric.weights == {"terse": 1.0}
    extended = llmgym.make("counting:rubric=+[terse@0.5]")
    assert extended.rubric.weights == {"correct": 1.0, "format": 0.1, "length": 0.0, "terse": 0.5}
    extended.reset(seed=0)
    _, reward, _, _, info = extended.step(f"\\boxed{{{extended.task.answer}}}")
    assert info["reward_components"]["terse"] == 1.0 and reward == pytest.approx(1.0 + 0.1 + 0.5)
    assert llmgym.make("math", rubric=["+terse@0"]).rubric.weights["terse"] == 0.0  # a metric


@pytest.mark.parametrize("spec, message", [
    ("counting:rubric=terce", "unknown reward 'terce'; did you mean: terse?"),
    ("counting:rubric=partial_list", "unknown reward 'partial_list'"),
    ("counting:rubric=+correct", "env 'counting' already scores a 'correct' component"),
    ("counting:rubric=[terse,terse@2]", "names the reward 'terse' twice"),
    ("counting:rubric=5", "rubric=5 is not a reward name"),
])
def test_info_and_bench_answer_a_bad_rubric_in_one_line(tmp_path, capsys, spec, message):
    for argv in (["info", spec], ["bench", "--env", spec, "--policy", "fixed", "--out", str(tmp_path / "b")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("llmgym: error: ") and message in err[0], err


def test_info_lists_the_rubric_a_spec_builds(capsys):
    assert main(["info", "counting:rubric=+[terse@0.5]"]) == 0
    out = capsys.readouterr().out
    assert "terse            weight 0.5" in out and "correct          weight 1" in out
    assert main(["info", "counting@2"]) == 2
    assert "info describes one env: 'counting'" in capsys.readouterr().err


# -- drawing ----------------------------------------------------------------------------------------
def test_prompts_are_drawn_in_proportion_to_the_weights_deterministically_under_the_seed():
    mixture = Mixture.from_specs(["math@3", "counting"])
    n = 2000
    rows = task_rows(mixture, n, seed=7)
    assert rows == task_rows(mixture, n, seed=7) and rows != task_rows(mixture, n, seed=8)
    math_rows = sum(r[ENV_COLUMN] == "math" for r in rows)
    # math's count is binomial(n, 3/4): within 4 standard deviations (a 1-in-15,000 miss).
    p = 0.75
    assert abs(math_rows - n * p) < 4 * math.sqrt(n * p * (1 - p)), math_rows
    # each row carries its own env's prompt, system prompt included (the two envs' differ)
    systems = {s.label: s.env.system_prompt for s in mixture.shares}
    assert systems["math"] != systems["counting"]
    for r in rows[:50]:
        assert r["prompt"][0] == {"role": "system", "content": systems[r[ENV_COLUMN]]}


def test_an_env_with_fewer_tasks_than_its_share_repeats_them_to_keep_the_weights():
    small = train_toy.ToyAddEnv()  # 100 sums, ~70 of them in train
    mixture = Mixture([Share("toyadd", 1.0, small), Share("toyecho", 1.0, train_toy.EchoEnv())])
    drawn = mixture.draw(600, seed=0)
    adds = [t.id for s, t in drawn if s.label == "toyadd"]
    assert len(adds) > len(set(adds)) == len(list(small.tasks("train")))
    assert abs(len(adds) - 300) < 4 * math.sqrt(600 * 0.25)


# -- scoring ----------------------------------------------------------------------------------------
def test_each_row_is_scored_by_its_own_envs_rubric_and_other_components_are_none():
    import torch

    half = train_toy.ToyAddEnv(rubric=Rubric([(train_toy.ToyAddEnv().rubric.entries[0][0], 0.5)]))
    mixture = Mixture([Share("toyadd", 1.0, train_toy.ToyAddEnv()), Share("half", 1.0, half),
                       Share("toyconst", 1.0, train_toy.ConstantEnv())])
    funcs, weights = reward_functions(mixture)
    # `correct` weighs 1 in toyadd and 0.5 in half: TRL has one weight per function, so two functions.
    assert [f.__name__ for f in funcs] == ["correct", "correct@half", "constant"] and weights == [1.0, 0.5, 1.0]
    rows = task_rows(mixture, 6, seed=0)
    tasks = [json.loads(r[TASK_COLUMN]) for r in rows]
    completions = [[{"role": "assistant", "content": f"\\boxed{{{t['answer']}}}"}] for t in tasks]
    logged = []
    columns = {TASK_COLUMN: [r[TASK_COLUMN] for r in rows], ENV_COLUMN: [r[ENV_COLUMN] for r in rows],
               "log_metric": lambda name, value: logged.append((name, value)), "trainer_state": None}
    values = [f(prompts=[r["prompt"] for r in rows], completions=completions, **columns) for f in funcs]
    expected = {"toyadd": [1.0, None, None], "half": [None, 1.0, None], "toyconst": [None, None, 0.5]}
    for i, r in enumerate(rows):
        assert [v[i] for v in values] == expected[r[ENV_COLUMN]]
    # TRL turns None into NaN and takes the weighted nansum: every row gets its own env's rubric value.
    per_func = torch.tensor([[math.nan if v[i] is None else v[i] for v in values] for i in range(len(rows))])
    summed = (per_func * torch.tensor(weights)).nansum(dim=1).tolist()
    assert summed == [{"toyadd": 1.0, "half": 0.5, "toyconst": 0.5}[r[ENV_COLUMN]] for r in rows]
    rewards = [(n, v) for n, v in logged if n.endswith("/reward")]
    assert sorted(rewards) == sorted((f"env/{r[ENV_COLUMN]}/reward", s) for r, s in zip(rows, summed))
    assert {n for n, _ in logged if "zero_std" in n} <= {f"env/{s.label}/frac_reward_zero_std" for s in mixture}


def test_a_mixture_refuses_bon_and_tool_envs_in_one_line():
    from llmgym.train.config import TrainConfig

    with pytest.raises(LLMGymError, match="--algo bon trains one env"):
        TrainConfig(env=["math", "counting"], algo="bon")
    with pytest.raises(LLMGymError, match="a tool env trains alone"):
        TrainConfig(env=["math", "counting:tools=['python']"])


# -- the whole run ----------------------------------------------------------------------------------
def test_train_on_math_and_counting_logs_per_env_metrics_evaluations_and_the_rubric_plugin(tmp_path, capsys):
    from llmgym.report.run_report import render_run

    out = tmp_path / "mix"
    argv = ["train", "--env", "math@3", "--env", "counting:rubric=+[terse@0.5]", "--policy", TINY, "--steps", "2",
            "--eval-tasks", "3", "--eval-every", "0", "--train-tasks", "40", "--num-generations", "4",
            "--max-completion-length", "8", "--save-every", "0", "--out", str(out)]
    assert main(argv) == 0
    run = RunDir(out)
    assert run.read_config()["env"] == ["math@3", "counting:rubric=+[terse@0.5]"]
    labels = ["math", "counting:rubric=+[terse@0.5]"]
    rows = run.rows()
    evals = [r for r in rows if "eval/accuracy" in r]
    assert [r["step"] for r in evals] == [0, 2]  # before and after, each over both envs
    for r in evals:
        assert all(f"eval/{label}/accuracy" in r and r[f"eval/{label}/n"] == 3 for label in labels)
        assert r["eval/n"] == 6
    steps = [r for r in rows if "reward" in r and "eval/accuracy" not in r]
    assert [r["step"] for r in steps] == [1, 2]
    for r in steps:
        present = [label for label in labels if f"env/{label}/reward" in r]
        assert present and all(f"env/{label}/frac_reward_zero_std" in r for label in present)
        if "rewards/terse/mean" in r:
            # terse scores only counting's rows (None on math's): its mean is over those, every one 1.0
            assert r["rewards/terse/mean"] == 1.0
    assert any("rewards/terse/mean" in r for r in steps)
    samples = run.rows(run.samples)
    assert {s["env"] for s in samples} == set(labels)
    for s in samples:
        assert ("terse" in s["components"]) == (s["env"] == labels[1])
    summary = json.loads(run.summary.read_text())
    assert [(m["env"], m["fraction"]) for m in summary["mixture"]] == [("math", 0.75), (labels[1], 0.25)]
    assert set(summary["env_version"]) == set(labels)
    md = render_run(out)["markdown"].read_text()
    assert "## Per env of the mixture" in md and "| math | 75.0% |" in md and f"| {labels[1]} | 25.0% |" in md

    # the bench takes the same flags and reports both envs (weights mean nothing to it)
    bench = tmp_path / "bench"
    assert main(["bench", "--env", "math@3", "--env", "counting", "--policy", "fixed", "--tasks", "3",
                 "--out", str(bench)]) == 0
    results = json.loads((bench / "summary.json").read_text())["results"]
    assert sorted(r["env"] for r in results) == ["counting", "math"]


def test_an_unknown_reward_in_a_mixture_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["train", "--env", "math", "--env", "counting:rubric=+[terce@0.5]", "--policy", TINY,
                 "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("llmgym: error: unknown reward 'terce'; did you mean: terse?")
    assert not out.exists()
