"""`--trl KEY=VALUE` and `--report-to`: checked against the algorithm's TRL config before any work, one
line for every mistake, and the options reach the TRL config the trainer is built with."""

from __future__ import annotations

import pytest

import train_toy
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.train.config import TrainConfig, load_config
from llmgym.train.trl_options import checked, read_value

TINY = "tiny:hidden=32,layers=1"


@pytest.fixture(autouse=True)
def toy_envs(monkeypatch):
    train_toy.register()

    def refuse(*args, **kwargs):
        raise AssertionError("training started although the options were wrong")

    monkeypatch.setattr("llmgym.train.run.train", refuse)


def misuse(capsys, tmp_path, *flags: str) -> str:
    """The one line `llmgym train ... FLAGS` answers with (status 2, nothing trained)."""
    status = main(["train", "--env", "toyadd", "--policy", TINY, "--out", str(tmp_path / "run"), *flags])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()
    return err.removeprefix("llmgym: error: ").rstrip("\n")


def test_an_unknown_trl_key_is_one_line_with_the_closest_fields(capsys, tmp_path):
    assert misuse(capsys, tmp_path, "--trl", "loss_typ=grpo") == (
        "--trl loss_typ: GRPOConfig (--algo grpo) has no field 'loss_typ' (did you mean: loss_type?)")
    # Checked against the chosen algorithm's config: top_entropy_quantile is GRPO's, not RLOO's.
    assert "RLOOConfig (--algo rloo) has no field 'top_entropy_quantile'" in misuse(
        capsys, tmp_path, "--algo", "rloo", "--trl", "top_entropy_quantile=0.2")


@pytest.mark.parametrize(("pair", "flag"), [("learning_rate=1e-5", "--learning-rate"),
                                            ("num_generations=4", "--num-generations"),
                                            ("report_to=wandb", "--report-to"),
                                            ("output_dir=/tmp/x", "--out")])
def test_a_field_llmgym_sets_is_refused_with_the_option_that_sets_it(capsys, tmp_path, pair, flag):
    line = misuse(capsys, tmp_path, "--trl", pair)
    assert line.startswith(f"--trl {pair.split('=')[0]}: llmgym sets this itself; use {flag}")


@pytest.mark.parametrize(("flags", "expected"), [
    ("num_iterations=two", "--trl num_iterations=two: GRPOConfig.num_iterations takes an integer"),
    ("mask_truncated_completions=maybe", "GRPOConfig.mask_truncated_completions takes true or false"),
    ("top_entropy_quantile=high", "GRPOConfig.top_entropy_quantile takes a number"),
    ("lr_scheduler_type=cosin", "GRPOConfig.lr_scheduler_type takes one of 'linear', 'cosine'"),
    ("--algo sft loss_type=nl", "--trl loss_type=nl: SFTConfig.loss_type takes one of 'nll', 'dft', 'chunked_nll'"),
    ("loss_type", "--trl takes KEY=VALUE (a field of the algorithm's TRL config), got 'loss_type'"),
])
def test_a_value_that_is_not_the_fields_type_is_one_line(capsys, tmp_path, flags, expected):
    *algo, pair = flags.split()
    assert expected in misuse(capsys, tmp_path, *algo, "--trl", pair)


def test_a_key_given_twice_is_refused(capsys, tmp_path):
    assert misuse(capsys, tmp_path, "--trl", "loss_type=grpo", "--trl", "loss_type=dapo") == (
        "--trl loss_type is given twice ('grpo' and 'dapo'); give it once")


def test_report_to_names_a_tracker_and_a_missing_one_names_the_extra(capsys, tmp_path, monkeypatch):
    assert misuse(capsys, tmp_path, "--report-to", "tensorbord").startswith(
        "--report-to 'tensorbord' is no tracker (did you mean: tensorboard?)")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    assert misuse(capsys, tmp_path, "--report-to", "tensorboard,wandb") == (
        "--report-to wandb needs the wandb package: pip install 'llm-gym[trackers]' (or pip install wandb)")


