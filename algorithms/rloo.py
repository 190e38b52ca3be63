"""`rloo`: TRL's RLOOTrainer on the env's train prompts, scored by the env's rubric.

What it really is: REINFORCE with a leave-one-out baseline. Each prompt is sampled
`num_generations` times and a completion's advantage is its reward minus the mean reward of the
group's other completions, an unbiased baseline with no value network. `beta > 0` adds a KL penalty
towards the starting weights. Tool envs need GRPO's `environment_factory`, which RLOO lacks.
"""

from __future__ import annotations

from .grpo import GRPO


class RLOO(GRPO):
    """GRPO's run through TRL's RLOO config and trainer (`GRPO.fit`), without tools."""

    name = "rloo"
    trl_config = "trl:RLOOConfig"
    trl_trainer = "trl:RLOOTrainer"
    trains_tool_envs = False
    flat_groups_add_nothing = ()  # RLOO averages per sequence: leaving rows out changes the mean
