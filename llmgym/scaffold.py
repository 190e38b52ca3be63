"""`llmgym new env NAME [--out DIR]`: write a plugin package that installs and passes its own test.

    llmgym new env my_task              # writes ./llmgym-my-task/
    pip install -e llmgym-my-task
    pytest llmgym-my-task               # check_env on every level, the entry point, the reference

The package (src layout) holds a `SingleTurnEnv` with a generator, levels, a system prompt, a
reference solution and a version; a reward plugin the env's rubric uses and any other env can
(`llmgym.make_reward(NAME)`); the hook module its entry point names (lazy `"module:attr"`
factories, so `llmgym list` imports nothing of it); a README; and `tests/test_NAME.py`. The env is a
working example (add up a few numbers) to replace with the task of your own. docs/envs.md explains
each part.

NAME is lowercase letters, digits and underscores, starting with a letter; it names the env and the
reward, the import package `llmgym_NAME` and the distribution `llmgym-NAME` (underscores become
hyphens). A NAME already registered, or an output folder that exists and is not empty, is refused.
The package is written into a temporary folder and renamed into place, so a failure leaves nothing.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from string import Template

from .errors import LLMGymError

WHAT = ("env",)
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")

PYPROJECT = r'''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "The $name env for llmgym"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["llm-gym"]

[project.optional-dependencies]
test = ["pytest"]

# llmgym finds plugins through this entry-point group; the value is the module holding the hooks.
[project.entry-points.llmgym]
$name = "$pkg.plugin"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

README = r'''# $dist

The `$name` environment for [llmgym](https://pypi.org/project/llm-gym/): add up a few whole numbers,
answer in `\boxed{}`. Levels 1-3 add two to four numbers. It is a working example: replace the
generator, the prompt and the reward with your own task's.

```bash
pip install -e .            # registers the env and the reward through the `llmgym` entry point
pytest                      # check_env on every level, the entry point, the reference solutions
llmgym list envs            # shows `$name` from $dist
llmgym info $name --level 2
llmgym bench --env $name --levels all --policy smollm2
llmgym train --env $name --policy tiny --steps 2
```

| file | what |
|---|---|
| `src/$pkg/env.py` | `${cls}Env`: the generator (`generate_task`), levels, system prompt, reference solution, version |
| `src/$pkg/reward.py` | `${cls}Reward`, the reward plugin `$name`: any env's rubric can use it (`llmgym.make_reward("$name")`) |
| `src/$pkg/plugin.py` | the hooks the entry point names: registers the env and the reward |
| `tests/test_$name.py` | the checks above |

Bump `version` in `env.py` whenever a change alters the tasks of a split or how they score: bench
results record it, and `llmgym bench` never mixes episodes of two versions in one results file.
'''

INIT = r'''"""The $name env for llmgym. The entry point loads `$pkg.plugin`; nothing heavy is imported here."""

__version__ = "0.1.0"
'''

PLUGIN = r'''"""llmgym's entry point into this package (pyproject.toml, `[project.entry-points.llmgym]`).

Factories are "module:attr" strings: `llmgym list` imports neither the env nor the reward.
"""

import llmgym


@llmgym.hookimpl
def llmgym_register_envs(register):
    register("$name", "$pkg.env:${cls}Env", description="Add up a few whole numbers (levels 1-3); answer in \\boxed{}.")


@llmgym.hookimpl
def llmgym_register_rewards(register):
    register("$name", "$pkg.reward:${cls}Reward",
             description="1 when the last \\boxed{} answer is the task's integer answer, else 0 with a reason.")
'''

ENV = r'''"""The `$name` env: add up `level + 1` whole numbers below 100; the answer goes in \\boxed{}."""

from __future__ import annotations

import random

from llmgym import Rubric, SingleTurnEnv, Task

from .reward import ${cls}Reward


class ${cls}Env(SingleTurnEnv):
    """One prompt, one answer. `llmgym.make("$name", level=2)`; `--env $name:level=2` on the command line."""

    name = "$name"
    description = "Add up a few whole numbers (levels 1-3); answer in \\boxed{}."
    # Bump whenever a change to the generator, the prompt or the rubric alters the tasks of a split or
    # how they score: bench results record it and never mix episodes of two versions.
    version = "1"
    levels = (1, 2, 3)
    system_prompt = "Think step by step, then give the final answer in \\boxed{}."
    eval_fraction = 0.2  # the share of tasks in the eval split, chosen by a hash of each task

    def generate_task(self, rng: random.Random) -> Task:
        # Only `rng` and the constructor's arguments may decide the task: splits and seeds stay stable.
        numbers = [rng.randint(1, 99) for _ in range(self.level + 1)]
        prompt = "What is " + " + ".join(map(str, numbers)) + "?"
        return Task(prompt, sum(numbers), {"level": self.level, "numbers": numbers})

    def default_rubric(self) -> Rubric:
        return Rubric([(${cls}Reward(), 1.0)])

    def reference(self, task: Task) -> str:
        """A solution that earns full reward (SFT imitates it; check_env checks it does)."""
        numbers = task.meta["numbers"]
        return f"{' + '.join(map(str, numbers))} = \\boxed{{{sum(numbers)}}}"
'''

REWARD = r'''"""The `$name` reward: 1 when the last \\boxed{} answer is the task's integer answer.

