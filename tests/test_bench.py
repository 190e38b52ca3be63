"""`llmgym bench`: results.jsonl written as it goes, resumable, nothing finished lost to a kill;
bad input answered with one line and exit status 2."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import llmgym
from llmgym.cli import main
from llmgym.errors import LLMGymError
from llmgym.plugins import default_gym
from llmgym.report.bench import EnvCase, PolicyCase, ResultsFile, resolve_envs, run_bench
from llmgym.env import Tool, ToolEnv
from llmgym.types import Completion, SamplingParams, Task

from conftest import AddEnv

TESTS = Path(__file__).parent


class FamilyAddEnv(AddEnv):
    """AddEnv whose tasks carry a family (even or odd first operand), for breakdowns."""

    name = "famadd"

    def generate_task(self, rng):
        task = super().generate_task(rng)
        a = int(task.text.split()[2])
        return Task(task.prompt, task.answer, {**task.meta, "family": "even" if a % 2 == 0 else "odd"})


class SumPolicy:
    """Deterministic fake: answers a + b, except a + b + 1 when a is odd; `calls` counts generate calls."""

    name = "sum"

    def __init__(self):
        self.calls = 0
        self.prompts = 0

    def generate(self, prompts, n=1, params=None):
        self.calls += 1
        out = []
        for p in prompts:
            self.prompts += 1
            words = p[-1]["content"].rstrip("?").split()
            a, b = int(words[2]), int(words[4])
            answer = a + b + (a % 2)
            text = f"{a} + {b} = \\boxed{{{answer}}}"
            out.append([Completion(text, prompt_tokens=8, completion_tokens=len(text.split()), seconds=0.01)] * n)
        return out


def cases(levels=(1,), n=5, env_cls=AddEnv):
    out = []
    for lv in levels:
        env = env_cls(level=lv)
        out.append(EnvCase(env.name, lv, env, list(env.tasks("eval", n=n))))
    return out


def lines(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_bench_writes_every_episode_with_what_reports_need(tmp_path):
    policy = SumPolicy()
    records = run_bench(cases(levels=(1, 2), n=5, env_cls=FamilyAddEnv), [PolicyCase("sum", lambda: policy)],
                        tmp_path, samples=2, batch_size=4)
    assert len(records) == 20
    rows = lines(tmp_path / "results.jsonl")
    assert len(rows) == 20
    assert {(r["level"], r["task_id"], r["sample"]) for r in rows} == {
        (r["level"], r["task_id"], r["sample"]) for r in records}
    row = rows[0]
    for field in ("env", "level", "family", "policy", "task_id", "sample", "prompt", "gold", "completion", "answer",
                  "reward", "components", "reason", "correct", "format_ok", "prompt_tokens", "completion_tokens",
                  "seconds", "wall_seconds"):
        assert field in row, field
    for r in rows:
        a = int(r["prompt"].split()[2])
        assert r["correct"] == (a % 2 == 0) == (r["reward"] == 1.0)
        assert r["family"] == ("even" if a % 2 == 0 else "odd")
        assert r["answer"] == r["completion"].split("{")[1].rstrip("}")
    assert policy.calls == 6  # per level, 10 episodes in batches of 4, 4, 2


def test_rerun_skips_finished_episodes_and_extends(tmp_path):
    first = SumPolicy()
    run_bench(cases(n=5), [PolicyCase("sum", lambda: first)], tmp_path, samples=2)
    again = SumPolicy()
    records = run_bench(cases(n=5), [PolicyCase("sum", lambda: again)], tmp_path, samples=2)
    assert again.prompts == 0 and len(records) == 10
    more = SumPolicy()
    records = run_bench(cases(n=5), [PolicyCase("sum", lambda: more), PolicyCase("sum2", SumPolicy)], tmp_path,
                        samples=3)
    assert more.prompts == 5  # only the third sample of each task
    assert len(records) == 30 and len(lines(tmp_path / "results.jsonl")) == 30


def test_a_policy_with_nothing_left_is_never_built(tmp_path):
    run_bench(cases(n=3), [PolicyCase("sum", SumPolicy)], tmp_path)

    def explode():
        raise AssertionError("built a policy that had no work")

    assert len(run_bench(cases(n=3), [PolicyCase("sum", explode)], tmp_path)) == 3


def test_torn_last_line_is_cut_and_its_episode_rerun(tmp_path):
    run_bench(cases(n=4), [PolicyCase("sum", SumPolicy)], tmp_path)
    path = tmp_path / "results.jsonl"
    text = path.read_text().splitlines(keepends=True)
    path.write_text("".join(text[:-1]) + text[-1][: len(text[-1]) // 2])  # a kill mid-write
    policy = SumPolicy()
    records = run_bench(cases(n=4), [PolicyCase("sum", lambda: policy)], tmp_path)
    assert policy.prompts == 1 and len(records) == 4
    assert len(lines(path)) == 4  # every line whole again


def test_results_file_appends_whole_lines(tmp_path):
    results = ResultsFile(tmp_path / "r.jsonl")
    for i in range(3):
        results.append({"task_id": str(i), "text": "x" * 100_000})
    results.close()
    assert [r["task_id"] for r in ResultsFile(tmp_path / "r.jsonl").load()] == ["0", "1", "2"]


def test_other_sampling_settings_are_refused_for_the_same_out(tmp_path):
    run_bench(cases(n=2), [PolicyCase("sum", SumPolicy)], tmp_path, params=SamplingParams(temperature=0.7))
    with pytest.raises(LLMGymError, match="other settings"):
        run_bench(cases(n=2), [PolicyCase("sum", SumPolicy)], tmp_path, params=SamplingParams(temperature=0.0))


def test_policy_error_keeps_finished_episodes_and_says_so(tmp_path):
    class Dies(SumPolicy):
        def generate(self, prompts, n=1, params=None):
            if self.calls == 2:
                raise LLMGymError("server gone")
            return super().generate(prompts, n, params)

    with pytest.raises(LLMGymError, match=r"server gone \(4 finished episodes kept in .*rerun to resume\)"):
        run_bench(cases(n=6), [PolicyCase("dies", Dies)], tmp_path, batch_size=2)
    assert len(lines(tmp_path / "results.jsonl")) == 4


KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from test_bench import SumPolicy, cases
    from llmgym.report.bench import PolicyCase, run_bench

    class Hangs(SumPolicy):
        def generate(self, prompts, n=1, params=None):
            if self.calls == 2:
                print("third batch", flush=True)
                sys.stdin.read()  # blocks until the test kills us
            return super().generate(prompts, n, params)

    run_bench(cases(n=5), [PolicyCase("sum", Hangs)], {out!r}, samples=2, batch_size=3)
""")


