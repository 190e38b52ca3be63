"""`check_env`: gymnasium's checker plus the contract llmgym adds on top of it.

Ours: determinism under a seed, the `info` keys, every reward of the rubric scoring the env's own
tasks (reference solutions and hostile text) without raising and inside its range, rewards inside the
rubric's range for hostile actions played through `step`, the reference solution earning full credit,
and train/eval disjointness on a sample. Each check is a small function; any failure raises
`EnvCheckError` saying which and why.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from typing import Sequence

from .env import RESET_INFO_KEYS, STEP_INFO_KEYS, TextEnv
from .errors import EnvCheckError, LLMGymError
from .rubric import reward_error_reason
from .types import Score, Task

# Text a policy may write, by kind: every reward must score each one (0 with a reason, typically) and
# every env must play each one as an action, whatever the task.
HOSTILE_ACTIONS = {
    "empty string": "",
    "NUL bytes": "\x00\x00\x00",
    "deeply nested \\boxed{": "\\boxed{" * 2000 + "1" + "}" * 2000,
    "unclosed \\boxed{": "\\boxed{" * 5000,
    "unbalanced braces": "}{" * 1000,
    "non-numeric answer": "The answer is \\boxed{banana}.",
    "huge exponent": "1e999999",
    "5,000-digit number": "9" * 5000,
    "1 MB string": "x" * 1_000_000,
    "tool call with bad JSON": "<tool_call>{not json</tool_call>",
    "mixed scripts": "Ответ: \\boxed{三} 🤖 ١٢٣",
}
# Tasks of each split whose reference and hostile text every reward scores directly.
REWARD_CHECK_TASKS = 3


def check_env(env: TextEnv, *, n_tasks: int = 32, seed: int = 0) -> None:
    """Raise `EnvCheckError` unless `env` honours gymnasium's API and llmgym's contract."""
    if not isinstance(env, TextEnv):
        raise EnvCheckError(f"{type(env).__name__} is not a llmgym TextEnv")
    _check_gymnasium(env)
    _check_rewards(env, seed)
    _check_reset_determinism(env, seed)
    _check_info_and_reward(env, seed)
    _check_hostile_actions(env, seed)
    _check_reference_solutions(env, seed, n_tasks)
    _check_tasks(env, seed, n_tasks)


def _fail(env: TextEnv, what: str) -> EnvCheckError:
    return EnvCheckError(f"{env.name}: {what}")


def _check_gymnasium(env: TextEnv) -> None:
    from gymnasium.utils.env_checker import check_env as gym_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gym_check_env(env, skip_render_check=True)
        except Exception as exc:
            raise _fail(env, f"gymnasium check_env failed: {type(exc).__name__}: {exc}") from exc
    # A wrapper (ToolEnv) is checked as the policy sees it, so gymnasium's advice to check
    # `env.unwrapped` instead is no finding.
    own = [w for w in caught if "gymnasium" in str(w.filename)
           and "different from the unwrapped version" not in str(w.message)]
    if own:
        raise _fail(env, f"gymnasium check_env warned: {own[0].message}")


def _check_reset_determinism(env: TextEnv, seed: int) -> None:
    ids = []
    for _ in range(2):
        obs, info = env.reset(seed=seed)
        ids.append((obs, info.get("task_id")))
    if ids[0] != ids[1]:
        raise _fail(env, "reset(seed=s) twice gave different tasks")
    drawn = {env.reset(seed=seed + i)[1]["task_id"] for i in range(8)}
    if len(drawn) == 1 and len(list(itertools.islice(env.tasks(env.split, seed=seed), 2))) > 1:
        raise _fail(env, "reset with 8 different seeds always drew the same task")


def _episode(env: TextEnv, action: str, seed: int, task: Task | None = None) -> tuple[float, dict, int]:
    """Step `action` until the episode ends; returns final reward, final info, steps taken."""
    options = {"task": task} if task is not None else None
    env.reset(seed=seed, options=options)
    lo, hi = env.reward_bounds
    for steps in range(1, 64):
        obs, reward, terminated, truncated, info = env.step(action)
        if not isinstance(reward, (int, float)) or math.isnan(reward) or not lo - 1e-9 <= reward <= hi + 1e-9:
            raise _fail(env, f"reward {reward!r} outside the rubric's range [{lo}, {hi}]")
        if not isinstance(obs, str) or not isinstance(terminated, bool) or not isinstance(truncated, bool):
            raise _fail(env, "step must return (str, float, bool, bool, dict)")
        if terminated or truncated:
            missing = [k for k in STEP_INFO_KEYS if k not in info]
            if missing:
                raise _fail(env, f"final step info lacks {missing}")
            if str(info["reason"]).startswith(reward_error_reason("")):
                raise _fail(env, f"reward {info['reason'].partition(':')[2]!r} raised on the action "
                                 f"{action[:30]!r}... (scored 0 with reason {info['reason']!r}; see the log)")
            try:
                env.step(action)
            except Exception:
                pass
            else:
                raise _fail(env, "step() after the episode ended must raise (gymnasium.error.ResetNeeded)")
            return float(reward), info, steps
    raise _fail(env, "episode did not end within 63 steps of the same action")


def _check_info_and_reward(env: TextEnv, seed: int) -> None:
    obs, info = env.reset(seed=seed)
    missing = [k for k in RESET_INFO_KEYS if k not in info]
    if missing:
        raise _fail(env, f"reset info lacks {missing}")
    if info["task_id"] != env.task.id if env.task else True:
        raise _fail(env, "reset info task_id does not match the drawn task")
    try:
        json.dumps(info["messages"])
    except (TypeError, ValueError) as exc:
        raise _fail(env, f"reset info messages are not JSON: {exc}") from exc
    reward_a, info_a, _ = _episode(env, "I do not know.", seed)
    reward_b, info_b, _ = _episode(env, "I do not know.", seed)
    if (reward_a, info_a) != (reward_b, info_b):
        raise _fail(env, "the same task and action gave different results")
    for name in env.rubric.components:
        if name not in info_a["reward_components"]:
            raise _fail(env, f"reward component {name!r} missing from info")


def _check_rewards(env: TextEnv, seed: int) -> None:
    """Score reference solutions and hostile text on tasks of each split through every reward of the
    rubric directly, not through `step` (where the rubric turns a raising reward into a 0), so that a
    reward that raises is named with the input that made it raise."""
    tasks = [t for split in ("train", "eval") for t in env.tasks(split, n=REWARD_CHECK_TASKS, seed=seed)]
    inputs: list[tuple[str, str, Task]] = []
    for task in tasks:
        ref = env.reference(task)
        if ref is not None:
            inputs.append(("reference solution", ref, task))
        inputs += [(kind, text, task) for kind, text in HOSTILE_ACTIONS.items()]
    for reward, _ in getattr(env.rubric, "entries", [(env.rubric, 1.0)]):
        _check_reward(env, reward, inputs)


def _check_reward(env: TextEnv, reward, inputs: Sequence[tuple[str, str, Task]]) -> None:
    texts, tasks = [text for _, text, _ in inputs], [task for _, _, task in inputs]
    try:
        scores = list(reward.score_batch(texts, tasks))
    except LLMGymError:
        raise
    except Exception:
        scores = None  # find which input: score them one at a time
    for i, (kind, text, task) in enumerate(inputs):
        if scores is None:
            try:
                score = reward.score_batch([text], [task])[0]
            except LLMGymError:
                raise
            except Exception as exc:
                raise _fail(env, f"reward {reward.name!r} raised {type(exc).__name__}: {str(exc)[:200]} "
                                 f"on input {kind!r} for task {task.id} (answer {task.answer!r:.80}); a reward "
                                 "must score any text against the env's own tasks") from exc
        else:
            score = scores[i] if i < len(scores) else None
        lo, hi = getattr(reward, "value_range", (0.0, 1.0))
        if not isinstance(score, Score) or math.isnan(score.value) or not lo - 1e-9 <= score.value <= hi + 1e-9:
            got = f"{score.value!r}" if isinstance(score, Score) else f"{type(score).__name__} (not a Score)"
            raise _fail(env, f"reward {reward.name!r} gave {got} on input {kind!r} for task {task.id}, "
                             f"outside its value_range [{lo}, {hi}]")


def _check_hostile_actions(env: TextEnv, seed: int) -> None:
    for kind, action in HOSTILE_ACTIONS.items():
        try:
            _episode(env, action, seed)
        except EnvCheckError:
            raise
        except Exception as exc:
            raise _fail(env, f"action {action[:30]!r}... ({kind}) raised {type(exc).__name__}: {exc}") from exc


def _check_reference_solutions(env: TextEnv, seed: int, n: int) -> None:
    hi = env.reward_bounds[1]
    for task in itertools.islice(env.tasks("train", seed=seed), min(n, 8)):
        ref = env.reference(task)
        if ref is None:
            continue
        reward, info, _ = _episode(env, ref, seed, task)
        if info["reason"] is not None or reward < hi - 1e-6 * max(1.0, abs(hi)):
            raise _fail(env, f"reference solution of task {task.id} scored {reward} "
                             f"(reason {info['reason']!r}), not the maximum {hi}")


def _check_tasks(env: TextEnv, seed: int, n: int) -> None:
    train = list(env.tasks("train", n=n, seed=seed))
    again = [t.id for t in env.tasks("train", n=n, seed=seed)]
    if [t.id for t in train] != again:
        raise _fail(env, "tasks('train', seed=s) is not deterministic")
    evals = list(env.tasks("eval", n=n, seed=seed))
    if not train or not evals:
        raise _fail(env, f"empty split: {len(train)} train and {len(evals)} eval tasks")
    overlap = {t.id for t in train} & {t.id for t in evals} | (
        {t.text for t in train} & {t.text for t in evals})
    if overlap:
        raise _fail(env, f"train and eval share tasks: {sorted(overlap)[:3]}")
    for split, tasks in (("train", train), ("eval", evals)):
        for task in tasks:
            if env.split_of(task) != split:
                raise _fail(env, f"task {task.id} came from {split} but belongs to {env.split_of(task)}")
            if Task.from_dict(json.loads(json.dumps(task.to_dict()))) != task:
                raise _fail(env, f"task {task.id} does not survive a JSON round trip")
