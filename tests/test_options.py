"""One way from options dataclasses to a command line and YAML keys (`llmgym.options`): train, rm and
guard options answer an unknown key with the same suggestions, and rm train's flags and defaults are
its RMConfig fields'."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from llmgym.errors import LLMGymError
from llmgym.options import add_arguments, from_args
from llmgym.rlhf.guard import GuardConfig
from llmgym.rlhf.reward_model import RMConfig
from llmgym.train.config import TrainConfig


@pytest.mark.parametrize("build, what, typo, meant", [
    (lambda key: TrainConfig.from_mapping({key: 1}), "training", "stpes", "steps"),
    (lambda key: GuardConfig.from_spec({key: 1}), "guard", "patiense", "patience"),
    (lambda key: GuardConfig.from_spec(f"stop:{key}=1"), "guard", "max_kll", "max_kl"),
])
def test_an_unknown_option_is_answered_alike_wherever_it_is_given(build, what, typo, meant):
    with pytest.raises(LLMGymError) as err:
        build(typo)
    assert str(err.value) == f"unknown {what} option {typo!r} (did you mean: {meant}?)"


def test_rm_train_flags_are_the_rm_config_fields_with_their_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser, RMConfig, flags={"learning_rate": "--lr"})
    config = from_args(RMConfig, parser.parse_args(["--data", "r.jsonl", "--lr", "0.01", "--max-length", "64"]))
    defaults = {f.name: f.default for f in dataclasses.fields(RMConfig) if f.name != "data"}
    assert config == RMConfig(**{**defaults, "data": "r.jsonl", "learning_rate": 0.01, "max_length": 64})
    assert "(default: 200)" in parser.format_help()  # the one default, shown from the field
    with pytest.raises(SystemExit):  # a field without a default is a required flag
        parser.parse_args([])
