"""Renderers of a bench: `summary.json`, `report.md` and `report.html`.

`summary.json` (schema "llmgym.bench.summary", `schema_version` 1; documented in docs/reports.md)::

    {"schema": "llmgym.bench.summary", "schema_version": 1, "created": "2026-01-01T00:00:00Z",
     "llmgym_version": "0.1.0", "settings": {"params": {...SamplingParams}, "seed": 0},
     "envs": ["math", ...], "policies": ["smollm2", ...],
     "env_versions": [{"env": "math", "level": 1, "version": "1"}, ...],
     "results": [{"env", "policy", "tasks", "episodes", "samples_per_task",
                  "accuracy": {"value", "low", "high"}, "pass_at_k": {"1": .., "4": ..},
                  "maj_at_k": {"2": .., "4": ..}, "reward": {"mean", "components": {name: mean}},
                  "format_failure_rate", "length": {"mean", "median"}, "tool_calls": {"mean"} | null,
                  "tokens_per_s", "wall_seconds",
                  "by_level": {"1": {same fields, no by_*}}, "by_family": {"word": {...}}}]}

A reader should check `schema` and `schema_version`; fields are only ever added within a version.

The three files are one set. `render_bench` renders all of them in memory, writes report.md and
report.html (each atomically), and writes summary.json last, naming the report files of its set
with their digests: `"report_files": {"report.md": "sha256:...", "report.html": "sha256:..."}`. A
kill between the writes therefore leaves either the old summary.json, whose digests then do not match
the new report files, or a summary.json that matches both; `stale_report_files(out)` lists the
files that do not belong to the summary beside them, and rerunning `llmgym report OUT` writes a
whole set again. Renaming three files in as one would need a folder swap (a symlink or a new
layout); digests keep the layout and still tell a torn set apart. Temp files of killed writes in
OUT are removed when it is rendered again.
`report.html` is one self-contained file: CSS inline, plots as inline PNG (matplotlib, Agg), no
script and no external resource, so it opens from disk anywhere and can be attached to a PR.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from llmgym.io import atomic_write_text, clean_leftovers

from .metrics import summarize

SCHEMA = "llmgym.bench.summary"
SCHEMA_VERSION = 1
SAMPLES_PER_GROUP = 4  # sample episodes shown per env x policy in report.html
REPORT_FILES = ("report.md", "report.html")  # the set summary.json names (see the module docstring)


# -- formatting --------------------------------------------------------------------------------
def pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage; None as a dash.

    >>> pct(0.6234), pct(None)
    ('62.3%', '—')
    """
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def num(x: float | None, digits: int = 3) -> str:
    """A number with `digits` significant digits; None as a dash.

    >>> num(0.123456), num(1234.5), num(None)
    ('0.123', '1.23e+03', '—')
    """
    return "—" if x is None else f"{x:.{digits}g}"


def with_ci(acc: Mapping[str, float]) -> str:
    """`62.3% [55.0, 69.1]`: accuracy with its 95% interval in percent."""
    return f"{pct(acc['value'])} [{100 * acc['low']:.1f}, {100 * acc['high']:.1f}]"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table; pipes and newlines in cells are escaped.

    >>> print(md_table(["a", "b"], [[1, "x|y"]]))
    | a | b |
    |---|---|
    | 1 | x\\|y |
    """
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def new_figure(width: float = 7.0, height: float = 3.2) -> Any:
    """A matplotlib Figure on the Agg canvas (no pyplot: no global state, no display needed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def png_img(fig: Any, alt: str) -> str:
    """An <img> holding `fig` as an inline base64 PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#1b1f24;padding:0 1em}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #d0d7de;padding:.3em .6em;text-align:right}
th{background:#f6f8fa}td:first-child,td:nth-child(2),th:first-child{text-align:left}
img{max-width:100%;display:block;margin:.6em 0}
details{margin:.4em 0;border:1px solid #d0d7de;border-radius:6px;padding:.3em .7em}
summary{cursor:pointer}pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.5em;
border-radius:4px;font-size:.85em;max-height:24em;overflow:auto}
.ok{color:#1a7f37}.bad{color:#cf222e}.muted{color:#57606a;font-size:.9em}
"""


def html_page(title: str, body: str) -> str:
    """A complete self-contained HTML document (an empty data: favicon keeps the browser offline)."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<link rel=\"icon\" href=\"data:,\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


# -- summary.json ------------------------------------------------------------------------------
def build_summary(records: Sequence[Mapping[str, Any]], settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The summary.json document for `records` (see the module docstring for its schema)."""
    from llmgym import __version__

    from .bench import recorded_versions

    versions = recorded_versions(records, "these results")  # mixed versions: refused, never merged
    results = summarize(records)
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "llmgym_version": __version__, "settings": dict(settings or {}),
        "envs": list(dict.fromkeys(r["env"] for r in results)),
        "policies": list(dict.fromkeys(r["policy"] for r in results)),
        "env_versions": [{"env": env, "level": level, "version": v} for (env, level), v in versions.items()],
        "results": results,
    }


