"""The figures of a run report (`llmgym.report.run_report`): the training and held-out curves, proxy
reward against gold score, and, for runs with `--curriculum` or `--dynamic-sampling`
(`llmgym.train.curriculum`, `llmgym.train.sampling`), the level mix per step and what dynamic
sampling kept.

Each figure takes the report's `RunData` and reads its rows through `series`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .render import new_figure

Series = list[tuple[float, float]]


def series(rows: Sequence[Mapping[str, Any]], key: str) -> Series:
    """(step, value) pairs of `key`, one per step (the last row wins, as after a resume), sorted."""
    points: dict[float, float] = {}
    for r in rows:
        v, step = r.get(key), r.get("step")
        if isinstance(v, (int, float)) and not isinstance(v, bool) and isinstance(step, (int, float)):
            points[float(step)] = float(v)
    return sorted(points.items())


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over `window` points (fewer at the start).

    >>> moving_average([1, 2, 3, 4], 2)
    [1.0, 1.5, 2.5, 3.5]
    """
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


PROXY_KEY = "rlhf/proxy_reward"  # written by llmgym.rlhf.guard's probes, with GOLD_PROBE_KEY
GOLD_PROBE_KEY = "rlhf/gold_score"


def proxy_key(rows: Sequence[Mapping[str, Any]]) -> str:
    """The proxy reward's key: the RLHF probe's when the run logs one, else TRL's training reward."""
    return PROXY_KEY if any(PROXY_KEY in r for r in rows) else "reward"


def gold_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Keys of gold-score figures (`gold`, `eval/gold`, `rewards/gold/mean`, ...), if the run logs any."""
    return sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float))
                   and any("gold" in part for part in k.split("/")) and not k.endswith("/std")})


# -- the run's curves -------------------------------------------------------------------------------------
def _plot_noisy(ax: Any, points: Series, label: str) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(points) > 10:
        ax.plot(xs, ys, alpha=0.3, linewidth=0.8)
        ax.plot(xs, moving_average(ys, max(2, len(ys) // 10)), label=f"{label} (moving avg.)",
                color=ax.lines[-1].get_color())
    else:
        ax.plot(xs, ys, marker="o", markersize=3, label=label)


def curves_figure(data: RunData) -> Any:
    """Reward, held-out accuracy, response length and KL (or gold) against step."""
    panels: list[tuple[str, list[tuple[str, Series, bool]]]] = []
    labels = data.env_labels()
    reward = [("train reward", series(data.train, "reward"), True)]
    reward += [(k[len("rewards/"):-len("/mean")], series(data.train, k), True)
               for k in sorted({k for r in data.train for k in r}) if k.startswith("rewards/") and k.endswith("/mean")]
    reward = [c for c in reward if c[1]]
    if len(reward) == 2 and reward[0][1] == reward[1][1]:
        reward = reward[:1]  # a one-component rubric: the component is the reward itself
    reward += [(f"reward on {label}", series(data.train, f"env/{label}/reward"), True) for label in labels]
    panels.append(("training reward", [c for c in reward if c[1]]))
    panels.append(("held-out accuracy", [("eval accuracy", series(data.evals, "eval/accuracy"), False)]
                   + [(label, series(data.evals, f"eval/{label}/accuracy"), False) for label in labels]))
    panels.append(("response length (tokens)", [("train", series(data.train, "completions/mean_length"), True),
                                               ("held-out", series(data.evals, "eval/length"), False)]))
    if labels:
        panels.append(("groups with zero reward variance",
                       [("all envs", series(data.train, "frac_reward_zero_std"), True)]
                       + [(label, series(data.train, f"env/{label}/frac_reward_zero_std"), True) for label in labels]))
    kl = series(data.train, "kl")
    panels.append(("KL to reference", [("kl", kl, True)] if kl else []))
    golds = gold_keys(data.rows)
    if golds:
        proxy = proxy_key(data.rows)
        panels.append(("proxy reward vs gold score", [(f"proxy ({proxy})", series(data.rows, proxy), True)]
                       + [(k, series(data.rows, k), "eval/" not in k) for k in golds]))
    fig = new_figure(11.0, 3.0 * ((len(panels) + 1) // 2))
    axes = fig.subplots((len(panels) + 1) // 2, 2, squeeze=False).ravel()
    for ax, (title, curves) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        drawn = False
        for label, points, noisy in curves:
            if not points:
                continue
            drawn = True
            if noisy:
                _plot_noisy(ax, points, label)
            else:
                ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        if title == "held-out accuracy":
            ax.set_ylim(0, 1)
        elif title == "groups with zero reward variance":
            ax.set_ylim(-0.03, 1.03)  # a fraction that is often exactly 0 or 1
        if drawn:
            ax.legend(fontsize=7)
        else:
            beta = data.config.get("beta")
            msg = "not logged (beta = 0: no reference model)" if title.startswith("KL") and beta == 0 else "not logged"
            ax.text(0.5, 0.5, msg, ha="center", va="center", transform=ax.transAxes, color="gray")
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    return fig


def proxy_gold_figure(data: RunData) -> Any | None:
    """Gold score against proxy reward at the steps where both were logged (reward hacking shows as a bend)."""
    golds = gold_keys(data.rows)
    if not golds:
        return None
    key = proxy_key(data.rows)
    # The probe's proxy pairs with the probe's gold: same samples, same steps.
    gold_key = GOLD_PROBE_KEY if key == PROXY_KEY and GOLD_PROBE_KEY in golds else golds[0]
    proxy = dict(series(data.rows, key))
    gold = dict(series(data.rows, gold_key))
    steps = sorted(set(proxy) & set(gold))
    if len(steps) < 2:
        return None
    fig = new_figure(5.0, 3.4)
    ax = fig.subplots()
    ax.plot([proxy[s] for s in steps], [gold[s] for s in steps], marker=".", linewidth=0.8)
    peak = max(steps, key=lambda s: gold[s])
    for s in sorted({steps[0], peak, steps[-1]}):
        ax.annotate(f"step {s:g}", (proxy[s], gold[s]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"proxy reward ({key})")
    ax.set_ylabel(gold_key)
    ax.set_title("gold score against proxy reward", fontsize=10)
    return fig


# -- curriculum and dynamic sampling ---------------------------------------------------------------
def arm_names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The curriculum's arms, in the order the rows first name them (`curriculum/<arm>/share`).

    >>> arm_names([{"curriculum/level1/share": 0.5, "curriculum/rg/leg_counting/share": 0.5}])
    ['level1', 'rg/leg_counting']
    """
    found = [k[len("curriculum/"):-len("/share")] for r in rows for k in r
             if k.startswith("curriculum/") and k.endswith("/share")]
    return list(dict.fromkeys(found))