def test_sigkill_mid_bench_loses_no_finished_episode(tmp_path):
    script = tmp_path / "bench_and_hang.py"
    script.write_text(KILL_SCRIPT.format(tests=str(TESTS), out=str(tmp_path / "out")))
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "third batch"  # two batches of 3 are finished
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    path = tmp_path / "out" / "results.jsonl"
    before = lines(path)
    assert len(before) == 6
    policy = SumPolicy()
    records = run_bench(cases(n=5), [PolicyCase("sum", lambda: policy)], tmp_path / "out", samples=2, batch_size=3)
    assert policy.prompts == 4 and len(records) == 10
    after = lines(path)
    assert after[:6] == before  # the finished episodes are kept as they were, not rerun
    assert len({(r["task_id"], r["sample"]) for r in after}) == 10


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def sum_policy_registered():
    gym = default_gym()
    gym.registry("policies").register("testsum", SumPolicy, source="tests")
    gym.registry("envs").register("testadd", FamilyAddEnv, source="tests")
    yield
    gym.policies.unregister("testsum")
    gym.envs.unregister("testadd")


def test_cli_bench_writes_all_four_outputs_and_report_rerenders(tmp_path, capsys, sum_policy_registered):
    out = tmp_path / "bench"
    argv = ["bench", "--env", "testadd", "--policy", "testsum", "--samples", "2", "--tasks", "6",
            "--levels", "all", "--out", str(out), "--temperature", "0"]
    assert main(argv) == 0
    for name in ("results.jsonl", "summary.json", "report.md", "report.html"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "llmgym.bench.summary" and summary["schema_version"] == 1
    (entry,) = summary["results"]
    assert entry["env"] == "testadd" and entry["policy"] == "testsum" and entry["episodes"] == 24
    assert set(entry["by_level"]) == {"1", "2"} and set(entry["by_family"]) <= {"even", "odd"}
    assert summary["settings"]["params"]["temperature"] == 0.0
    md = (out / "report.md").read_text()
    assert "| testadd | testsum | 12 × 2 |" in md and "## By level" in md
    (out / "report.md").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").read_text() == md


@pytest.mark.parametrize("argv, message", [
    (["bench", "--env", "nosuchenv"], "unknown env 'nosuchenv'"),
    (["bench", "--env", "testadd", "--policy", "nosuchpolicy"], "unknown policy 'nosuchpolicy'"),
    (["bench", "--env", "testadd:colour=3", "--policy", "testsum"], "colour"),
    (["bench", "--env", "testadd", "--policy", "testsum:colour=3"], "colour"),
    (["bench", "--env", "testadd", "--policy", "testsum", "--levels", "x"], "--levels"),
    (["bench", "--env", "testadd", "--policy", "testsum", "--levels", "7"], "none of [7]"),
    (["bench", "--env", "testadd", "--policy", "testsum", "--temperature", "-1"], "temperature"),
    (["bench", "--env", "testadd", "--policy", "testsum", "--samples", "0"], "--samples"),
    (["bench", "--env", "testadd", "--policy", "./no/such/run"], "holds no model"),
    (["report", "/nonexistent/dir"], "not a directory"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, sum_policy_registered, argv, message):
    if argv[0] == "bench":
        argv = argv + ["--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("llmgym: error:") and message in err[0], err
    assert not (tmp_path / "o" / "results.jsonl").exists()


def test_cli_report_of_an_empty_directory_says_what_it_needs(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "neither metrics.jsonl" in capsys.readouterr().err


def test_resolve_envs_runs_every_level_with_levels_all(sum_policy_registered):
    envs = resolve_envs(["testadd"], default_gym(), levels="all", tasks=3, seed=0)
    assert [(c.label, c.level, len(c.tasks)) for c in envs] == [("testadd", 1, 3), ("testadd", 2, 3)]
    assert llmgym.make("testadd", level=2).level == 2


def test_a_policy_label_names_it_in_results_and_keys(tmp_path, sum_policy_registered):
    out = tmp_path / "bench"
    argv = ["bench", "--env", "testadd", "--tasks", "2", "--out", str(out)]
    assert main(argv + ["--policy", "testsum:label=mine"]) == 0
    assert {r["policy"] for r in lines(out / "results.jsonl")} == {"mine"}
    assert main(argv + ["--policy", "testsum:label=mine"]) == 0  # resumes: nothing new
    assert len(lines(out / "results.jsonl")) == 2
    assert "| testadd | mine |" in (out / "report.md").read_text()


def test_a_checkpoint_directory_is_a_policy(tmp_path, sum_policy_registered):
    tiny = default_gym().make_policy("tiny", hidden=32, layers=1, heads=2)
    tiny.save(tmp_path / "ckpt")
    out = tmp_path / "bench"
    spec = str(tmp_path / "ckpt")
    assert main(["bench", "--env", "testadd", "--policy", spec, "--tasks", "2", "--max-tokens", "4",
                 "--out", str(out)]) == 0
    rows = lines(out / "results.jsonl")
    assert len(rows) == 2 and {r["policy"] for r in rows} == {spec}
    assert all(1 <= r["completion_tokens"] <= 4 for r in rows)


class ToolUser(SumPolicy):
    """Calls the `add` tool first, then answers with what the tool said."""

    def generate(self, prompts, n=1, params=None):
        out = []
        for p in prompts:
            if p[-1]["role"] == "tool":
                text = f"\\boxed{{{p[-1]['content']}}}"
            else:
                words = p[-1]["content"].rstrip("?").split()
                text = f'<tool_call>{{"name": "add", "arguments": {{"a": {words[2]}, "b": {words[4]}}}}}</tool_call>'
            out.append([Completion(text, 8, 6, 0.01)] * n)
        return out


def test_tool_env_episodes_record_their_tool_calls_and_turns(tmp_path):
    from llmgym.report.metrics import summarize

    adder = Tool("add", "adds two numbers", lambda args: str(int(args["a"]) + int(args["b"])))
    env = ToolEnv(AddEnv(), [adder], max_turns=3)
    records = run_bench([EnvCase("add+tools", 1, env, list(env.tasks("eval", n=3)))],
                        [PolicyCase("tooluser", ToolUser)], tmp_path)
    assert [r["tool_calls"] for r in records] == [1, 1, 1] and all(r["correct"] for r in records)
    assert all(r["turns"] == 2 and len(r["transcript"]) == 2 for r in records)
    assert records[0]["transcript"][0]["observation"] == records[0]["answer"]
    assert records[0]["completion_tokens"] == 12  # both turns
    (entry,) = summarize(records)
    assert entry["tool_calls"] == {"mean": 1.0}


def test_the_same_env_or_policy_named_twice(tmp_path, sum_policy_registered):
    envs = resolve_envs(["testadd", "testadd:level=1"], default_gym(), levels=None, tasks=2, seed=0)
    assert len(envs) == 1
    with pytest.raises(LLMGymError, match="named twice: sum"):
        run_bench(envs, [PolicyCase("sum", SumPolicy), PolicyCase("sum", SumPolicy)], tmp_path)
