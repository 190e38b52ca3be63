"""The over-optimisation guard: stop an RL run against a learned reward when it starts fooling it.

RL against a reward model improves true quality for a while, then finds texts the model over-rates
(Gao et al., 2022: gold score rises, peaks and falls as KL to the start grows, while the proxy keeps
rising). The guard probes the policy every `eval_every` steps on held-out prompts and records

- `rlhf/proxy_reward`  mean reward-model score of the probe samples,
- `rlhf/gold_score`    mean gold score when a gold labeler is available,
- `kl` / `rlhf/kl`     KL(policy || starting policy) per sample, summed over tokens (k1 estimate),
- `degeneracy/*`       repetition, distinct_1, distinct_2, longest_run, length, near_identical,
                       length_drift (mean length / the first probe's),

into the run's `metrics.jsonl`, saves the policy to `RUN/best/` whenever gold reaches a new best
(without gold: whenever the probe is clean), and stops training when

1. **proxy up, gold down**: for `patience` probes in a row the proxy stands above its value at the
   best-gold probe (by `min_proxy_rise`) while gold stands below its best (by `min_gold_drop`); or
2. **degeneracy**: a figure crosses its threshold (`max_repetition`, `min_distinct_2`,
   `max_near_identical`, `max_length_drift`, `max_longest_run`); or
3. **KL budget**: `max_kl` is set and exceeded.

The reason is written to `RUN/guard.json` and as a `guard/stop_reason` row of `metrics.jsonl`.
`guard.json` is rewritten after every probe; a run resumed with `--resume` replays its probes up
to the checkpoint's step, so the best gold, the streak of diverging probes and the first probe's
length survive a killed process (`RUN/best/llmgym_guard.json` names the step `best/` holds).
Every threshold, the probe size and the mode (`stop`; `watch`: record where it would have
stopped but never stop; `off`) come from `GuardConfig`, which reads the spec string that
`llmgym train --guard` and the `guard:` YAML key take, e.g. `stop:patience=3,min_gold_drop=0.05`.
The decision logic (`GuardState`) is pure and testable on a synthetic stream of figures:

>>> g = GuardState(GuardConfig(patience=2))
>>> [g.update(s, {"proxy": p, "gold": q}).stop for s, p, q in
...  [(10, .2, .3), (20, .4, .5), (30, .6, .4), (40, .7, .3)]]
[False, False, False, True]
>>> g.best_step, g.reason.split(":")[0]
(20, 'proxy_up_gold_down')
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from llmgym.errors import LLMGymError
from llmgym.io import atomic_write_text, read_json, save_model_dir
from llmgym.options import read_mode_spec

from .probe import make_probe


MODES = ("stop", "watch", "off")
BEST_MARKER = "llmgym_guard.json"  # in RUN/best/: the step, gold and proxy of the probe that saved it


@dataclass
class GuardConfig:
    """What the guard probes and the thresholds it stops on (None disables a rule).

    `mode` is `stop` (probe, keep the best policy, stop training when a rule fires), `watch` (probe
    and keep the best, record where it would have stopped, never stop: the whole curve stays
    visible) or `off` (no probes). Every field can be set from a spec string, the form `llmgym train
    --guard` and its YAML key take (see `from_spec`).
    """

    mode: str = "stop"
    eval_every: int = 10
    probe_tasks: int = 16
    samples: int = 2
    temperature: float = 0.7
    patience: int = 2
    min_gold_drop: float = 0.02
    min_proxy_rise: float = 0.0
    max_repetition: float | None = 0.5
    min_distinct_2: float | None = 0.3
    max_near_identical: float | None = 0.8
    max_length_drift: float | None = 3.0
    max_longest_run: float | None = 3.0
    max_kl: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LLMGymError(f"guard mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for f in fields(self):
            if f.name == "mode":
                continue
            value = getattr(self, f.name)
            if f.type.startswith("int"):
                low = 0 if f.name == "eval_every" else 1
                if not isinstance(value, int) or isinstance(value, bool) or value < low:
                    raise LLMGymError(f"guard {f.name} must be an integer >= {low}, got {value!r}")
                continue
            if value is None and "None" in f.type:
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                raise LLMGymError(f"guard {f.name} must be a number{' or none' if 'None' in f.type else ''}, "
                                  f"got {value!r}")
            if f.name != "min_proxy_rise" and value < 0:
                raise LLMGymError(f"guard {f.name} must be >= 0, got {value!r}")
            setattr(self, f.name, float(value))
        if self.max_length_drift is not None and self.max_length_drift < 1:
            raise LLMGymError(f"guard max_length_drift must be >= 1 (a ratio), got {self.max_length_drift:g}")

    @classmethod
    def from_spec(cls, spec: "GuardConfig | str | Mapping[str, Any] | None") -> "GuardConfig":
        """A config from `MODE[:KEY=VALUE,...]` (or just `KEY=VALUE,...`, mode `stop`), a mapping, or None.

        `none` (or `off`) as a value disables that rule; an unknown key is one clear error.

        >>> c = GuardConfig.from_spec("watch:patience=3,min_gold_drop=0.05,max_kl=80,max_longest_run=none")
        >>> c.mode, c.patience, c.min_gold_drop, c.max_kl, c.max_longest_run
        ('watch', 3, 0.05, 80.0, None)
        >>> GuardConfig.from_spec("patience=4").to_spec()
        'stop:patience=4'
        >>> GuardConfig.from_spec("patiense=4")
        Traceback (most recent call last):
        ...
        llmgym.errors.LLMGymError: unknown guard option 'patiense' (did you mean: patience?)
        """
        if isinstance(spec, cls):
            return spec
        options = read_mode_spec("guard", spec, cls, when_true=None, when_false="off", bare_mode="stop",
                                 none_words=("none", "off", "null"))  # none disables a rule
        if options is None:
            raise LLMGymError(f"guard must be a spec string like 'stop:patience=3', got {spec!r}")
        return cls(**options)

    def to_spec(self) -> str:
        """The shortest spec that `from_spec` reads back into this config."""
        default = GuardConfig()
        items = [f"{f.name}={'none' if getattr(self, f.name) is None else _fmt(getattr(self, f.name))}"
                 for f in fields(self) if f.name != "mode" and getattr(self, f.name) != getattr(default, f.name)]
        return self.mode + (":" + ",".join(items) if items else "")


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class Decision:
    stop: bool = False
    reason: str | None = None
    best: bool = False


@dataclass
class GuardState:
    """The guard's memory across probes; `update` decides after each one."""

    config: GuardConfig = field(default_factory=GuardConfig)
    best_step: int | None = None
    best_gold: float | None = None
    proxy_at_best: float | None = None
    diverging: int = 0
    first_length: float | None = None
    reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def degeneracy_reason(self, figures: Mapping[str, Any]) -> str | None:
        c = self.config
        d = figures.get("degeneracy") or {}
        checks = [("repetition", c.max_repetition, ">"), ("distinct_2", c.min_distinct_2, "<"),
                  ("near_identical", c.max_near_identical, ">"), ("longest_run", c.max_longest_run, ">")]
        for key, limit, op in checks:
            v = d.get(key)
            if limit is None or v is None:
                continue
            if (op == ">" and v > limit) or (op == "<" and v < limit):
                return f"degeneracy: {key} {v:.3g} {op} {limit:g}"
        drift = d.get("length_drift")
        if c.max_length_drift is not None and drift is not None and drift > 0 and (
                drift > c.max_length_drift or drift < 1 / c.max_length_drift):
            return f"degeneracy: length_drift {drift:.3g} outside [1/{c.max_length_drift:g}, {c.max_length_drift:g}]"
        return None

    def update(self, step: int, figures: Mapping[str, Any]) -> Decision:
        """Feed one probe: `{"proxy": float, "gold": float|None, "kl": float|None, "degeneracy": {...}}`."""
        c = self.config
        proxy, gold, kl = figures.get("proxy"), figures.get("gold"), figures.get("kl")
        self.history.append({"step": step, **{k: v for k, v in figures.items() if k != "degeneracy"}})
        decision = Decision()
        degenerate = self.degeneracy_reason(figures)
        if gold is not None:
            if self.best_gold is None or gold > self.best_gold:
                self.best_step, self.best_gold, self.proxy_at_best = step, float(gold), proxy
                self.diverging = 0
                decision.best = degenerate is None
            elif (proxy is not None and self.proxy_at_best is not None
                  and proxy >= self.proxy_at_best + c.min_proxy_rise and gold <= self.best_gold - c.min_gold_drop):
                self.diverging += 1
            else:
                self.diverging = 0
            if self.diverging >= c.patience:
                decision.stop = True
                decision.reason = (f"proxy_up_gold_down: proxy {self.proxy_at_best:.3f} -> {proxy:.3f} while gold "
                                   f"{self.best_gold:.3f} -> {gold:.3f} for {self.diverging} probes "
                                   f"(best gold at step {self.best_step})")
        elif degenerate is None:
            self.best_step, self.proxy_at_best = step, proxy
            decision.best = True
        if not decision.stop and degenerate is not None:
            decision.stop, decision.reason = True, degenerate
        if not decision.stop and c.max_kl is not None and kl is not None and kl > c.max_kl:
            decision.stop, decision.reason = True, f"kl_budget: kl {kl:.3g} > {c.max_kl:g}"
        if decision.stop:
            self.reason = decision.reason
        return decision


