"""`llmgym report RUN_DIR`: the report of a training run, from what `llmgym train` left behind.

It reads `metrics.jsonl` (TRL's per-step rows: `reward`, `rewards/<name>/mean`,
`completions/mean_length`, `kl` when beta > 0; and held-out rows: `eval/accuracy`, `eval/reward`,
`eval/length`), `summary.json` (before/after figures), `config.yaml` and `samples.jsonl`, and writes
`RUN_DIR/report.html` and `RUN_DIR/report.md` with the curves of the DeepSeek-R1 paper: training
reward, held-out accuracy and response length against step, KL when logged, and proxy reward
against gold score when a run logs a `gold` figure (RLHF with a learned reward model).

A run on a mixture of envs (config.yaml's `env` a list) also logs, per env, `env/<label>/reward` and
`env/<label>/frac_reward_zero_std` on training rows and `eval/<label>/accuracy`, ... on held-out
rows; its report adds a table of them per env next to the overall figures, and a curve per env.

A run with `--curriculum adaptive` logs `curriculum/<arm>/share`, `.../target` and `.../success` per
step, and one with `--dynamic-sampling` `dynamic/...`: the report adds the level mix per step and
what dynamic sampling kept (figures in `llmgym.report.run_figures`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from llmgym.errors import LLMGymError
from llmgym.io import parse_json

from .render import atomic_write_text, html_page, html_table, md_table, num, pct, png_img
from .run_figures import (GOLD_PROBE_KEY, PROXY_KEY, Series, arm_names, curves_figure, gold_keys,  # noqa: F401
                          moving_average, proxy_gold_figure, proxy_key, sampling_figure, series)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a jsonl file; a torn or foreign line is skipped, a row the report would misread
    (see `check_row`) is one `LLMGymError` naming file and line."""
    if not path.is_file():
        return []
    rows = []
    for n, line in enumerate(path.read_bytes().splitlines(), 1):
        try:
            row = parse_json(line, f"{path}:{n}")
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(check_row(row, f"{path}:{n}"))
    return rows


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Figures the tables format as numbers (the curves and probe rows skip any value that is not one).
_TABLE_FIGURES = ("reward", "kl", "completions/mean_length")


def check_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """A metrics or samples row as the report reads it: `step` is a number; the figures of its tables
    (`reward`, `kl`, `completions/mean_length`, every `eval/...` and a mixture's `env/...`) are numbers
    or null; `components` maps names to numbers."""
    if "step" in row and not _is_number(row["step"]):
        raise LLMGymError(f"{where}: step must be a number, got {json.dumps(row['step'])[:60]}; "
                          "not a row llmgym train wrote")
    for key, value in row.items():
        if (key in _TABLE_FIGURES or key.startswith(("eval/", "env/", "curriculum/", "dynamic/"))) and value is not None \
                and not _is_number(value):
            raise LLMGymError(f"{where}: {key} must be a number, got {json.dumps(value)[:60]}; "
                              "not a row llmgym train wrote")
    comps = row.get("components")
    if comps is not None and not (isinstance(comps, dict) and all(map(_is_number, comps.values()))):
        raise LLMGymError(f"{where}: components must map names to numbers, got {json.dumps(comps)[:60]}")
    return row


def _read_summary(path: Path) -> dict[str, Any]:
    """summary.json: not JSON (a kill mid-write) reads as none; an object of the wrong shape is refused."""
    try:
        data = parse_json(path.read_bytes(), str(path))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        raise LLMGymError(f"{path} must hold a JSON object, got {type(data).__name__}")
    for key in ("before", "after"):
        figures = data.get(key)
        if figures is not None and not (isinstance(figures, dict) and all(
                v is None or _is_number(v) for v in figures.values())):
            raise LLMGymError(f"{path}: {key} must map held-out figures to numbers, got {json.dumps(figures)[:60]}")
    return data


