"""Training adapters onto TRL and accelerate: `llmgym train`.

`config` holds the one `TrainConfig` (each field's help text becomes a CLI flag and a YAML key),
`data` turns an env into a dataset and TRL reward functions, `rundir` owns the run directory,
`callbacks` write metrics, samples, held-out evaluations and checkpoint markers, `algos` builds the
TRL trainers (grpo, rloo, sft) and the best-of-n loop, `tool_env` hands tool envs to GRPO's
`environment_factory`, and `command` is the CLI entry. Nothing here copies TRL's training loop:
we hand TRL data, reward functions, configs and callbacks.
"""

from .config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