def save_model_atomic(model: Any, tokenizer: Any, dest: Path) -> None:
    """Save into `dest` through a temp folder and a rename, so `dest` is never half written (a name of
    this module, so a test of the guard's decisions can skip the save)."""
    save_model_dir(dest, model, tokenizer)


def make_guard(run_dir: str | os.PathLike, probe: Callable[[Any], Mapping[str, Any]], *,
               config: GuardConfig | None = None, tokenizer: Any = None, is_main: bool = True) -> Any:
    """The guard as a transformers `TrainerCallback`.

    `probe(model)` returns `{"proxy", "gold" (or None), "kl" (or None), "degeneracy": {...}}`
    (`make_probe` builds one). Rows go to `run_dir/metrics.jsonl`, the best policy to
    `run_dir/best/`, the verdict to `run_dir/guard.json`. In `watch` mode the first stop decision
    is recorded (`would_stop_step`, `would_stop_reason`) and training goes on; `off` does nothing.
    """
    from transformers import TrainerCallback

    cfg = GuardConfig.from_spec(config)
    run = Path(run_dir)

    class OverOptimisationGuard(TrainerCallback):
        def __init__(self) -> None:
            self.state = GuardState(cfg)
            self.stopped_at: int | None = None
            self.would_stop: tuple[int, str | None] | None = None

        def _log(self, row: dict[str, Any]) -> None:
            from llmgym.train.rundir import RunDir  # its rows also go to the run's trackers (--report-to)

            run.mkdir(parents=True, exist_ok=True)
            RunDir(run).log_metrics(row)

        def probe_now(self, step: int, model: Any) -> Decision:
            figures = dict(probe(model))
            deg = dict(figures.get("degeneracy") or {})
            if self.state.first_length is None and deg.get("length"):
                self.state.first_length = float(deg["length"])
            if self.state.first_length:
                deg["length_drift"] = float(deg.get("length", 0.0)) / self.state.first_length
            figures["degeneracy"] = deg
            decision = self.state.update(step, figures)
            row: dict[str, Any] = {"step": step, "rlhf/proxy_reward": figures.get("proxy")}
            if figures.get("gold") is not None:
                row["rlhf/gold_score"] = figures["gold"]
            if figures.get("kl") is not None:
                row["rlhf/kl"] = figures["kl"]
                if not figures.get("kl_logged_by_trainer"):
                    row["kl"] = figures["kl"]
            row.update({f"degeneracy/{k}": v for k, v in deg.items()})
            if is_main:
                self._log(row)
                if decision.best:
                    save_model_atomic(model, tokenizer, run / "best")
                    atomic_write_text(run / "best" / BEST_MARKER, json.dumps(
                        {"step": step, "gold": figures.get("gold"), "proxy": figures.get("proxy")}) + "\n")
                self._write(stopped=False, step=step)  # every probe, so a killed run leaves its memory
            return decision

        def _write(self, *, stopped: bool, step: int) -> None:
            s = self.state
            data = {"mode": cfg.mode, "stopped": stopped, "reason": s.reason if stopped else None, "step": step,
                    "best_step": s.best_step, "best_gold": s.best_gold,
                    "best_checkpoint": str(run / "best") if s.best_step is not None else None,
                    "would_stop_step": self.would_stop[0] if self.would_stop else None,
                    "would_stop_reason": self.would_stop[1] if self.would_stop else None,
                    "first_length": s.first_length, "config": asdict(cfg), "history": s.history}
            atomic_write_text(run / "guard.json", json.dumps(data, indent=2) + "\n")

        def resume(self, step: int) -> None:
            """Take up the guard's memory as it stood at `step` (a resumed run's checkpoint): the probes
            of `guard.json` up to that step are replayed; later ones belong to steps the run redoes. A
            `best/` saved after `step` stays (its gold was measured) and the state points at it."""
            try:
                saved = read_json(run / "guard.json")
            except (OSError, ValueError):
                return
            self.state = GuardState(cfg, first_length=saved.get("first_length"))
            for row in saved.get("history", []):
                if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                    self.state.update(row["step"], {k: v for k, v in row.items() if k != "step"})
            self.state.reason = None
            if saved.get("would_stop_step") is not None and saved["would_stop_step"] <= step:
                self.would_stop = (saved["would_stop_step"], saved.get("would_stop_reason"))
            try:
                best = read_json(run / "best" / BEST_MARKER)
            except (OSError, ValueError):
                return
            if isinstance(best.get("step"), int) and best["step"] > step:
                s = self.state
                s.best_step, s.best_gold, s.proxy_at_best, s.diverging = (
                    best["step"], best.get("gold"), best.get("proxy"), 0)

        def on_train_begin(self, args, state, control, model=None, **kw):
            if cfg.mode == "off":
                return
            if state.global_step > 0 and not self.state.history:
                self.resume(state.global_step)
            elif state.global_step == 0 and not self.state.history:
                self.probe_now(0, model)

        def on_step_end(self, args, state, control, model=None, **kw):
            step = state.global_step
            if cfg.mode != "off" and cfg.eval_every and step % cfg.eval_every == 0:
                decision = self.probe_now(step, model)
                if decision.stop and cfg.mode == "stop":
                    control.should_training_stop = True
                    self.stopped_at = step
                    if is_main:
                        self._log({"step": step, "guard/stop_reason": decision.reason,
                                   "guard/best_step": self.state.best_step})
                        self._write(stopped=True, step=step)
                elif decision.stop and self.would_stop is None:
                    self.would_stop = (step, decision.reason)
                    if is_main:
                        self._log({"step": step, "guard/would_stop_reason": decision.reason,
                                   "guard/best_step": self.state.best_step})
                        self._write(stopped=False, step=step)
            return control

        def on_train_end(self, args, state, control, **kw):
            if is_main and cfg.mode != "off" and self.stopped_at is None:
                self._write(stopped=False, step=state.global_step)

    return OverOptimisationGuard()


