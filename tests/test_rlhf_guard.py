"""The over-optimisation guard on synthetic streams of figures: it stops when proxy rises while gold
falls, and when degeneracy crosses a threshold, keeping the best checkpoint and writing why."""

import json

import pytest

from llmgym.policies.tiny import build_model, build_tokenizer
from llmgym.rlhf.guard import GuardConfig, GuardState, make_guard

CLEAN = {"repetition": 0.1, "distinct_1": 0.9, "distinct_2": 0.95, "longest_run": 1.0, "length": 20.0,
         "near_identical": 0.0}


def gao_curve(steps):
    """Proxy keeps rising; gold rises, peaks at step 40, then falls (Gao et al. 2022, in miniature)."""
    out = []
    for s in steps:
        proxy = 0.2 + 0.01 * s
        gold = 0.3 + 0.01 * s if s <= 40 else 0.7 - 0.0015 * (s - 40)
        out.append((s, {"proxy": proxy, "gold": gold, "kl": 0.05 * s, "degeneracy": CLEAN}))
    return out


def test_stops_after_patience_probes_of_proxy_up_gold_down_and_names_the_peak():
    state = GuardState(GuardConfig(patience=3, min_gold_drop=0.02))
    stopped = None
    for step, figures in gao_curve(range(0, 200, 10)):
        if state.update(step, figures).stop:
            stopped = step
            break
    # Peak at 40; 50 is only 0.015 below it (under min_gold_drop); 60, 70, 80 diverge -> stop at 80.
    assert stopped == 80 and state.best_step == 40
    assert state.reason.startswith("proxy_up_gold_down") and "best gold at step 40" in state.reason


def test_noise_in_gold_below_the_drop_threshold_does_not_stop():
    state = GuardState(GuardConfig(patience=2, min_gold_drop=0.05))
    golds = [0.3, 0.5, 0.48, 0.49, 0.47, 0.5, 0.46]
    assert not any(state.update(10 * i, {"proxy": 0.1 * i, "gold": g, "degeneracy": CLEAN}).stop
                   for i, g in enumerate(golds))


def test_gold_falling_while_proxy_also_falls_is_not_reward_hacking():
    state = GuardState(GuardConfig(patience=2))
    stream = [(0.5, 0.5), (0.4, 0.4), (0.3, 0.3), (0.2, 0.2)]
    assert not any(state.update(i, {"proxy": p, "gold": g, "degeneracy": CLEAN}).stop for i, (p, g) in enumerate(stream))


@pytest.mark.parametrize("key, value, config, phrase", [
    ("repetition", 0.7, {}, "repetition 0.7 > 0.5"),
    ("distinct_2", 0.1, {}, "distinct_2 0.1 < 0.3"),
    ("near_identical", 0.9, {}, "near_identical 0.9 > 0.8"),
    ("longest_run", 5.0, {}, "longest_run 5 > 3"),
    ("length_drift", 4.0, {}, "length_drift 4"),
    ("length_drift", 0.2, {}, "length_drift 0.2"),
    ("repetition", 0.7, {"max_repetition": 0.8}, None),
])
def test_degeneracy_over_a_threshold_stops_without_gold(key, value, config, phrase):
    state = GuardState(GuardConfig(**config))
    assert state.update(0, {"proxy": 0.1, "gold": None, "degeneracy": CLEAN}).best
    decision = state.update(10, {"proxy": 0.9, "gold": None, "degeneracy": {**CLEAN, key: value}})
    if phrase is None:
        assert not decision.stop and decision.best
    else:
        assert decision.stop and not decision.best and phrase in decision.reason
        assert state.best_step == 0


def test_kl_budget():
    state = GuardState(GuardConfig(max_kl=5.0))
    assert not state.update(0, {"proxy": 0.1, "gold": 0.1, "kl": 1.0, "degeneracy": CLEAN}).stop
    decision = state.update(10, {"proxy": 0.2, "gold": 0.2, "kl": 6.0, "degeneracy": CLEAN})
    assert decision.stop and decision.reason.startswith("kl_budget")


class Control:
    should_training_stop = False


class State:
    def __init__(self, step):
        self.global_step = step