def test_values_are_read_as_their_fields_types():
    cfg = checked(TrainConfig(env="toyadd", trl={"loss_type": "grpo", "num_iterations": "2", "top_entropy_quantile":
                                                 "0.2", "mask_truncated_completions": "true", "max_grad_norm": 1,
                                                 "lr_scheduler_kwargs": '{"min_lr": 1e-7}'}))
    assert cfg.trl == {"loss_type": "grpo", "num_iterations": 2, "top_entropy_quantile": 0.2,
                       "mask_truncated_completions": True, "max_grad_norm": 1.0, "lr_scheduler_kwargs": {"min_lr": 1e-7}}
    assert read_value("none", int | None) is None and read_value("7", int | None) == 7
    with pytest.raises(ValueError):
        read_value(True, int)  # YAML's true is no integer


def test_yaml_trl_mapping_and_flags_add_to_it_key_by_key(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("env: toyadd\ntrl:\n  loss_type: grpo\n  num_iterations: 2\nreport_to: [tensorboard, mlflow]\n")
    cfg = load_config(str(path), {"trl": {"num_iterations": "3", "scale_rewards": "batch"}})
    assert cfg.trl == {"loss_type": "grpo", "num_iterations": "3", "scale_rewards": "batch"}
    assert cfg.report_to == "tensorboard,mlflow"
    typed = checked(cfg)
    assert typed.trl == {"loss_type": "grpo", "num_iterations": 3, "scale_rewards": "batch"}
    # What config.yaml records reads back as the same options (--resume, --config).
    assert TrainConfig.from_mapping(typed.to_dict()).trl == typed.trl
    with pytest.raises(LLMGymError, match=r"trl: a mapping of TRL config fields"):
        TrainConfig.from_mapping({"trl": "loss_type=grpo"})


def test_trl_options_reach_the_trl_configs_the_trainers_are_built_with(tmp_path):
    import llmgym
    from llmgym.train.algos import rl_trainer, sft_trainer
    from llmgym.train.data import reference_dataset

    env, policy = train_toy.ToyAddEnv(), llmgym.make_policy(TINY, seed=0)
    cfg = TrainConfig(env="toyadd", policy=TINY, steps=2, num_generations=4, train_tasks=16,
                      trl={"loss_type": "grpo", "num_iterations": "2", "mask_truncated_completions": "true",
                           "warmup_steps": "1"}).resolved(is_tiny=True)
    args = rl_trainer(cfg, env, policy.model, policy.tokenizer, str(tmp_path / "grpo"), [], lambda *a: None, 1).args
    assert (args.loss_type, args.num_iterations, args.mask_truncated_completions, args.warmup_steps) == (
        "grpo", 2, True, 1)
    # llmgym's own settings stand, and TRL's trackers stay off (the run's rows reach --report-to).
    assert args.num_generations == 4 and args.lr_scheduler_type == "constant" and args.report_to in ("none", [])
    sft = TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=2, trl={"max_length": "64"}).resolved(is_tiny=True)
    trainer = sft_trainer(sft, policy.model, policy.tokenizer, reference_dataset(env, 8, 0), str(tmp_path / "sft"),
                          [], 1, steps=2)
    assert trainer.args.max_length == 64 and trainer.args.completion_only_loss is True


def test_an_algorithm_that_builds_no_trl_config_refuses_trl_options(capsys, tmp_path, monkeypatch):
    import importlib.metadata

    import algorithm_example
    import llmgym.plugins
    from conftest import entry_point
    from llmgym import Gym

    eps = [*importlib.metadata.entry_points(group="llmgym"),
           entry_point("mine", algorithm_example, dist="llmgym-algorithm-example")]
    monkeypatch.setattr(llmgym.plugins, "_default", Gym(entry_points=eps))
    train_toy.register()
    assert misuse(capsys, tmp_path, "--algo", "mine", "--trl", "loss_type=nll") == (
        "--algo mine builds no TRL config, so --trl has nothing to set; drop --trl")