Rewards never raise on model output: a completion without an answer scores 0 with reason
`no_answer`, a wrong one 0 with reason `wrong`.
"""

from __future__ import annotations

from llmgym import BaseReward, Score, Task
from llmgym.parsing import extract_answer


class ${cls}Reward(BaseReward):
    name = "$name"
    value_range = (0.0, 1.0)

    def score(self, completion: str, task: Task) -> Score:
        answer = extract_answer(completion).text
        if answer is None:
            return Score.zero("no_answer")
        right = answer.strip() == str(task.answer)
        return Score(float(right), reason=None if right else "wrong", answer=answer)
'''

TEST = r'''"""The `$name` env passes llmgym's checker at every level, is found through its entry point, and its
reference solutions earn full reward."""

import pytest

import llmgym
from $pkg.env import ${cls}Env
from $pkg.reward import ${cls}Reward


@pytest.mark.parametrize("level", ${cls}Env.levels)
def test_the_env_passes_check_env(level):
    llmgym.check_env(${cls}Env(level=level))


def test_the_env_and_the_reward_are_registered_through_the_entry_point():
    env = llmgym.make("$name", level=2)
    assert isinstance(env, ${cls}Env) and env.level == 2
    assert isinstance(llmgym.make_reward("$name"), ${cls}Reward)


def test_reference_solutions_score_full_reward_and_a_wrong_answer_zero():
    env = ${cls}Env()
    for task in env.tasks("eval", n=10):
        env.reset(options={"task": task})
        _, reward, terminated, _, info = env.step(env.reference(task))
        assert (reward, terminated, info["reason"]) == (1.0, True, None)
        env.reset(options={"task": task})
        _, reward, _, _, info = env.step(f"\\boxed{{{task.answer + 1}}}")
        assert (reward, info["reason"]) == (0.0, "wrong")
'''


def package_files(name: str) -> dict[str, str]:
    """The files of the package for env `name`: relative path -> text.

    >>> sorted(package_files("my_task"))[:3]
    ['README.md', 'pyproject.toml', 'src/llmgym_my_task/__init__.py']
    """
    check_name(name)
    pkg = f"llmgym_{name}"
    values = {"name": name, "pkg": pkg, "dist": distribution_name(name),
              "cls": "".join(part.capitalize() for part in name.split("_") if part)}
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"src/{pkg}/__init__.py": INIT,
             f"src/{pkg}/plugin.py": PLUGIN, f"src/{pkg}/env.py": ENV, f"src/{pkg}/reward.py": REWARD,
             f"tests/test_{name}.py": TEST}
    return {path: Template(text).substitute(values) for path, text in files.items()}


def distribution_name(name: str) -> str:
    return "llmgym-" + name.replace("_", "-")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise LLMGymError(f"env name {name!r} must be 1-40 lowercase letters, digits and underscores, starting "
                          "with a letter (it names the env, the package llmgym_NAME and the distribution "
                          "llmgym-NAME), e.g. my_task")


def write_package(name: str, out: str | Path | None = None) -> Path:
    """Write the package for env `name` into `out` (default `./llmgym-NAME`); returns the folder."""
    from .io import atomic_dir

    files = package_files(name)
    dest = Path(out) if out is not None else Path(distribution_name(name))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise LLMGymError(f"{dest} already exists and is not an empty folder: pass another --out or remove it")
    _check_free(name)
    with atomic_dir(dest) as tmp:
        for path, text in files.items():
            target = tmp / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    return dest


def _check_free(name: str) -> None:
    """A plugin registering a taken name is skipped when loaded: refuse the name now instead."""
    from .plugins import default_gym

    gym = default_gym()
    for kind in ("envs", "rewards"):
        registry = gym.registry(kind)
        if name in registry:
            raise LLMGymError(f"{registry.kind} {name!r} is already registered by {registry.spec(name).source}; "
                              "a plugin registering it again would be skipped: pick another name")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", metavar="WHAT", help="what to create: env (a plugin package with an env and a reward)")
    parser.add_argument("name", metavar="NAME", help="the env's name: lowercase letters, digits and underscores")
    parser.add_argument("--out", metavar="DIR", help="folder to write (default: ./llmgym-NAME); must not exist "
                                                     "or be empty")


def run(args: argparse.Namespace) -> int:
    if args.what not in WHAT:
        raise LLMGymError(f"llmgym new makes {', '.join(WHAT)} packages, got {args.what!r}: llmgym new env NAME")
    dest = write_package(args.name, args.out)
    files = package_files(args.name)
    print(f"wrote {dest}/: " + ", ".join(sorted(files)))
    print(f"next: pip install -e {dest} && pytest {dest}")
    return 0
