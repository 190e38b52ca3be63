"""The guard's thresholds come from one spec string (`llmgym train --guard`, the `guard:` YAML key):
each one changes where a run stops, `watch` records without stopping, `off` probes nothing, and a
bad spec is one clear error."""

import argparse
import json

import pytest

from llmgym.errors import LLMGymError
from llmgym.rlhf.guard import GuardConfig, GuardState, guard_for_env, make_guard
from llmgym.train.command import add_arguments, config_from_args
from llmgym.train.config import TrainConfig, load_config

CLEAN = {"repetition": 0.1, "distinct_1": 0.9, "distinct_2": 0.95, "longest_run": 1.0, "length": 20.0,
         "near_identical": 0.0}


def gao_curve(steps):
    """Proxy keeps rising; gold rises to 0.7 at step 40, then falls 0.015 per 10 steps."""
    return [(s, {"proxy": 0.2 + 0.01 * s, "gold": 0.3 + 0.01 * s if s <= 40 else 0.7 - 0.0015 * (s - 40),
                 "kl": 0.5 * s, "degeneracy": CLEAN}) for s in steps]


def stop_step(spec):
    state = GuardState(GuardConfig.from_spec(spec))
    for step, figures in gao_curve(range(0, 300, 10)):
        if state.update(step, figures).stop:
            return step, state
    return None, state


@pytest.mark.parametrize("spec, step", [
    ("stop:patience=2", 70),                     # 60, 70 are >= 0.02 below the peak
    ("stop:patience=4", 90),
    ("patience=2,min_gold_drop=0.05", 90),       # 80 is the first probe 0.05 below the peak
    ("patience=2,min_proxy_rise=0.25", 80),      # proxy must stand 0.25 above its 0.6 at the peak
    ("patience=2,min_gold_drop=0.5", None),      # gold never falls that far
    ("patience=100,max_kl=30", 70),              # the KL budget fires first
])
def test_each_threshold_in_the_spec_moves_the_stop(spec, step):
    stopped, state = stop_step(spec)
    assert stopped == step
    if step is not None:
        assert state.best_step == 40 or state.reason.startswith("kl_budget")


def test_a_degeneracy_rule_can_be_loosened_or_switched_off_by_the_spec():
    repetitive = {"proxy": 0.9, "gold": None, "degeneracy": {**CLEAN, "repetition": 0.7}}
    for spec, stops in [("stop", True), ("max_repetition=0.8", False), ("max_repetition=none", False)]:
        state = GuardState(GuardConfig.from_spec(spec))
        state.update(0, {"proxy": 0.1, "gold": None, "degeneracy": CLEAN})
        assert state.update(10, repetitive).stop is stops, spec


def test_spec_forms_read_the_same_config():
    expected = GuardConfig(mode="watch", patience=3, max_kl=80.0, max_longest_run=None)
    assert GuardConfig.from_spec("watch:patience=3,max_kl=80,max_longest_run=none") == expected
    assert GuardConfig.from_spec({"mode": "watch", "patience": 3, "max_kl": 80, "max_longest_run": None}) == expected
    assert GuardConfig.from_spec(expected.to_spec()) == expected
    assert GuardConfig.from_spec("min_gold_drop=0.1").mode == "stop"
    assert GuardConfig.from_spec(None) == GuardConfig() == GuardConfig.from_spec("stop")
    assert GuardConfig.from_spec(False).mode == "off"


