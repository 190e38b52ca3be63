"""Thin layers that hand llmgym's envs to other trainers, each over the same env contract:

- `llmgym.adapters.verl`: `compute_score` for verl's `custom_reward_function` (and the batch form for
  its `batch` reward manager), in process or through `llmgym serve`;
- `llmgym.adapters.trl`: TRL reward functions, prompt datasets and `environment_factory` for any env
  (also importable as `llmgym.reward_functions`, `llmgym.prompt_dataset`, `llmgym.environment_factory`);
- `llmgym.adapters.verifiers`: `load_environment` for any env, as verifiers' Environment API loads it;
- `llmgym.adapters.export`: `llmgym export`, an env's train/eval split in verl's parquet or OpenRLHF's
  prompt JSONL format.

docs/scale-out.md has a complete config for each engine.
"""

from __future__ import annotations

import threading
from typing import Any

_envs: dict[str, Any] = {}
_envs_lock = threading.Lock()


def env_of(env: Any) -> Any:
    """An env object as it is, or the env a spec names (`"math:level=3"`), built once per process."""
    if not isinstance(env, str):
        return env
    with _envs_lock:
        if env not in _envs:
            from llmgym.plugins import default_gym

            _envs[env] = default_gym().make_env(env)
        return _envs[env]