# -- tables ------------------------------------------------------------------------------------
def _ks(results: Sequence[Mapping[str, Any]], field: str) -> list[str]:
    return sorted({k for r in results for k in r[field]}, key=int)


def overall_rows(results: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    pass_ks, maj_ks = _ks(results, "pass_at_k"), _ks(results, "maj_at_k")
    tools = any(r["tool_calls"] for r in results)
    headers = (["env", "policy", "tasks × samples", "accuracy [95% CI]"] + [f"pass@{k}" for k in pass_ks if k != "1"]
               + [f"maj@{k}" for k in maj_ks] + ["mean reward", "format failures", "length mean / median"]
               + (["tool calls / episode"] if tools else []) + ["tokens/s", "wall time"])
    rows = []
    for r in results:
        row = [r["env"], r["policy"], f"{r['tasks']} × {r['samples_per_task']}", with_ci(r["accuracy"])]
        row += [pct(r["pass_at_k"].get(k)) for k in pass_ks if k != "1"]
        row += [pct(r["maj_at_k"].get(k)) for k in maj_ks]
        row += [num(r["reward"]["mean"]), pct(r["format_failure_rate"]),
                f"{num(r['length']['mean'], 4)} / {num(r['length']['median'], 4)}"]
        if tools:
            row.append(num(r["tool_calls"]["mean"]) if r["tool_calls"] else "—")
        row += [num(r["tokens_per_s"]), f"{r['wall_seconds']:.1f} s"]
        rows.append(row)
    return headers, rows


def breakdown_rows(results: Sequence[Mapping[str, Any]], field: str) -> tuple[list[str], list[list[str]]]:
    """Accuracy per env and `field` value (level or family), one column per policy."""
    policies = list(dict.fromkeys(r["policy"] for r in results))
    cells: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in results:
        for value, m in r[f"by_{field}"].items():
            cells[(r["env"], value)][r["policy"]] = f"{with_ci(m['accuracy'])} (n={m['tasks']})"
    headers = ["env", field] + policies
    return headers, [[env, value] + [c.get(p, "—") for p in policies] for (env, value), c in cells.items()]


def component_rows(results: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    names = sorted({n for r in results for n in r["reward"]["components"]})
    headers = ["env", "policy", "reward"] + names
    rows = [[r["env"], r["policy"], num(r["reward"]["mean"])]
            + [num(r["reward"]["components"].get(n)) for n in names] for r in results]
    return headers, rows


def settings_line(settings: Mapping[str, Any]) -> str:
    p = settings.get("params") or {}
    if not p:
        return ""
    return (f"temperature {p.get('temperature')}, top_p {p.get('top_p')}, max_tokens {p.get('max_tokens')}, "
            f"seed {settings.get('seed')}")


def render_markdown(summary: Mapping[str, Any]) -> str:
    """report.md: the tables a person pastes into a paper or a pull request."""
    results = summary["results"]
    out = ["# llmgym bench", ""]
    line = settings_line(summary.get("settings") or {})
    if line:
        out += [f"Sampling: {line}. Accuracy is pass@1 with a 95% Wilson interval over tasks; "
                "pass@k is the unbiased estimator of Chen et al. (2021).", ""]
    out += ["## Results", "", md_table(*overall_rows(results)), ""]
    for field, title in (("level", "By level"), ("family", "By family")):
        headers, rows = breakdown_rows(results, field)
        if rows:
            out += [f"## {title} (accuracy [95% CI])", "", md_table(headers, rows), ""]
    headers, rows = component_rows(results)
    if len(headers) > 3:
        out += ["## Reward components (means)", "", md_table(headers, rows), ""]
    return "\n".join(out)


# -- plots -------------------------------------------------------------------------------------
def _bar_groups(ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[Mapping[str, float] | None]]) -> None:
    """Grouped bars with Wilson error bars: one group per x label, one bar per series (policy)."""
    width = 0.8 / max(1, len(series))
    for i, (name, accs) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        vals = [a["value"] if a else 0.0 for a in accs]
        err = [[max(0.0, a["value"] - a["low"]) if a else 0.0 for a in accs],
               [max(0.0, a["high"] - a["value"]) if a else 0.0 for a in accs]]
        ax.bar(xs, vals, width, yerr=err, capsize=2, label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=20 if max(map(len, groups), default=0) > 6 else 0)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")


def accuracy_figure(results: Sequence[Mapping[str, Any]], field: str) -> Any | None:
    """Accuracy by level or family, one panel per env, one bar per policy."""
    envs = [e for e in dict.fromkeys(r["env"] for r in results) if any(r[f"by_{field}"] for r in results if r["env"] == e)]
    if not envs:
        return None
    fig = new_figure(min(4.2 * len(envs), 12.0), 3.2)
    axes = fig.subplots(1, len(envs), squeeze=False)[0]
    for ax, env in zip(axes, envs):
        rs = [r for r in results if r["env"] == env]
        groups = list(dict.fromkeys(v for r in rs for v in r[f"by_{field}"]))
        _bar_groups(ax, groups, {r["policy"]: [r[f"by_{field}"].get(g, {}).get("accuracy") for g in groups] for r in rs})
        ax.set_title(f"{env}: accuracy by {field}", fontsize=10)
        ax.set_xlabel(field)
    axes[0].legend(fontsize=8)
    return fig


def distribution_figure(records: Sequence[Mapping[str, Any]], value: str, xlabel: str) -> Any | None:
    """Distribution of a per-episode value (reward, completion tokens), one panel per env."""
    envs = list(dict.fromkeys(r["env"] for r in records))
    if not envs:
        return None
    fig = new_figure(min(4.2 * len(envs), 12.0), 3.0)
    axes = fig.subplots(1, len(envs), squeeze=False)[0]
    for ax, env in zip(axes, envs):
        by_policy: dict[str, list[float]] = defaultdict(list)
        for r in records:
            if r["env"] == env:
                by_policy[r["policy"]].append(float(r.get(value) or 0.0))
        distinct = sorted({v for vals in by_policy.values() for v in vals})
        if len(distinct) <= 12:
            # Few distinct values (rewards mostly are): bars per value say more than histogram bins.
            width = 0.8 / len(by_policy)
            for i, (policy, vals) in enumerate(by_policy.items()):
                xs = [j + (i - (len(by_policy) - 1) / 2) * width for j in range(len(distinct))]
                ax.bar(xs, [vals.count(d) for d in distinct], width, label=policy)
            ax.set_xticks(range(len(distinct)), [f"{d:.3g}" for d in distinct], fontsize=8)
        else:
            for policy, vals in by_policy.items():
                ax.hist(vals, bins=20, range=(distinct[0], distinct[-1]), histtype="step", linewidth=1.5,
                        label=policy)
        ax.set_title(f"{env}: {xlabel}", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("episodes")
    axes[0].legend(fontsize=8)
    return fig


# -- sample episodes ---------------------------------------------------------------------------
def pick_samples(records: Sequence[Mapping[str, Any]], per_group: int = SAMPLES_PER_GROUP) -> dict[tuple[str, str], list]:
    """A few episodes per env x policy, half right and half wrong where possible, in a stable order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[(r["env"], r["policy"])].append(r)
    picked = {}
    for key, rs in groups.items():
        # Sample 0 of every task before sample 1 of any: the picks show different tasks.
        rs = sorted(rs, key=lambda r: (r["sample"], str(r.get("level")), r["task_id"]))
        right = [r for r in rs if r["correct"]]
        wrong = [r for r in rs if not r["correct"]]
        take_right = right[:per_group // 2]
        chosen = take_right + wrong[:per_group - len(take_right)]
        chosen += right[len(take_right):][:per_group - len(chosen)]  # too few wrong ones: more right ones
        picked[key] = chosen
    return picked


def _prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n\n".join(f"[{m.get('role')}] {m.get('content')}" for m in prompt or [])


def _short(value: Any, limit: int = 40) -> str:
    if value is None:
        return "none"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def episode_html(r: Mapping[str, Any]) -> str:
    verdict = '<span class="ok">correct</span>' if r["correct"] else '<span class="bad">wrong</span>'
    comps = ", ".join(f"{k} {num(v)}" for k, v in (r.get("components") or {}).items())
    head = (f"{verdict} · reward {num(r['reward'])} · task {html.escape(str(r['task_id']))} "
            f"(level {html.escape(str(r.get('level')))}{', ' + html.escape(str(r['family'])) if r.get('family') else ''}) "
            f"sample {r['sample']} · answer {html.escape(_short(r.get('answer')))}, expected "
            f"{html.escape(_short(r.get('gold')))}")
    body = [f"<p class=\"muted\">parsed answer <b>{html.escape(str(r.get('answer')))}</b>, expected "
            f"<b>{html.escape(json.dumps(r.get('gold'), ensure_ascii=False)[:300])}</b>; components: "
            f"{html.escape(comps) or '—'}; reason: {html.escape(str(r.get('reason') or '—'))}; "
            f"{r.get('completion_tokens', 0)} tokens</p>",
            f"<p><b>Prompt</b></p><pre>{html.escape(_prompt_text(r.get('prompt')))}</pre>"]
    if r.get("transcript"):
        for i, t in enumerate(r["transcript"], 1):
            body.append(f"<p><b>Turn {i}</b></p><pre>{html.escape(str(t.get('action')))}</pre>")
            if t.get("observation"):
                body.append(f"<p><b>Tool</b></p><pre>{html.escape(str(t['observation']))}</pre>")
    else:
        body.append(f"<p><b>Completion</b></p><pre>{html.escape(str(r.get('completion')))}</pre>")
    return f"<details><summary>{head}</summary>{''.join(body)}</details>"


def render_html(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    """report.html: tables, plots (accuracy by level and family, reward and length distributions) and sample episodes."""
    results = summary["results"]
    parts = ["<h1>llmgym bench</h1>"]
    line = settings_line(summary.get("settings") or {})
    parts.append(f"<p class=\"muted\">{html.escape(line)}{'; ' if line else ''}created {html.escape(summary['created'])}, "
                 f"llmgym {html.escape(summary['llmgym_version'])}. Accuracy is pass@1 with a 95% Wilson interval over "
                 "tasks; pass@k is the unbiased estimator of Chen et al. (2021).</p>")
    parts += ["<h2>Results</h2>", html_table(*overall_rows(results))]
    for field in ("level", "family"):
        headers, rows = breakdown_rows(results, field)
        if not rows:
            continue
        parts.append(f"<h2>Accuracy by {field}</h2>")
        fig = accuracy_figure(results, field)
        if fig is not None:
            parts.append(png_img(fig, f"accuracy by {field} per policy"))
        parts.append(html_table(headers, rows))
    headers, rows = component_rows(results)
    if len(headers) > 3:
        parts += ["<h2>Reward components</h2>", html_table(headers, rows)]
    for value, label, title in (("reward", "reward", "Reward distribution"),
                                ("completion_tokens", "completion tokens", "Response length distribution")):
        fig = distribution_figure(records, value, label)
        if fig is not None:
            parts += [f"<h2>{title}</h2>", png_img(fig, title.lower())]
    parts.append("<h2>Sample episodes</h2>")
    for (env, policy), rs in pick_samples(records).items():
        parts.append(f"<h3>{html.escape(env)} · {html.escape(policy)}</h3>")
        parts.extend(episode_html(r) for r in rs)
    return html_page("llmgym bench report", "\n".join(parts))


def render_bench(out: str | os.PathLike, records: Sequence[Mapping[str, Any]],
                 settings: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write report.md, report.html and then summary.json into `out` as one set; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clean_leftovers(out)
    summary = build_summary(records, settings)
    paths = {"summary": out / "summary.json", "markdown": out / REPORT_FILES[0], "html": out / REPORT_FILES[1]}
    reports = {REPORT_FILES[0]: render_markdown(summary).encode("utf-8"),
               REPORT_FILES[1]: render_html(summary, records).encode("utf-8")}
    summary["report_files"] = {name: _digest(data) for name, data in reports.items()}
    for name, data in reports.items():
        atomic_write_text(out / name, data.decode("utf-8"))
    # Last: a summary.json on disk always names report files that were completely written.
    atomic_write_text(paths["summary"], json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return paths


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def stale_report_files(out: str | os.PathLike) -> list[str]:
    """Report files in `out` that are not the set its summary.json was written with (missing or changed).

    Every report file counts as stale when summary.json is missing or names no set (written before
    `report_files` existed).
    """
    out = Path(out)
    try:
        named = json.loads((out / "summary.json").read_text(encoding="utf-8")).get("report_files")
    except (OSError, ValueError, AttributeError):
        named = None
    if not isinstance(named, dict):
        return list(REPORT_FILES)
    stale = []
    for name in REPORT_FILES:
        path = out / name
        if not path.is_file() or named.get(name) != _digest(path.read_bytes()):
            stale.append(name)
    return stale
