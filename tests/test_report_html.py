"""report.html in a real browser: Debian's headless Chromium (through chromium-driver) loads the file
from disk with no console error, every image decodes, and a screenshot shows a rendered page.

`make sysdeps` installs chromium and chromium-driver; these tests fail (not skip) without them.
"""

import io
import json
from pathlib import Path

import pytest

from llmgym.report.bench import PolicyCase, run_bench
from llmgym.report.render import render_bench
from llmgym.report.run_report import render_run
from llmgym.train.callbacks import eval_row
from llmgym.train.rundir import RunDir
from llmgym.types import Completion

from test_bench import FamilyAddEnv, SumPolicy, cases
from conftest import chromium



@pytest.fixture(scope="module")
def browser():
    with chromium("1200,1000") as driver:
        yield driver


def load(browser, path):
    """Open `path` from disk; returns (console messages, [(complete, naturalWidth, naturalHeight)])."""
    browser.get_log("browser")  # drop whatever an earlier page logged
    browser.get(Path(path).resolve().as_uri())
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    return browser.get_log("browser"), images


def assert_clean(browser, path, min_images):
    logs, images = load(browser, path)
    assert logs == [], logs
    assert len(images) >= min_images, images
    assert all(complete and w > 0 and h > 0 for complete, w, h in images), images
    html = Path(path).read_text()
    # One self-contained file: nothing fetched from anywhere, no script.
    assert 'src="http' not in html and 'href="http' not in html and "<script" not in html.lower()


class OddPolicy(SumPolicy):
    """Right on odd first operands, and leaves the box out a third of the time."""

    name = "odd"

    def generate(self, prompts, n=1, params=None):
        out = []
        for p in prompts:
            self.prompts += 1
            words = p[-1]["content"].rstrip("?").split()
            a, b = int(words[2]), int(words[4])
            answer = a + b + (1 - a % 2)
            text = "<script>alert('x')</script> no idea" if self.prompts % 3 == 0 else f"\\boxed{{{answer}}}"
            out.append([Completion(text, 8, 5 + self.prompts % 7, 0.02)] * n)
        return out


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    records = run_bench(cases(levels=(1, 2), n=8, env_cls=FamilyAddEnv),
                        [PolicyCase("sum", SumPolicy), PolicyCase("odd", OddPolicy)], out, samples=2)
    render_bench(out, records, {"params": {"temperature": 0.7, "top_p": 1.0, "max_tokens": 64}, "seed": 0})
    return out


def test_bench_report_opens_cleanly_in_chromium(browser, bench_dir):
    # accuracy by level, accuracy by family, reward and length distributions
    assert_clean(browser, bench_dir / "report.html", min_images=4)


class HostilePolicy(SumPolicy):
    """Writes markup that would run script if a report pasted it in unescaped."""

    name = "hostile"

    def generate(self, prompts, n=1, params=None):
        text = "<script>console.error('ran')</script><img src=x onerror=\"console.error('ran')\"> \\boxed{3}"
        return [[Completion(text, 8, 9, 0.01)] * n for _ in prompts]


def test_model_output_in_samples_is_shown_as_text_not_run(browser, tmp_path):
    from selenium.webdriver.common.by import By

    records = run_bench(cases(n=3), [PolicyCase("hostile", HostilePolicy)], tmp_path)
    html = render_bench(tmp_path, records)["html"]
    assert_clean(browser, html, min_images=2)  # no 'ran' in the console, no broken <img src=x>
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert "&lt;script&gt;console.error(&#x27;ran&#x27;)&lt;/script&gt;" in html.read_text()


def test_the_browser_check_catches_broken_images_and_console_errors(browser, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png">'
                    '<img src="data:image/png;base64,AAAA"><script>console.error("boom")</script></body></html>')
    logs, images = load(browser, page)
    assert any("boom" in entry["message"] for entry in logs)
    assert any(entry["level"] == "SEVERE" and "missing.png" in entry["message"] for entry in logs)
    assert [w for _, w, _ in images] == [0, 0]