def guard_for_env(env: Any, run_dir: str | os.PathLike, policy: Any, *,
                  config: GuardConfig | str | Mapping[str, Any] | None = None, max_tokens: int = 48,
                  kl_logged_by_trainer: bool = False, seed: int = 0, is_main: bool = True) -> Any:
    """The guard for a run on `env`: the proxy is the rubric's weighted rewards, gold its entry
    with role `oracle` when present (the `rlhf` env keeps one at weight 0 beside a learned reward), the probe
    set `config.probe_tasks` eval-split tasks sampled `config.samples` times each (at
    `config.temperature`), the KL
    reference a frozen copy of `policy.model` as it is now (`policy`: the `TrainablePolicy` being
    trained). `config` is a `GuardConfig` or its spec
    (`"stop:patience=3,max_kl=80"`, what `llmgym train --guard` takes); `off` gives a callback
    that does nothing.

    This is the one call a trainer needs: `callbacks.append(guard_for_env(env, run, policy))`.
    """
    import copy

    from llmgym.rubric import ORACLE, Rubric

    model, tokenizer = policy.model, policy.tokenizer
    config = GuardConfig.from_spec(config)
    if config.mode == "off":
        return make_guard(run_dir, lambda m: {}, config=config, tokenizer=tokenizer, is_main=is_main)
    weighted = [(r, w) for r, w in env.rubric.entries if w]
    oracle = env.rubric.entry_with_role(ORACLE)
    gold = oracle[0] if oracle else None
    proxy = Rubric(weighted) if weighted else env.rubric
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    tasks = list(env.tasks("eval", n=config.probe_tasks, seed=seed))
    probe = make_probe(tasks, env.system_prompt, proxy, gold, policy=policy, ref_model=ref, n=config.samples,
                       max_tokens=max_tokens, temperature=config.temperature, seed=seed)

    def probe_noting_kl_source(m: Any) -> dict[str, Any]:
        out = probe(m)
        out["kl_logged_by_trainer"] = kl_logged_by_trainer
        return out

    # Every rank probes (same weights, same seed, same decision) so all stop together; only the
    # main process writes.
    return make_guard(run_dir, probe_noting_kl_source, config=config, tokenizer=tokenizer, is_main=is_main)