@pytest.mark.parametrize("spec, message", [
    ("stop:patiense=3", "unknown guard option 'patiense' (did you mean: patience?)"),
    ("halt", "guard mode must be one of stop, watch, off"),
    ("patience=0", "guard patience must be an integer >= 1"),
    ("patience=2.5", "guard patience must be an integer >= 1"),
    ("min_gold_drop=lots", "guard min_gold_drop: cannot read 'lots' as a number"),
    ("min_gold_drop=-0.1", "guard min_gold_drop must be >= 0"),
    ("max_length_drift=0.5", "max_length_drift must be >= 1"),
])
def test_a_bad_spec_is_one_clear_error(spec, message):
    with pytest.raises(LLMGymError) as err:
        GuardConfig.from_spec(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_train_flag_and_yaml_key_set_the_guard_and_the_run_records_one_spelling(tmp_path):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    cfg, _ = config_from_args(parser.parse_args(["--guard", "patience=3,max_kl=80"]))
    assert cfg.guard == "stop:patience=3,max_kl=80"
    assert GuardConfig.from_spec(cfg.to_dict()["guard"]).patience == 3

    path = tmp_path / "run.yaml"
    path.write_text("guard:\n  mode: watch\n  min_gold_drop: 0.05\n")
    assert load_config(str(path)).guard == "watch:min_gold_drop=0.05"
    path.write_text("guard: off\n")  # YAML 1.1 reads an unquoted off as False
    assert load_config(str(path)).guard == "off"
    assert TrainConfig().guard == "stop"
    with pytest.raises(LLMGymError, match="unknown guard option 'patiense'"):
        load_config(None, {"guard": "patiense=3"})


class Control:
    should_training_stop = False


class State:
    def __init__(self, step):
        self.global_step = step


def drive(guard, steps):
    """Call the callback like a trainer would; returns the step it stopped at (or None)."""
    control = Control()
    for step in steps:
        if step == 0:
            guard.on_train_begin(None, State(0), control, model=None)
        else:
            guard.on_step_end(None, State(step), control, model=None)
        if control.should_training_stop:
            return step
    guard.on_train_end(None, State(steps[-1]), control)
    return None


def test_watch_mode_records_where_it_would_stop_and_trains_to_the_end(tmp_path, monkeypatch):
    import llmgym.rlhf.guard as guard_module

    monkeypatch.setattr(guard_module, "save_model_atomic", lambda model, tok, dest: dest.mkdir(exist_ok=True))
    stream = dict(gao_curve(range(0, 200, 10)))
    calls = []

    def probe(model):
        calls.append(len(calls))
        return stream[10 * (len(calls) - 1)]

    guard = make_guard(tmp_path, probe, config="watch:eval_every=10,patience=2")
    assert drive(guard, list(range(0, 200, 10))) is None
    assert len(calls) == 20
    verdict = json.loads((tmp_path / "guard.json").read_text())
    assert verdict["mode"] == "watch" and not verdict["stopped"] and verdict["reason"] is None
    assert verdict["would_stop_step"] == 70 and verdict["would_stop_reason"].startswith("proxy_up_gold_down")
    assert verdict["best_step"] == 40 and (tmp_path / "best").is_dir()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "guard/would_stop_reason" in r] == [70]
    assert not any("guard/stop_reason" in r for r in rows)

    from llmgym.report.run_report import guard_verdict

    assert "would have stopped at step 70: proxy_up_gold_down" in guard_verdict(tmp_path)


def test_eval_every_in_the_spec_sets_when_the_guard_probes(tmp_path, monkeypatch):
    import llmgym.rlhf.guard as guard_module

    monkeypatch.setattr(guard_module, "save_model_atomic", lambda model, tok, dest: None)
    probed = []

    def probe(model):
        probed.append(True)
        return {"proxy": 0.5, "gold": 0.5, "degeneracy": CLEAN}

    guard = make_guard(tmp_path, probe, config="eval_every=25")
    drive(guard, list(range(0, 101, 5)))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 25, 50, 75, 100]


def test_off_probes_nothing_and_writes_nothing(tmp_path):
    def probe(model):
        raise AssertionError("the guard is off")

    assert drive(make_guard(tmp_path, probe, config="off"), list(range(0, 50, 10))) is None
    assert not (tmp_path / "guard.json").exists() and not (tmp_path / "metrics.jsonl").exists()


def test_guard_for_env_takes_the_spec_a_train_config_holds(tmp_path, monkeypatch):
    """`guard_for_env(..., config=cfg.guard)`: the probe size comes from the spec, `off` builds no probe."""
    import llmgym
    import llmgym.rlhf.guard as guard_module

    seen = {}

    def fake_make_probe(tasks, system_prompt, proxy, gold, *, n, temperature, **kw):
        seen.update(tasks=len(tasks), n=n, temperature=temperature, gold=gold.name)
        return lambda m: {"proxy": 0.5, "gold": 0.5, "degeneracy": CLEAN}

    monkeypatch.setattr(guard_module, "make_probe", fake_make_probe)
    env = llmgym.make("rlhf:family=joke")
    policy = llmgym.make_policy("tiny:hidden=16,layers=1,heads=2")
    cfg = TrainConfig(env="rlhf", guard="stop:probe_tasks=5,samples=3,temperature=1,patience=4")
    guard = guard_for_env(env, tmp_path, policy, config=cfg.guard)
    assert seen == {"tasks": 5, "n": 3, "temperature": 1.0, "gold": "gold"}
    assert guard.state.config.patience == 4

    seen.clear()
    off = guard_for_env(env, tmp_path / "off", policy, config=TrainConfig(guard="off").guard)
    assert seen == {} and drive(off, [0, 10, 20]) is None and not (tmp_path / "off").exists()