def test_screenshot_of_the_bench_report_shows_a_rendered_page(browser, bench_dir, tmp_path):
    from PIL import Image

    load(browser, bench_dir / "report.html")
    png = browser.get_screenshot_as_png()
    (tmp_path / "report.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size[0] >= 1000 and image.size[1] >= 600
    colours = image.getcolors(maxcolors=1 << 16)
    # Text, table borders and plot colours: a blank or error page has a handful of colours.
    assert colours is None or len(colours) > 50
    small = image.resize((60, 40))
    assert len(small.getcolors(maxcolors=4800)) > 5


def make_run(path, *, kl=True, gold=True):
    """A run directory written with the trainer's own RunDir and eval_row, as `llmgym train` does."""
    run = RunDir(path)
    run.write_config({"env": "math", "policy": "smollm2", "algo": "grpo", "steps": 30, "beta": 0.04})
    run.log_metrics(eval_row(0, {"accuracy": 0.05, "reward": 0.1, "length": 40.0, "n": 20}))
    for step in range(1, 31):
        row = {"step": step, "loss": 0.01, "reward": 0.1 + step / 50, "reward_std": 0.3,
               "rewards/correct/mean": step / 50, "rewards/format/mean": 0.5,
               "completions/mean_length": 40 + step, "step_time": 1.0}
        if kl:
            row["kl"] = step / 1000
        run.log_metrics(row)
        if gold and step % 5 == 0:  # the rows llmgym.rlhf.guard's probes write
            run.log_metrics({"step": step, "rlhf/proxy_reward": 0.2 + step / 40,
                             "rlhf/gold_score": 0.1 + step / 60 - (step / 60) ** 2, "rlhf/kl": step / 1000})
        if step % 10 == 0 and step < 30:
            run.log_metrics(eval_row(step, {"accuracy": 0.05 + step / 100, "reward": 0.1, "length": 40.0 + step, "n": 20}))
        run.append(run.samples, [{"step": step, "task_id": f"t{step}", "prompt": "1+1?", "completion": f"\\boxed{{{step}}}",
                                  "answer": 2, "reward": float(step == 2), "components": {"correct": float(step == 2)}}])
    run.log_metrics(eval_row(30, {"accuracy": 0.4, "reward": 0.45, "length": 70.0, "n": 20}))
    run.write_summary({"run": str(path), "env": "math", "policy": "smollm2", "algo": "grpo", "steps": 30,
                       "before": {"accuracy": 0.05, "reward": 0.1, "length": 40.0, "n": 20},
                       "after": {"accuracy": 0.4, "reward": 0.45, "length": 70.0, "n": 20}, "wall_seconds": 61.0})
    return run


def test_run_report_has_curves_and_before_after_tables(browser, tmp_path):
    make_run(tmp_path / "run")
    paths = render_run(tmp_path / "run")
    md = paths["markdown"].read_text()
    assert "| held-out accuracy | 5.0% | 40.0% | +35.0 pts |" in md
    assert "| mean length (tokens) | 40 | 70 | +30 |" in md
    # one row per held-out evaluation: before, steps 10 and 20, after
    assert [line.split("|")[1].strip() for line in md.splitlines() if line.startswith("| ") and "%" in line
            and line.split("|")[1].strip().isdigit()] == ["0", "10", "20", "30"]
    # curves (reward, accuracy, length, KL, proxy vs gold) and the proxy-against-gold scatter
    assert_clean(browser, paths["html"], min_images=2)
    assert "Proxy reward against gold score" in paths["html"].read_text()
    # the probe rows share steps with TRL's rows and must not hide their training reward
    assert "| 10 | 15.0% | 0.1 | 50 | 0.3 | 50 | 0.01 |" in md


def test_run_report_without_kl_or_gold_still_renders(browser, tmp_path):
    make_run(tmp_path / "run", kl=False, gold=False)
    paths = render_run(tmp_path / "run")
    assert_clean(browser, paths["html"], min_images=1)
    assert "gold" not in paths["html"].read_text().lower()


def test_proxy_against_gold_pairs_the_probe_proxy_with_the_probe_gold(tmp_path):
    from llmgym.report.run_report import RunData, proxy_gold_figure

    run = make_run(tmp_path / "run")
    for step in range(1, 31):  # TRL's per-step gold of the training samples sorts before the probe's
        run.log_metrics({"step": step, "rewards/gold/mean": 0.9})
    for step in range(5, 31, 5):  # probes whose gold peaks at step 15 (the last row of a step wins)
        run.log_metrics({"step": step, "rlhf/proxy_reward": step / 30, "rlhf/gold_score": 0.5 - abs(step - 15) / 100})
    axes = proxy_gold_figure(RunData(run.path)).axes[0]
    assert axes.get_ylabel() == "rlhf/gold_score"
    assert sorted(t.get_text() for t in axes.texts) == ["step 15", "step 30", "step 5"]  # first, gold peak, last


def test_run_report_survives_a_torn_metrics_line(tmp_path):
    run = make_run(tmp_path / "run")
    with open(run.metrics, "a") as f:
        f.write('{"step": 31, "rew')
    assert render_run(tmp_path / "run")["html"].is_file()


def test_bench_summary_is_plain_json_with_schema(bench_dir):
    summary = json.loads((bench_dir / "summary.json").read_text())
    assert summary["schema"] == "llmgym.bench.summary" and summary["schema_version"] == 1
    assert [(r["env"], r["policy"]) for r in summary["results"]] == [("famadd", "sum"), ("famadd", "odd")]
    odd = summary["results"][1]
    assert 0 < odd["format_failure_rate"] < 1 and set(odd["by_family"]) == {"even", "odd"}


def test_run_report_lists_the_guard_probes_and_says_when_there_was_no_evaluation(tmp_path):
    from llmgym.report.run_report import render_run

    run = RunDir(tmp_path / "run")  # a benchmark-style RL run: guard probes, no held-out evaluation
    run.write_config({"env": "rlhf", "policy": "tiny", "algo": "grpo", "steps": 20})
    for step in (0, 10, 20):
        run.log_metrics({"step": step, "rlhf/proxy_reward": 0.5 + step / 100, "rlhf/gold_score": 0.6 - step / 100,
                         "rlhf/kl": step / 5, "degeneracy/length": 20.0, "degeneracy/distinct_2": 0.9})
    md = render_run(run.path)["markdown"].read_text()
    assert "No held-out evaluation in this run" in md
    assert "| 10 | 0.600 | 0.500 | 2.00 | 20.0 | 0.900 |" in md and "| 20 | 0.700 | 0.400 | 4.00 |" in md
