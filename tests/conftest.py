"""Shared fixtures: toy envs for each contract and fake entry points, as pluggy's own tests do."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from llmgym import FunctionReward, Rubric, Score, SingleTurnEnv, Task
from llmgym.parsing import extract_answer


THREADS_VAR = "LLMGYM_TEST_THREADS"


def pytest_configure(config: pytest.Config) -> None:
    """`LLMGYM_TEST_THREADS=N pytest ...` runs the suite with torch on N threads (and subprocesses
    with OMP_NUM_THREADS=N unless a test sets its own), since the thread count changes the order of
    floating-point sums and so every trained weight: a test that passes only at one count is fragile."""
    value = os.environ.get(THREADS_VAR)
    if not value:
        return
    if not value.isdigit() or int(value) < 1:
        raise pytest.UsageError(f"{THREADS_VAR} must be a positive integer, got {value!r}")
    os.environ["OMP_NUM_THREADS"] = value
    try:
        import torch
    except ImportError:  # the suite's torch-free tests still run
        return
    torch.set_num_threads(int(value))


def pytest_report_header(config: pytest.Config) -> str | None:
    value = os.environ.get(THREADS_VAR)
    return f"{THREADS_VAR}={value}: torch on {value} thread(s)" if value else None


def exact(completion: str, task: Task) -> Score:
    parsed = extract_answer(completion)
    if parsed.text is None:
        return Score.zero("no_answer")
    right = parsed.text == str(task.answer)
    return Score(float(right), reason=None if right else "wrong", answer=parsed.text)


class AddEnv(SingleTurnEnv):
    """Toy procedural env: a + b with 0 <= a, b < 10 * level."""

    name = "add"
    levels = (1, 2)

    def generate_task(self, rng: random.Random) -> Task:
        hi = 10 * self.level - 1
        a, b = rng.randint(0, hi), rng.randint(0, hi)
        return Task(f"What is {a} + {b}?", a + b, {"level": self.level, "solution": f"{a}+{b}=\\boxed{{{a + b}}}"})

    def default_rubric(self) -> Rubric:
        return Rubric([(FunctionReward("correct", exact), 1.0),
                       (FunctionReward("chars", lambda c, t: Score(min(len(c), 100) / 100)), 0.0)])


class CapitalsEnv(SingleTurnEnv):
    """Toy dataset env: a fixed list of tasks."""

    name = "capitals"
    DATA = {"France": "Paris", "Italy": "Rome", "Spain": "Madrid", "Japan": "Tokyo", "Peru": "Lima",
            "Chile": "Santiago", "Egypt": "Cairo", "Kenya": "Nairobi", "Cuba": "Havana", "Iran": "Tehran",
            "Norway": "Oslo", "Poland": "Warsaw", "Greece": "Athens", "Ireland": "Dublin", "Austria": "Vienna",
            "Hungary": "Budapest", "Portugal": "Lisbon", "Sweden": "Stockholm", "Finland": "Helsinki",
            "Denmark": "Copenhagen"}

    def task_list(self) -> list[Task]:
        return [Task(f"Capital of {k}? Answer in \\boxed{{}}.", v, {"solution": f"\\boxed{{{v}}}"})
                for k, v in self.DATA.items()]

    def default_rubric(self) -> Rubric:
        return Rubric([(FunctionReward("correct", exact), 1.0)])


@dataclass
class FakeDist:
    name: str


@dataclass
class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: `name`, `dist` and `load()`."""

    name: str
    loader: Callable[[], Any]
    dist: FakeDist
    loads: int = 0

    def load(self) -> Any:
        self.loads += 1
        return self.loader()


def entry_point(name: str, plugin: Any, dist: str = "some-plugin") -> FakeEntryPoint:
    def loader() -> Any:
        if isinstance(plugin, BaseException):
            raise plugin
        return plugin
    return FakeEntryPoint(name, loader, FakeDist(dist))


@pytest.fixture
def add_env() -> AddEnv:
    return AddEnv()


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage"]


@contextlib.contextmanager
def chromium(window_size: str) -> Iterator[Any]:
    """Debian's headless Chromium driven by Selenium through chromium-driver, with a fresh profile.

    `make sysdeps` installs both; tests that use this fail (not skip) without them.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).is_file(), f"{path} missing: run `make sysdeps` (apt-get install chromium chromium-driver)"
    profile = tempfile.mkdtemp(prefix="llmgym-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--window-size={window_size}", f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path keeps Selenium Manager from trying to download one.
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
