"""`--curriculum adaptive`: the update and draw rules, the arms of each kind of run, a tiny-policy
run whose level mix moves as the rule says, the state across `--resume`, and the same draws on
both ranks of a two-process run."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import llmgym
from llmgym.env import SingleTurnEnv
from llmgym.errors import LLMGymError
from llmgym.mixture import Mixture
from llmgym.rubric import SUCCESS, FunctionReward, Rubric
from llmgym.train.curriculum import Curriculum, CurriculumConfig, arm_tasks, load_state, run_arms
from llmgym.train.rundir import RunDir
from llmgym.types import Task

TINY = "tiny:hidden=32,layers=1"


class LevelsEnv(SingleTurnEnv):
    """Level 1 is always right, level 3 never, and level 2 right for every other completion scored
    (so half of each group, whatever a tiny model writes): only level 2's groups have reward variance."""

    name = "toylevels"
    levels = (1, 2, 3)

    def generate_task(self, rng):
        n = rng.randint(0, 10**6)
        return Task(f"L{self.level} say {n}", n, meta={"level": self.level})

    def default_rubric(self):
        turns = itertools.count()

        def right(completion: str, task: Task) -> float:
            level = task.meta["level"]
            return float(level == 1) if level != 2 else float(next(turns) % 2)

        return Rubric([(FunctionReward("correct", right, role=SUCCESS), 1.0)])


def register() -> None:
    registry = llmgym.default_gym().registry("envs")
    if LevelsEnv.name not in registry:
        registry.register(LevelsEnv.name, LevelsEnv, source="tests")


@pytest.fixture(autouse=True)
def toy_levels():
    register()


def adaptive(spec: str = "adaptive") -> CurriculumConfig:
    return CurriculumConfig.from_spec(spec)


POOLS = {"level1": [0, 1, 2], "level2": [3, 4, 5], "level3": [6, 7, 8]}


# -- the rules -----------------------------------------------------------------------------------------
def test_untried_arms_are_all_informative_and_take_the_prompts_in_turn():
    c = Curriculum(adaptive(), POOLS, seed=0)
    assert c.shares() == pytest.approx({"level1": 1 / 3, "level2": 1 / 3, "level3": 1 / 3})
    assert [arm for arm, _ in c.draw(6)] == ["level1", "level2", "level3"] * 2


def test_arms_outside_the_band_keep_the_floor_and_the_band_shares_the_rest():
    c = Curriculum(adaptive("adaptive:low=0.2,high=0.8,floor=0.05"), POOLS, seed=0)
    c.update({"level1": (8, 8), "level2": (3, 8), "level3": (0, 8)})
    assert c.rate("level1") == 1.0 and c.rate("level2") == 0.375 and c.rate("level3") == 0.0
    assert c.shares() == pytest.approx({"level1": 0.05, "level2": 0.9, "level3": 0.05})
    mix = Counter(arm for arm, _ in c.draw(200))
    assert mix == {"level2": 180, "level1": 10, "level3": 10}  # the realised mix is the target


def test_mixture_weights_split_the_informative_share():
    c = Curriculum(adaptive("adaptive:floor=0.1"), {"a": [0], "b": [1], "c": [2]}, seed=0,
                   weights={"a": 3.0, "b": 1.0, "c": 1.0})
    assert c.shares() == pytest.approx({"a": 0.6, "b": 0.2, "c": 0.2})
    c.update({"c": (0, 4)})
    assert c.shares() == pytest.approx({"a": 0.675, "b": 0.225, "c": 0.1})


def test_with_no_arm_in_the_band_the_nearest_arms_take_its_share():
    c = Curriculum(adaptive("adaptive:low=0.3,high=0.7,floor=0.1"), POOLS, seed=0)
    c.update({"level1": (10, 10), "level2": (9, 10), "level3": (0, 10)})  # 1.0, 0.9 and 0.0
    assert c.informative() == ["level2"]  # 0.2 above the band, level 3 is 0.3 below it
    assert c.shares() == pytest.approx({"level1": 0.1, "level2": 0.8, "level3": 0.1})


def test_memory_weighs_the_past_and_zero_keeps_only_the_last_batch():
    c = Curriculum(adaptive("adaptive:memory=0.5"), POOLS, seed=0)
    c.update({"level1": (4, 4)})
    c.update({"level1": (0, 4)})
    assert c.rate("level1") == pytest.approx(2 / 6)  # (0.5 * 4 + 0) / (0.5 * 4 + 4)
    forgetful = Curriculum(adaptive("adaptive:memory=0"), POOLS, seed=0)
    forgetful.update({"level1": (4, 4)})
    forgetful.update({"level1": (1, 4)})
    assert forgetful.rate("level1") == 0.25