def band(spec: Any) -> tuple[float, float] | None:
    """The curriculum's band (low, high) from config.yaml's `curriculum` spec, None if unreadable."""
    from llmgym.errors import LLMGymError
    from llmgym.train.curriculum import CurriculumConfig

    try:
        config = CurriculumConfig.from_spec(spec)
    except LLMGymError:
        return None
    return (config.low, config.high) if config.on else None


def sampling_figure(data: Any) -> Any | None:
    """The level mix per step (the share of each step's prompts per arm, stacked) and each arm's
    tracked success rate against the band; then, with dynamic sampling, the fraction of each step's
    groups trained on and of its backward pass saved. None for a run with neither."""
    arms = arm_names(data.train)
    dynamic = series(data.train, "dynamic/kept_fraction")
    if not arms and not dynamic:
        return None
    panels = (2 if arms else 0) + (1 if dynamic else 0)
    fig = new_figure(11.0, 3.0 * ((panels + 1) // 2))
    axes = list(fig.subplots((panels + 1) // 2, 2, squeeze=False).ravel())
    if arms:
        mix, rate = axes.pop(0), axes.pop(0)
        shares = [dict(series(data.train, f"curriculum/{arm}/share")) for arm in arms]
        steps = sorted({s for share in shares for s in share})
        mix.stackplot(steps, [[share.get(s, 0.0) for s in steps] for share in shares], labels=arms, alpha=0.85)
        mix.set_ylim(0, 1)
        mix.set_title("level mix: share of each step's prompts", fontsize=10)
        for arm in arms:
            points = series(data.train, f"curriculum/{arm}/success")
            rate.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=arm)
        low_high = band(data.config.get("curriculum"))
        if low_high is not None:
            rate.axhspan(*low_high, color="gray", alpha=0.15, label="informative band")
        rate.set_ylim(-0.03, 1.03)
        rate.set_title("success rate per arm (what the curriculum draws by)", fontsize=10)
        for ax in (mix, rate):
            ax.set_xlabel("step")
            ax.legend(fontsize=7)
    if dynamic:
        ax = axes.pop(0)
        ax.plot([p[0] for p in dynamic], [p[1] for p in dynamic], marker=".", label="groups trained on / prompts")
        saved = series(data.train, "dynamic/backward_saved")
        ax.plot([p[0] for p in saved], [p[1] for p in saved], marker=".", label="backward pass saved")
        ax.set_ylim(-0.03, 1.03)
        ax.set_title("dynamic sampling", fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    for ax in axes:
        ax.set_visible(False)
    return fig
