"""Env versions: every env says which eval set it is; bench results, summary.json and run directories
record it, and episodes of two versions of one env are never resumed into or merged in one file."""

import json
from pathlib import Path

import pytest

import llmgym
from llmgym.cli import main
from llmgym.env import UNVERSIONED, ToolEnv, Tool
from llmgym.errors import LLMGymError
from llmgym.report.bench import EnvCase, PolicyCase, run_bench

from conftest import AddEnv
from test_bench import SumPolicy


class AddEnvV2(AddEnv):
    version = "2"


def case(env, n=3):
    return EnvCase(env.name, env.level, env, list(env.tasks("eval", n=n)))


def rows(out):
    return [json.loads(line) for line in (Path(out) / "results.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["math", "counting", "code", "rlhf"])
def test_every_builtin_env_declares_a_version(name):
    env = llmgym.make(name)
    assert isinstance(env.version, str) and env.version not in ("", UNVERSIONED)


def test_an_env_that_declares_no_version_says_so_and_a_tool_env_has_its_base_version():
    assert AddEnv().version == UNVERSIONED
    tool = Tool("noop", "does nothing", lambda args: "")
    assert ToolEnv(AddEnvV2(), [tool]).version == "2"


def test_bench_rows_record_the_env_version_and_a_rerun_of_the_same_version_resumes(tmp_path):
    run_bench([case(AddEnvV2())], [PolicyCase("sum", SumPolicy)], tmp_path)
    assert {r["env_version"] for r in rows(tmp_path)} == {"2"}
    again = SumPolicy()
    assert len(run_bench([case(AddEnvV2())], [PolicyCase("sum", lambda: again)], tmp_path)) == 3
    assert again.prompts == 0


def test_resuming_results_of_another_env_version_is_refused_in_one_line_naming_both(tmp_path):
    run_bench([case(AddEnv())], [PolicyCase("sum", SumPolicy)], tmp_path)
    with pytest.raises(LLMGymError) as err:
        run_bench([case(AddEnvV2())], [PolicyCase("sum", SumPolicy)], tmp_path)
    message = str(err.value)
    assert "'unversioned'" in message and "now version '2'" in message and "fresh --out" in message
    assert "\n" not in message
    assert len(rows(tmp_path)) == 3  # nothing was added


def test_rows_without_a_version_count_as_unrecorded_and_are_refused(tmp_path):
    run_bench([case(AddEnvV2())], [PolicyCase("sum", SumPolicy)], tmp_path)
    old = [{k: v for k, v in r.items() if k != "env_version"} for r in rows(tmp_path)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    with pytest.raises(LLMGymError, match=r"'unrecorded' \(written before env versions were recorded\)"):
        run_bench([case(AddEnvV2())], [PolicyCase("sum", SumPolicy)], tmp_path)


def test_another_version_of_another_level_or_env_does_not_block_a_resume(tmp_path):
    run_bench([case(AddEnv(level=1))], [PolicyCase("sum", SumPolicy)], tmp_path)
    records = run_bench([case(AddEnvV2(level=2))], [PolicyCase("sum", SumPolicy)], tmp_path)
    assert {r["env_version"] for r in records} == {"2"} and len(rows(tmp_path)) == 6


@pytest.fixture
def registered():
    gym = llmgym.default_gym()
    gym.registry("policies").register("versum", SumPolicy, source="tests")
    gym.registry("envs").register("veradd", AddEnvV2, source="tests")
    yield
    gym.policies.unregister("versum")
    gym.envs.unregister("veradd")


def test_summary_json_lists_the_version_of_each_env_and_level(tmp_path, registered):
    out = tmp_path / "bench"
    assert main(["bench", "--env", "veradd", "--policy", "versum", "--tasks", "2", "--levels", "all",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env_versions"] == [{"env": "veradd", "level": 1, "version": "2"},
                                       {"env": "veradd", "level": 2, "version": "2"}]


def test_report_refuses_a_results_file_that_merges_two_versions_of_one_env(tmp_path, capsys, registered):
    out = tmp_path / "bench"
    assert main(["bench", "--env", "veradd", "--policy", "versum", "--tasks", "2", "--out", str(out)]) == 0
    merged = rows(out) + [{**r, "env_version": "1", "policy": "other"} for r in rows(out)]
    (out / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in merged))
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mixes veradd level 1 episodes of env versions '2' and '1'" in err[0], err


def test_a_training_run_records_its_env_version_and_refuses_to_resume_another(tmp_path):
    import train_toy
    from llmgym.train.config import TrainConfig, load_config
    from llmgym.train.rundir import RunDir
    from llmgym.train.run import train

    train_toy.register()
    out = tmp_path / "run"
    cfg = dict(env="toyadd", policy="tiny:hidden=32,layers=1", algo="sft", steps=1, save_every=0, eval_every=0,
               eval_tasks=2, max_completion_length=4, batch_size=2, out=str(out))
    summary = train(TrainConfig(**cfg))
    run = RunDir(out)
    assert summary["env_version"] == UNVERSIONED == run.recorded_env_version()
    # A comment, so config.yaml stays a config file: `--resume` and `--config` read it as it is.
    assert run.config.read_text().startswith('# env_version: "unversioned"')
    assert load_config(str(run.config)).env == "toyadd"
    run.write_config(run.read_config(), env_version="0")
    with pytest.raises(LLMGymError, match=r"trained on toyadd version '0', but toyadd is now version "
                                          r"'unversioned': train this version into a fresh --out"):
        train(TrainConfig(**{**cfg, "steps": 2}), resume=True)


def test_a_run_directory_records_its_env_version_in_a_comment_and_older_ones_count_as_unrecorded(tmp_path):
    from llmgym.env import UNRECORDED
    from llmgym.train.rundir import RunDir

    run = RunDir(tmp_path / "run")
    assert run.recorded_env_version() is None  # nothing trained there yet
    run.path.mkdir()
    run.config.write_text("env: math\nsteps: 3\n")  # written before env versions were recorded
    assert run.recorded_env_version() == UNRECORDED
    run.write_config({"env": "math", "steps": 3}, env_version='3f2a-"quoted"')
    assert run.recorded_env_version() == '3f2a-"quoted"' and run.read_config() == {"env": "math", "steps": 3}