def test_an_arm_hands_out_each_task_once_per_pass_in_a_seeded_order():
    pools = {"a": list(range(10)), "b": [10]}
    rows = [row for arm, row in Curriculum(adaptive("adaptive:floor=0"), pools, seed=1).draw(40) if arm == "a"]
    assert sorted(rows[:10]) == list(range(10)) and sorted(rows[10:20]) == list(range(10))
    assert rows[:10] != rows[10:20]  # the second pass is shuffled again
    again = [row for arm, row in Curriculum(adaptive("adaptive:floor=0"), pools, seed=1).draw(40) if arm == "a"]
    other = [row for arm, row in Curriculum(adaptive("adaptive:floor=0"), pools, seed=2).draw(40) if arm == "a"]
    assert again == rows and other != rows


def test_a_restored_state_draws_what_the_original_would_have_drawn_next():
    original = Curriculum(adaptive(), POOLS, seed=3)
    original.draw(5)
    original.update({"level1": (4, 4), "level2": (2, 4)})
    restored = Curriculum(adaptive(), POOLS, seed=3)
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert restored.draw(7) == original.draw(7) and restored.shares() == original.shares()


@pytest.mark.parametrize("spec, message", [
    ("sometimes", "curriculum must be one of off, adaptive"),
    ("adaptive:hi=0.9", "unknown curriculum option 'hi' (did you mean: high?)"),
    ("adaptive:low=0.9,high=0.1", "low (0.9) must not be above high (0.1)"),
    ("adaptive:floor=1", "floor must be below 1"),
    ("adaptive:memory=2", "memory must be a number in [0, 1]"),
    ("adaptive:low=x", "low: cannot read 'x' as a number"),
    ("adaptive:levels=3-1", "levels '3-1': the first level is above the last"),
    ("off:low=0.1", "curriculum off takes no options"),
])
def test_bad_specs_are_one_error_naming_the_value(spec, message):
    with pytest.raises(LLMGymError) as err:
        CurriculumConfig.from_spec(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


# -- the arms of a run -----------------------------------------------------------------------------------
def test_an_env_with_levels_gets_an_arm_per_level_each_with_its_own_tasks():
    arms = run_arms(llmgym.make("math"), "math", adaptive("adaptive:levels=2-4"), make=llmgym.make)
    assert [(a.name, a.env.level) for a in arms] == [("level2", 2), ("level3", 3), ("level4", 4)]
    assert all(t.meta["level"] == a.level for a in arms for t in arm_tasks(a, 3, seed=0))


def test_a_reasoning_gym_dataset_gets_an_arm_per_curriculum_level():
    pytest.importorskip("reasoning_gym")
    arms = run_arms(llmgym.make("rg/leg_counting"), "rg/leg_counting", adaptive("adaptive:levels=1-2"),
                    make=llmgym.make)
    assert [(a.name, a.env.level) for a in arms] == [("level1", 1), ("level2", 2)]
    assert all(arm_tasks(a, 2, seed=0) for a in arms)


def test_a_mixture_gets_an_arm_per_env_with_its_weight():
    mixture = Mixture.from_specs(["math@3", "counting"])
    arms = run_arms(mixture, ["math@3", "counting"], adaptive(), make=llmgym.make)
    assert [(a.name, a.label, a.weight) for a in arms] == [("math", "math", 3.0), ("counting", "counting", 1.0)]


def test_a_dataset_with_a_difficulty_column_gets_an_arm_per_level(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "answer": 2 * i, "difficulty": 1 + i % 2})
                            + "\n" for i in range(40)))
    env = llmgym.make("dataset", path=str(path))
    arms = run_arms(env, f"dataset:path={path}", adaptive(), make=llmgym.make)
    assert [a.name for a in arms] == ["level1", "level2"]
    assert {t.meta["level"] for t in arm_tasks(arms[1], 100, seed=0)} == {2}


@pytest.mark.parametrize("spec, message", [
    ("math:level=2", "pins level=: drop level="),
    ("toyadd_one_level", "needs levels or envs to choose from"),
])
def test_an_env_with_nothing_to_vary_is_refused(spec, message):
    class OneLevel(LevelsEnv):
        name, levels = "toyadd_one_level", (1,)

    make = lambda label, **kw: OneLevel(**kw) if label == "toyadd_one_level" else llmgym.make(label, **kw)  # noqa: E731
    with pytest.raises(LLMGymError, match=message):
        run_arms(make(spec), spec, adaptive(), make=make)


# -- runs ------------------------------------------------------------------------------------------------
def train_args(out: Path, *extra: str) -> list[str]:
    return ["--env", "toylevels", "--policy", TINY, "--algo", "grpo", "--num-generations", "4",
            "--prompts-per-step", "2", "--max-completion-length", "8", "--train-tasks", "30", "--eval-tasks", "2",
            "--eval-every", "0", "--curriculum", "adaptive:floor=0.05", "--out", str(out), *extra]


