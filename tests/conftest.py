"""Shared fixtures: toy envs for each contract and fake entry points, as pluggy's own tests do."""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest

from llmgym import FunctionReward, Rubric, Score, SingleTurnEnv, Task
from llmgym.parsing import extract_answer


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