def test_callback_stops_the_trainer_keeps_the_best_checkpoint_and_writes_the_reason(tmp_path):
    import torch

    tok = build_tokenizer()
    model = build_model(tok, hidden=16, layers=1, heads=2)
    stream = dict(gao_curve(range(0, 200, 10)))
    marks = {}

    def probe(m):
        # The model's "quality" is a weight we set per step, so the saved best can be told apart.
        step = int(m.model.embed_tokens.weight[0, 0].item())
        marks[step] = True
        return stream[step]

    guard = make_guard(tmp_path, probe, config=GuardConfig(eval_every=10, patience=2), tokenizer=tok)
    control = Control()
    stopped_at = None
    for step in range(0, 200, 10):
        with torch.no_grad():
            model.model.embed_tokens.weight[0, 0] = float(step)
        if step == 0:
            guard.on_train_begin(None, State(0), control, model=model)
        else:
            guard.on_step_end(None, State(step), control, model=model)
        if control.should_training_stop:
            stopped_at = step
            break
    assert stopped_at == 70
    verdict = json.loads((tmp_path / "guard.json").read_text())
    assert verdict["stopped"] and verdict["best_step"] == 40 and verdict["step"] == 70
    assert verdict["reason"].startswith("proxy_up_gold_down")
    from transformers import AutoModelForCausalLM

    best = AutoModelForCausalLM.from_pretrained(tmp_path / "best")
    assert best.model.embed_tokens.weight[0, 0].item() == 40.0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    probes = [r for r in rows if "rlhf/proxy_reward" in r]
    assert [r["step"] for r in probes] == list(range(0, 80, 10))
    assert all({"rlhf/gold_score", "kl", "degeneracy/repetition", "degeneracy/length_drift"} <= set(r) for r in probes)
    assert rows[-1]["guard/stop_reason"] == verdict["reason"] and rows[-1]["guard/best_step"] == 40
    # The run's report says why the guard stopped and plots the probes' proxy and gold.
    from llmgym.report.run_report import render_run

    report = render_run(tmp_path)["markdown"].read_text()
    assert f"stopped at step 70: {verdict['reason']}" in report and "best checkpoint: step 40" in report


def _drive(guard, model, steps, stream, start=0):
    """Feed a guard the probes of `steps` as a trainer would; returns the step it stopped at."""
    import torch

    control = Control()
    for step in steps:
        with torch.no_grad():
            model.model.embed_tokens.weight[0, 0] = float(step)
        if step == start:  # a fresh run probes here; a resumed one takes up guard.json
            guard.on_train_begin(None, State(start), control, model=model)
        else:
            guard.on_step_end(None, State(step), control, model=model)
        if control.should_training_stop:
            return step
    return None


@pytest.mark.parametrize("killed_after, resumed_at", [(50, 50), (60, 40), (30, 30)])
def test_a_resumed_guard_takes_up_its_memory_and_stops_where_an_uninterrupted_one_does(tmp_path, killed_after,
                                                                                      resumed_at):
    """Kill the run after the probe of `killed_after`, resume from a checkpoint at `resumed_at`: the
    guard replays its probes up to the checkpoint (best gold, the streak of diverging probes, the
    first probe's length) instead of starting blind, so it still stops at 70 with the best at 40."""
    from transformers import AutoModelForCausalLM

    tok = build_tokenizer()
    model = build_model(tok, hidden=16, layers=1, heads=2)
    stream = dict(gao_curve(range(0, 200, 10)))

    def probe(m):
        return stream[int(m.model.embed_tokens.weight[0, 0].item())]

    cfg = GuardConfig(eval_every=10, patience=2)
    assert _drive(make_guard(tmp_path, probe, config=cfg, tokenizer=tok), model, range(0, killed_after + 1, 10),
                  stream) is None
    # What the trainer's --resume does to the run directory: rows after the checkpoint are cut.
    rows = [r for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines()) if r["step"] <= resumed_at]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    guard = make_guard(tmp_path, probe, config=cfg, tokenizer=tok)
    assert _drive(guard, model, range(resumed_at, 200, 10), stream, start=resumed_at) == 70
    assert [h["step"] for h in guard.state.history] == list(range(0, 80, 10))  # no probe twice, none lost
    verdict = json.loads((tmp_path / "guard.json").read_text())
    assert verdict["stopped"] and verdict["best_step"] == 40 and verdict["step"] == 70
    assert verdict["first_length"] == CLEAN["length"]
    best = AutoModelForCausalLM.from_pretrained(tmp_path / "best")
    assert best.model.embed_tokens.weight[0, 0].item() == 40.0
    assert json.loads((tmp_path / "best" / "llmgym_guard.json").read_text())["step"] == 40
    probes = [r["step"] for r in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
              if "rlhf/proxy_reward" in r]
    assert probes == list(range(0, 80, 10))


def test_resuming_without_a_guard_file_starts_a_fresh_memory(tmp_path):
    tok = build_tokenizer()
    model = build_model(tok, hidden=16, layers=1, heads=2)
    stream = dict(gao_curve(range(0, 200, 10)))
    guard = make_guard(tmp_path, lambda m: stream[int(m.model.embed_tokens.weight[0, 0].item())],
                       config=GuardConfig(eval_every=10, patience=2), tokenizer=tok)
    # No probe at the resumed step itself (the trainer probes at step ends); the first is at 60,
    # which becomes the best seen, so the fall after it must again exceed min_gold_drop for two
    # probes (80 and 90) instead of stopping at 70.
    assert _drive(guard, model, range(50, 200, 10), stream, start=50) == 90
    assert json.loads((tmp_path / "guard.json").read_text())["best_step"] == 60