def shares(run: RunDir) -> dict[int, dict[str, float]]:
    return {r["step"]: {k.split("/")[1]: v for k, v in r.items() if k.endswith("/share")}
            for r in run.rows() if "curriculum/level1/share" in r}


def test_a_tiny_run_moves_its_prompts_to_the_level_whose_groups_differ(tmp_path):
    from llmgym.train.command import main

    run = RunDir(tmp_path / "run")
    assert main(train_args(run.path, "--steps", "6", "--save-every", "3")) == 0
    mix = shares(run)
    rows = {r["step"]: r for r in run.rows() if "curriculum/level1/share" in r}
    assert sorted(mix) == [1, 2, 3, 4, 5, 6]
    # Untried levels take turns; level 1 turns out solved (out of the band), level 2 half right (in it).
    assert mix[1] == {"level1": 0.5, "level2": 0.5, "level3": 0.0}
    assert rows[1]["curriculum/level1/success"] == 1.0 and rows[1]["curriculum/level2/success"] == 0.5
    assert rows[1]["curriculum/level1/target"] == pytest.approx(0.05)
    # Level 3, untried, shares the band's prompts with level 2 and turns out never right ...
    assert mix[2] == {"level1": 0.0, "level2": 0.5, "level3": 0.5}
    assert rows[2]["curriculum/level3/success"] == 0.0
    # ... so from step 3 level 2 is the one informative level, with a 90% target: it gets 7 of the
    # 8 prompts of steps 3-6, the two levels at the floor of 5% the one left (one prompt in 10).
    assert all(rows[s]["curriculum/level2/target"] == pytest.approx(0.9) for s in range(2, 7))
    assert sum(2 * mix[s]["level2"] for s in (3, 4, 5, 6)) == 7
    assert rows[5]["frac_reward_zero_std"] == 0.0  # a step with no group without signal
    assert run.read_config()["curriculum"] == "adaptive"  # the default floor, recorded in one spelling
    saved = load_state(run.checkpoints / "checkpoint-6")
    assert saved["curriculum"]["updates"] == 6
    # The report shows the mix moving: level 2's share grows from the first half of the steps to the second.
    from llmgym.report.run_report import render_run

    report = render_run(run.path)["markdown"].read_text()
    assert "## Curriculum and dynamic sampling" in report
    assert "| level2 | 66.7% | 83.3% | 50.0% |" in report and "| level3 | 16.7% | 0.0% | 0.0% |" in report


def test_resume_continues_the_curriculum_from_the_checkpoint(tmp_path):
    from llmgym.train.command import main
    from llmgym.train.data import curriculum_dataset

    run = RunDir(tmp_path / "run")
    assert main(train_args(run.path, "--steps", "2", "--save-every", "2")) == 0
    saved = load_state(run.checkpoints / "checkpoint-2")["curriculum"]
    assert main(["--resume", str(run.path), "--steps", "4"]) == 0
    # What the restored state draws next is what step 3 trained on.
    config = adaptive("adaptive:floor=0.05")
    dataset, pools = curriculum_dataset(run_arms(LevelsEnv(), "toylevels", config, make=llmgym.make), 30, 0)
    expected = Curriculum(config, pools, seed=0)
    expected.load_state_dict(saved)
    ids = {json.loads(dataset[row]["task"])["id"] for _, row in expected.draw(2)}
    assert {s["task_id"] for s in run.rows(run.samples) if s["step"] == 3} == ids
    assert load_state(run.checkpoints / "checkpoint-4")["curriculum"]["updates"] == 4


DRAWS_SPY = """
import json, os, sys
sys.path.insert(0, {tests!r})
import test_curriculum
from llmgym.train import curriculum
from llmgym.train.command import main

test_curriculum.register()
draw = curriculum.Curriculum.draw
def logged(self, n):
    picks = draw(self, n)
    with open(os.path.join({out!r}, "draws-" + os.environ["RANK"] + ".jsonl"), "a") as f:
        f.write(json.dumps(picks) + "\\n")
    return picks
curriculum.Curriculum.draw = logged
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(900)  # two ranks on two cores; slow only on a crowded machine
def test_both_ranks_of_a_two_process_run_draw_the_same_prompts(tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None, "torchrun comes with torch; is this the project's .venv?"
    script = tmp_path / "spy.py"
    script.write_text(DRAWS_SPY.format(tests=str(Path(__file__).parent), out=str(tmp_path)))
    run = RunDir(tmp_path / "run")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", str(script),
           *train_args(run.path, "--steps", "3", "--save-every", "0", "--dynamic-sampling", "drop")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    ranks = [(tmp_path / f"draws-{r}.jsonl").read_text().splitlines() for r in (0, 1)]
    assert len(ranks[0]) == 3 and ranks[0] == ranks[1]
    assert [arm for arm, _ in json.loads(ranks[0][0])] == ["level1", "level2"]
    assert sorted(shares(run)) == [1, 2, 3]
