"""Algorithms are plugins: the built-ins register through `llmgym_register_algorithms` like a third
party's, `llmgym list algorithms` names each one's distribution, and a third party's algorithm
trains from the command line with `llmgym train --algo NAME`."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

import algorithm_example
import llmgym.plugins
import train_toy
from llmgym import Gym
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.train.algorithm import get_algorithm
from llmgym.train.config import TrainConfig
from llmgym.train.rundir import RunDir

from conftest import entry_point

TINY = "tiny:hidden=32,layers=1"


@pytest.fixture
def gym_with_mine(monkeypatch):
    """A fresh plugin manager holding every installed plugin plus the example algorithm's."""
    eps = [*importlib.metadata.entry_points(group="llmgym"),
           entry_point("mine", algorithm_example, dist="llmgym-algorithm-example")]
    gym = Gym(entry_points=eps)
    monkeypatch.setattr(llmgym.plugins, "_default", gym)
    train_toy.register()
    return gym


def test_builtin_algorithms_are_listed_with_their_distribution(capsys):
    assert main(["list", "algorithms", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"grpo", "rloo", "bon", "sft"} <= set(rows)
    assert all(rows[name]["source"] == "llm-gym" and rows[name]["description"] for name in ("grpo", "rloo", "bon", "sft"))


def test_a_third_party_algorithm_is_listed_with_its_distribution(gym_with_mine, capsys):
    assert main(["list", "algorithms", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mine"]["source"] == "llmgym-algorithm-example" and rows["grpo"]["source"] == "llm-gym"


def test_a_third_party_algorithm_trains_from_the_command_line(gym_with_mine, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--algo", "mine", "--env", "toyadd", "--policy", TINY, "--steps", "2",
                 "--eval-tasks", "2", "--max-completion-length", "4", "--out", str(out)]) == 0
    run = RunDir(out)
    assert [r["step"] for r in run.rows() if "mine/tokens" in r] == [1, 2]
    assert run.read_config()["algo"] == "mine" and run.read_config()["learning_rate"] == pytest.approx(1e-3)
    summary = json.loads(run.summary.read_text())
    assert summary["algo"] == "mine" and summary["steps"] == 2 and (run.final / "config.json").is_file()


def test_what_an_algorithm_declares_is_checked_with_one_line_errors(gym_with_mine, capsys):
    assert main(["train", "--algo", "mine", "--env", "toyadd", "--env", "counting", "--policy", TINY]) == 2
    assert capsys.readouterr().err.strip() == ("llmgym: error: --algo mine trains one env; train a mixture of envs "
                                               "with --algo grpo, rloo or sft")
    with pytest.raises(LLMGymError, match="num_generations must be >= 2 for rloo"):
        TrainConfig.from_mapping({"algo": "rloo", "num_generations": 1})


def test_an_unknown_algorithm_lists_the_registered_ones(gym_with_mine):
    with pytest.raises(LLMGymError, match=r"--algo must be one of grpo, rloo, bon, sft, pretrain, mine, got 'ppo'"):
        get_algorithm("ppo")