def _read_config(path: Path) -> dict[str, Any]:
    """config.yaml: not YAML reads as none, as before; anything but a mapping is refused."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except (yaml.YAMLError, ValueError):
        return {}
    except RecursionError:  # PyYAML composes nested collections recursively
        raise LLMGymError(f"{path} nests too deep to be a run's config") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise LLMGymError(f"{path} must hold a mapping of options, got {type(loaded).__name__}")
    return loaded or {}


class RunData:
    """What a run directory holds, read once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise LLMGymError(f"{self.path} is not a directory")
        self.rows = read_jsonl(self.path / "metrics.jsonl")
        if not self.rows:
            raise LLMGymError(f"{self.path} is not a training run (no metrics.jsonl rows); "
                              "for a bench directory the report is rendered from results.jsonl")
        self.samples = read_jsonl(self.path / "samples.jsonl")
        self.summary: dict[str, Any] = {}
        if (self.path / "summary.json").is_file():
            self.summary = _read_summary(self.path / "summary.json")
        self.config: dict[str, Any] = {}
        if (self.path / "config.yaml").is_file():
            self.config = _read_config(self.path / "config.yaml")
        self.train = [r for r in self.rows if not any(k.startswith("eval/") for k in r)]
        self.evals = [r for r in self.rows if "eval/accuracy" in r]

    def before_after(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Held-out figures before and after training: summary.json, else the first and last eval rows."""
        before, after = self.summary.get("before"), self.summary.get("after")
        evals = [{k.split("/", 1)[1]: v for k, v in r.items() if k.startswith("eval/")}
                 for r in sorted(self.evals, key=lambda r: r.get("step", 0))]
        if not before and evals:
            before = evals[0]
        if not after and len(evals) > 1:
            after = evals[-1]
        return dict(before or {}), dict(after or {})

    def env_labels(self) -> list[str]:
        """The envs of a mixture run, in config.yaml's order (else as the held-out rows name them);
        empty for a run on one env."""
        from llmgym.mixture import parse_env_specs

        envs = self.config.get("env")
        if isinstance(envs, list) and len(envs) > 1 and all(isinstance(e, str) for e in envs):
            try:
                return [spec.label for spec in parse_env_specs(envs)]
            except LLMGymError:
                pass  # a hand-edited config: the rows still name their envs
        found = [k[len("eval/"):-len("/accuracy")] for r in self.evals for k in r
                 if k.startswith("eval/") and k.endswith("/accuracy") and k != "eval/accuracy"]
        return list(dict.fromkeys(found))

    def env_fractions(self) -> dict[str, float]:
        """Each env's share of the training prompts, from summary.json (else config.yaml's weights)."""
        shares = self.summary.get("mixture")
        if isinstance(shares, list):
            return {str(s.get("env")): s["fraction"] for s in shares if isinstance(s, dict) and _is_number(s.get("fraction"))}
        from llmgym.mixture import parse_env_specs

        envs = self.config.get("env")
        try:
            specs = parse_env_specs(envs) if isinstance(envs, list) else []
        except LLMGymError:
            return {}
        total = sum(spec.share_weight for spec in specs)
        return {spec.label: spec.share_weight / total for spec in specs}

    def title(self) -> str:
        c = {**self.config, **{k: v for k, v in self.summary.items() if k in ("env", "policy", "algo", "steps")}}
        bits = [f"{c[k]}" for k in ("algo",) if c.get(k)]
        if isinstance(c.get("env"), list):
            bits.append("on " + " + ".join(map(str, c["env"])))
        elif c.get("env"):
            bits.append(f"on {c['env']}")
        if c.get("policy"):
            bits.append(f"with {c['policy']}")
        return " ".join(bits) or self.path.name


# -- tables ------------------------------------------------------------------------------------
def before_after_rows(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[list[str]]:
    """The before/after table: accuracy, its 95% interval, format, reward, length, and the eval tasks
    (`eval/n` counts answers: n / samples tasks).

    >>> b = {"accuracy": 0.47, "accuracy_lo": 0.397, "accuracy_hi": 0.545, "n": 336, "samples": 8}
    >>> rows = before_after_rows(b, {**b, "accuracy": 0.714, "accuracy_lo": 0.632, "accuracy_hi": 0.784})
    >>> rows[0][1:], rows[1][1:3], rows[-2][1:3]
    (['47.0%', '71.4%', '+24.4 pts'], ['[39.7%, 54.5%]', '[63.2%, 78.4%]'], ['42', '42'])
    """
    rows = []
    for key, label, fmt in (("accuracy", "held-out accuracy", pct), ("accuracy_interval", "  95% interval", None),
                            ("format", "format (answers in the prompt's format)", pct),
                            ("reward", "mean reward", num), ("length", "mean length (tokens)", lambda x: num(x, 4))):
        if key == "accuracy_interval":
            if "accuracy_lo" in before or "accuracy_lo" in after:
                rows.append([label, *(f"[{pct(f['accuracy_lo'])}, {pct(f['accuracy_hi'])}]" if "accuracy_lo" in f
                                      else "—" for f in (before, after)), ""])
            continue
        if key == "format" and key not in before and key not in after:
            continue
        b, a = before.get(key), after.get(key)
        delta = "—" if b is None or a is None else (f"{100 * (a - b):+.1f} pts" if key in ("accuracy", "format")
                                                    else f"{a - b:+.3g}")
        rows.append([label, fmt(b), fmt(a), delta])
    if before.get("n") or after.get("n"):
        # eval/n counts answers; with several sampled answers per task (eval/samples) the tasks are n / samples.
        def tasks(f: Mapping[str, Any]) -> str:
            return "—" if "n" not in f else str(int(f["n"] // max(1, int(f.get("samples") or 1))))
        rows.append(["eval tasks", tasks(before), tasks(after), ""])
        if max(int(before.get("samples") or 1), int(after.get("samples") or 1)) > 1:
            rows.append(["sampled answers per task", str(before.get("samples", "—")), str(after.get("samples", "—")), ""])
    return rows


def sampling_words(config: Mapping[str, Any]) -> str:
    """How the held-out answers were drawn, from the run's config.

    >>> sampling_words({"eval_samples": 8, "eval_temperature": 0.7}), sampling_words({"eval_temperature": 0.0})
    ('8 sampled answers per task at temperature 0.7', 'greedy')
    """
    temperature, samples = config.get("eval_temperature"), config.get("eval_samples")
    if temperature is None and samples is None:
        return "greedy"  # a run directory from before sampled evaluation
    if not temperature:
        return "greedy"
    return f"{samples or 1} sampled answer{'s' if (samples or 1) > 1 else ''} per task at temperature {temperature:g}"


def _mean(points: Series) -> float | None:
    return sum(v for _, v in points) / len(points) if points else None


MIXTURE_HEADERS = ["env", "share of prompts", "held-out accuracy before", "after", "change",
                   "train reward (mean over steps)", "zero-variance groups (mean over steps)"]


def mixture_rows(data: RunData, before: Mapping[str, Any], after: Mapping[str, Any]) -> list[list[str]]:
    """Per env of a mixture run, and overall first: held-out accuracy before and after, the mean
    training reward, and the mean fraction of groups whose completions all scored alike (no signal)."""
    fractions = data.env_fractions()

    def row(name: str, prefix: str, train_prefix: str, share: float | None) -> list[str]:
        b, a = before.get(f"{prefix}accuracy"), after.get(f"{prefix}accuracy")
        change = "—" if not (_is_number(b) and _is_number(a)) else f"{100 * (a - b):+.1f} pts"
        return [name, pct(share), pct(b), pct(a), change, num(_mean(series(data.train, f"{train_prefix}reward"))),
                pct(_mean(series(data.train, f"{train_prefix}frac_reward_zero_std")))]

    rows = [row("all envs", "", "", 1.0)]
    rows += [row(label, f"{label}/", f"env/{label}/", fractions.get(label)) for label in data.env_labels()]
    return rows


SAMPLING_HEADERS = ["arm", "share of prompts (first half of steps)", "share (second half)", "success rate at the end"]


def sampling_rows(data: RunData) -> list[list[str]]:
    """Per curriculum arm: its mean share of the prompts over the first and the second half of the
    steps (how the level mix moved) and its tracked success rate at the last step."""
    rows = []
    for arm in arm_names(data.train):
        share = series(data.train, f"curriculum/{arm}/share")
        half = len(share) // 2
        success = series(data.train, f"curriculum/{arm}/success")
        rows.append([arm, pct(_mean(share[:half] or share)), pct(_mean(share[half:])),
                     pct(success[-1][1] if success else None)])
    return rows


def dynamic_summary(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """One line on what `--dynamic-sampling` kept, summed over the steps; None for a run without.

    >>> dynamic_summary([{"step": 1, "dynamic/dropped_groups": 1, "dynamic/kept_fraction": 0.5,
    ...                   "dynamic/extra_rounds": 0, "dynamic/backward_saved": 0.5},
    ...                  {"step": 2, "dynamic/dropped_groups": 0, "dynamic/kept_fraction": 1.0,
    ...                   "dynamic/extra_rounds": 1, "dynamic/backward_saved": 0.0}])
    'dynamic sampling: 1 groups dropped in 2 steps, 75.0% of the groups of a step trained on, 1 extra generation rounds, 25.0% of the backward pass saved'
    """
    kept = series(rows, "dynamic/kept_fraction")
    if not kept:
        return None
    dropped = sum(v for _, v in series(rows, "dynamic/dropped_groups"))
    extra = sum(v for _, v in series(rows, "dynamic/extra_rounds"))
    return (f"dynamic sampling: {dropped:g} groups dropped in {len(kept)} steps, {pct(_mean(kept))} of the groups "
            f"of a step trained on, {extra:g} extra generation rounds, "
            f"{pct(_mean(series(rows, 'dynamic/backward_saved')))} of the backward pass saved")


def curve_rows(data: RunData) -> list[list[str]]:
    """One row per held-out evaluation: step, accuracy, and the training figures logged at that step
    (and, for a mixture, each env's held-out accuracy)."""
    train: dict[int, dict[str, Any]] = {}
    for r in data.train:  # TRL's row and an RLHF probe's row may share a step: merge them
        if isinstance(r.get("step"), (int, float)):
            train.setdefault(int(r["step"]), {}).update(r)
    rows = []
    for r in sorted(data.evals, key=lambda r: r.get("step", 0)):
        step = int(r.get("step", 0))
        t = train.get(step, {})
        rows.append([str(step), pct(r.get("eval/accuracy")), num(r.get("eval/reward")), num(r.get("eval/length"), 4),
                     num(t.get("reward")), num(t.get("completions/mean_length"), 4), num(t.get("kl"))]
                    + [pct(r.get(f"eval/{label}/accuracy")) for label in data.env_labels()])
    return rows


CURVE_HEADERS = ["step", "held-out accuracy", "held-out reward", "held-out length", "train reward",
                 "train length", "KL"]


def curve_headers(data: RunData) -> list[str]:
    return CURVE_HEADERS + [f"held-out accuracy {label}" for label in data.env_labels()]


PROBE_HEADERS = ["step", "proxy", "gold", "KL (nats/sample)", "words", "distinct-2"]


def probe_rows(data: RunData) -> list[list[str]]:
    """One row per guard probe (`rlhf/proxy_reward` rows of metrics.jsonl)."""
    def fmt(v: Any, spec: str) -> str:
        return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"

    return [[fmt(r.get("step"), "g"), fmt(r.get(PROXY_KEY), ".3f"), fmt(r.get(GOLD_PROBE_KEY), ".3f"),
             fmt(r.get("rlhf/kl"), ".2f"), fmt(r.get("degeneracy/length"), ".1f"),
             fmt(r.get("degeneracy/distinct_2"), ".3f")]
            for r in data.rows if PROXY_KEY in r]


# -- samples -----------------------------------------------------------------------------------
def sample_blocks(data: RunData, per_step: int = 3) -> list[tuple[int, list[dict[str, Any]]]]:
    """A few logged completions from the first and the last step that has samples."""
    steps = sorted({int(r["step"]) for r in data.samples if isinstance(r.get("step"), (int, float))})
    chosen = steps[:1] + steps[-1:] if len(steps) > 1 else steps
    return [(s, [r for r in data.samples if r.get("step") == s][:per_step]) for s in chosen]


def _sample_html(r: Mapping[str, Any]) -> str:
    comps = ", ".join(f"{k} {num(v)}" for k, v in (r.get("components") or {}).items())
    preview = " ".join(str(r.get("completion")).split())
    preview = preview if len(preview) <= 60 else preview[:59] + "…"
    env = f"env {html.escape(str(r['env']))} · " if r.get("env") is not None else ""
    return (f"<details><summary>{env}reward {num(r.get('reward'))} · {html.escape(comps)} · task "
            f"{html.escape(str(r.get('task_id')))} · <code>{html.escape(preview)}</code></summary><p><b>Prompt</b></p><pre>{html.escape(str(r.get('prompt')))}"
            f"</pre><p><b>Completion</b></p><pre>{html.escape(str(r.get('completion')))}</pre><p class=\"muted\">"
            f"expected {html.escape(json.dumps(r.get('answer'), ensure_ascii=False)[:300])}</p></details>")


def config_rows(config: Mapping[str, Any]) -> list[list[str]]:
    return [[k, v if isinstance(v, str) else json.dumps(v)] for k, v in config.items()]


# -- rendering ---------------------------------------------------------------------------------
def guard_verdict(path: Path) -> str | None:
    """One line from RUN/guard.json (written by `llmgym.rlhf.guard`): why the run stopped, the best step."""
    try:
        v = parse_json((path / "guard.json").read_bytes(), str(path / "guard.json"))
    except (OSError, ValueError):
        return None
    if not isinstance(v, dict):
        return None
    if v.get("stopped"):
        head = f"stopped at step {v.get('step')}: {v.get('reason')}"
    elif v.get("would_stop_step") is not None:
        head = (f"watching only (mode {v.get('mode')}), ran to the end; would have stopped at step "
                f"{v.get('would_stop_step')}: {v.get('would_stop_reason')}")
    else:
        head = "ran to the end (no stop)"
    return f"{head}; best checkpoint: step {v.get('best_step')} ({v.get('best_checkpoint')})"


def render_run(path: str | Path) -> dict[str, Path]:
    """Write RUN_DIR/report.html and RUN_DIR/report.md; returns their paths."""
    data = RunData(path)
    before, after = data.before_after()
    title = f"llmgym run: {data.title()}"
    steps = max((int(r.get("step", 0)) for r in data.rows), default=0)
    wall = data.summary.get("wall_seconds")
    facts = f"{steps} steps" + (f" in {wall:.0f} s" if isinstance(wall, (int, float)) else "") + f"; run directory {data.path}"
    ba_headers = ["held-out", "before", "after", "change"]
    ba = before_after_rows(before, after)

    no_eval = "No held-out evaluation in this run (eval_every = 0)."
    ba_md = md_table(ba_headers, ba) if before or after else no_eval
    drawn = sampling_words(data.config)
    md = [f"# {title}", "", facts, "", f"## Before and after (held-out eval split, {drawn})", "", ba_md, ""]
    per_env = mixture_rows(data, before, after) if data.env_labels() else []
    if per_env:
        md += ["## Per env of the mixture", "", md_table(MIXTURE_HEADERS, per_env), ""]
    verdict = guard_verdict(data.path)
    if verdict:
        md += ["## Over-optimisation guard", "", verdict, ""]
    probes = probe_rows(data)
    if probes:
        md += ["## Guard probes (held-out prompts, sampled)", "", md_table(PROBE_HEADERS, probes), ""]
    arms, dynamic = sampling_rows(data), dynamic_summary(data.train)
    if arms or dynamic:
        md += ["## Curriculum and dynamic sampling", ""]
        md += [md_table(SAMPLING_HEADERS, arms), ""] if arms else []
        md += [dynamic, ""] if dynamic else []
    rows = curve_rows(data)
    if rows:
        md += ["## Held-out evaluations", "", md_table(curve_headers(data), rows), ""]
    if data.config:
        md += ["## Configuration", "", md_table(["option", "value"], config_rows(data.config)), ""]

    parts = [f"<h1>{html.escape(title)}</h1>", f"<p class=\"muted\">{html.escape(facts)}</p>",
             f"<h2>Before and after</h2><p class=\"muted\">Held-out eval split, {html.escape(drawn)}.</p>",
             html_table(ba_headers, ba) if before or after else f"<p>{html.escape(no_eval)}</p>",
             *(["<h2>Per env of the mixture</h2><p class=\"muted\">Each row is scored by its own env's rubric; "
                "zero-variance groups give GRPO no signal.</p>", html_table(MIXTURE_HEADERS, per_env)]
               if per_env else []),
             "<h2>Curves</h2>",
             png_img(curves_figure(data), "training reward, held-out accuracy, response length and KL against step")]
    if verdict:
        parts[2:2] = [f"<h2>Over-optimisation guard</h2><p>{html.escape(verdict)}</p>"]
    mix = sampling_figure(data)
    if mix is not None:
        parts += ["<h2>Curriculum and dynamic sampling</h2>",
                  *([html_table(SAMPLING_HEADERS, arms)] if arms else []),
                  *([f"<p>{html.escape(dynamic)}</p>"] if dynamic else []),
                  png_img(mix, "level mix per step, success rate per arm and what dynamic sampling kept")]
    pg = proxy_gold_figure(data)
    if pg is not None:
        parts += ["<h2>Proxy reward against gold score</h2>", png_img(pg, "gold score against proxy reward")]
    if probes:
        parts += ["<h2>Guard probes</h2><p class=\"muted\">Held-out prompts, sampled at the guard's temperature.</p>",
                  html_table(PROBE_HEADERS, probes)]
    if rows:
        parts += ["<h2>Held-out evaluations</h2>", html_table(curve_headers(data), rows)]
    blocks = sample_blocks(data)
    if blocks:
        parts.append("<h2>Sampled completions</h2>")
        for step, samples in blocks:
            parts.append(f"<h3>step {step}</h3>")
            parts.extend(_sample_html(r) for r in samples)
    if data.config:
        parts += ["<h2>Configuration</h2>", html_table(["option", "value"], config_rows(data.config))]

    out = {"html": data.path / "report.html", "markdown": data.path / "report.md"}
    atomic_write_text(out["markdown"], "\n".join(md))
    atomic_write_text(out["html"], html_page(title, "\n".join(parts)))
    return out
