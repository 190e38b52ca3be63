"""`llmgym train` options: YAML file, command line on top, and one-line errors for bad configs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from llmgym.errors import LLMGymError
from llmgym.train.command import add_arguments, config_from_args
from llmgym.train.config import TrainConfig, load_config


def parse(argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_every_option_is_a_flag_and_the_command_line_overrides_the_file(tmp_path):
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("env: math:level=2\nsteps: 7\nbeta: 0.04\nlora: true\nlearning_rate: 1.0e-5\n")
    cfg, resume = config_from_args(parse(["--config", str(cfg_file), "--steps", "3", "--no-lora"]))
    assert not resume
    assert (cfg.env, cfg.steps, cfg.beta, cfg.lora, cfg.learning_rate) == ("math:level=2", 3, 0.04, False, 1e-5)
    assert cfg.algo == "grpo" and cfg.num_generations == TrainConfig().num_generations


def test_env_given_twice_or_as_a_yaml_list_is_a_mixture_and_flags_replace_the_list(tmp_path):
    cfg_file = tmp_path / "mix.yaml"
    cfg_file.write_text("env:\n  - math:level=2@3\n  - counting\n")
    assert config_from_args(parse(["--config", str(cfg_file)]))[0].env == ["math:level=2@3", "counting"]
    assert config_from_args(parse(["--config", str(cfg_file), "--env", "counting"]))[0].env == "counting"
    assert config_from_args(parse(["--env", "math@3", "--env", "counting"]))[0].env == ["math@3", "counting"]
    cfg_file.write_text("env: [math]\n")
    assert load_config(str(cfg_file)).env == "math"  # a list of one is one env, recorded as before


def test_resume_reads_the_recorded_config_and_flags_override_it(tmp_path):
    from llmgym.train.rundir import RunDir

    run = RunDir(tmp_path / "run")
    run.write_config(TrainConfig(env="math", algo="sft", steps=5, out=str(run.path)).to_dict())
    cfg, resume = config_from_args(parse(["--resume", str(run.path), "--steps", "9"]))
    assert resume and cfg.algo == "sft" and cfg.steps == 9 and cfg.out == str(run.path)


@pytest.mark.parametrize("text, message", [
    ("stesp: 3\n", "unknown training option 'stesp' (did you mean: steps?)"),
    ("algo: ppo\n", "--algo must be one of grpo, rloo, bon, sft"),
    ("steps: many\n", "steps: cannot read 'many' as an integer"),
    ("steps: 0\n", "steps must be a positive integer"),
    ("- a\n- b\n", "must hold a mapping"),
    ("env: [unclosed\n", "is not valid YAML"),
    ("num_generations: 1\n", "num_generations must be >= 2"),
    ("env: [math, math]\n", "env 'math' is given twice"),
    ("env: [math@0, counting]\n", "the weight of 'math' in a mixture must be a finite number > 0"),
    ("env: []\n", "name at least one env"),
    ("env: [math, {counting: 2}]\n", "env: cannot read {'counting': 2}"),
])
def test_bad_config_files_are_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(LLMGymError) as err:
        load_config(str(path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_the_command_prints_one_line_and_exits_2_on_a_bad_config(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("learning_rat: 0.1\n")
    proc = subprocess.run([sys.executable, "-m", "llmgym.train.command", "--config", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("llmgym: error: unknown training option 'learning_rat' "
                                   "(did you mean: learning_rate?)")


def test_resume_of_a_folder_that_is_no_run_is_a_user_error(tmp_path):
    with pytest.raises(LLMGymError, match="not a run directory"):
        config_from_args(parse(["--resume", str(tmp_path)]))
