"""RLHF: rankings of samples, reward models fitted to them, a labeling page, and the guard that stops
a run when the policy starts fooling its learned reward ("the the the" scoring 1.0).

Pieces (each imports torch/transformers only inside the functions that need them):

- `rankings`: the JSONL format of rankings, validation, atomic appends, the pairs a ranking implies.
- `degeneracy`: text statistics (repetition, distinct-n, near-identical share) shared by the gold
  labeler and the guard.
- `simulate`: a procedural writer of candidates of mixed quality and a simulated labeler that ranks
  them by the gold preference, so the whole loop runs unattended with a measurable truth.
- `reward_model`: `llmgym rm train` (TRL `RewardTrainer`, Bradley-Terry) and batch scoring.
- `label_server`: `llmgym label`, a page on 127.0.0.1 where a person orders K samples.
- `guard`: the over-optimisation guard, a transformers `TrainerCallback`.
"""
