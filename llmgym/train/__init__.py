"""Training adapters onto TRL and accelerate: `llmgym train`.

`config` holds the one `TrainConfig` (each field's help text becomes a CLI flag and a YAML key),
`data` turns an env into a dataset and TRL reward functions, `rundir` owns the run directory,
`callbacks` write metrics, samples, held-out evaluations and checkpoint markers, `algorithm` is the
contract of an algorithm plugin (`fit(ctx: RunContext) -> FitResult`; the built-ins grpo, rloo, bon
and sft live in `llmgym.algorithms`), `algos` builds the TRL configs and trainers they share,
`tool_env` hands tool envs to GRPO's `environment_factory`, and `command` is the CLI entry. Nothing here copies TRL's training loop:
we hand TRL data, reward functions, configs and callbacks.
"""

from .config import TrainConfig, load_config

__all__ = ["TrainConfig", "load_config"]
