"""The loss pass with each group's prompt computed once (`--shared-prompt`, on by default).

A GRPO or RLOO step scores `num_generations` completions of each prompt. TRL's loss pass runs every
completion as its own sequence, prompt included: with SmolLM2 on math, ~67 prompt tokens before
each <=48-token completion, so two thirds of the loss pass's tokens are the same prompt eight
times. Here one group becomes one packed row,

    prompt[:-1] | prompt[-1] c1[:-1] | prompt[-1] c2[:-1] | ...

with a block attention mask (every token sees the shared prompt and, causally, its own segment)
and position ids that restart after the prompt, so each completion token sees exactly what it
sees in its own sequence. The hidden state of a segment's first token (the prompt's last token)
predicts the completion's first token, as the prompt's last position does in TRL's layout. The
log-probabilities and entropies are those of TRL's pass up to float rounding (RoPE attention
depends on relative positions only, so TRL's unshifted positions on left-padded rows agree too);
the gradient reaching the prompt's tokens is the sum over the group, which is what the chain rule
gives eight identical copies. tests/test_shared_prompt.py checks both against TRL's own pass, and
`benchmarks/bench_shared_prompt.py` measures what it saves.

Written here because neither TRL nor transformers shares a prompt across a batch's sequences in
training (a KV cache with gradients would, but transformers' cache objects record state that
activation recomputation would replay twice). The log-probabilities still come from TRL's fused
LM head (`shift_labels`), so temperature, soft-capping and logit scales stay TRL's.

How it hooks in, from outside TRL's loop (`install`): the trainer's `_prepare_inputs`, after TRL
shuffled a generation batch and split it into micro-batches, reorders the rows so each micro-batch
holds whole groups where it can (a stable sort by prompt; the order of micro-batches does not
change their summed gradient); `_get_per_token_logps_and_entropies` packs each micro-batch's rows
by prompt. Batches with images, MoE auxiliary losses, or attention that takes no custom mask (flash
attention) go through TRL's pass unchanged.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

# Attention implementations that read a 4D mask as given: a boolean one (sdpa) or an additive one (eager).
MASKS = {"sdpa": "bool", "eager": "additive"}
ROW_TOKENS = 1024  # most tokens of one packed row (`_rows_within`)
VOCAB_TILE = 1024  # vocabulary columns per tile of TRL's fused LM head on CPU (`_narrow_vocab_tiles`)
# TRL arguments that mark inputs this pass does not pack (images, MoE routing).
UNPACKED = ("pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes", "num_tiles",
            "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids")


def supported(model: Any) -> str | None:
    """Why `model` cannot share prompts in the loss pass, or None if it can."""
    import trl.trainer.utils as trl_utils

    if not hasattr(trl_utils, "add_fused_lm_head"):
        return "this TRL has no fused LM head (TRL >= 1.0 has one)"
    config = getattr(model, "config", None)
    attention = getattr(config, "_attn_implementation", None)
    if attention not in MASKS:
        return f"attention {attention!r} takes no custom mask (sdpa and eager do)"
    return None


def groups_of(prompt_ids: Any, prompt_mask: Any) -> list[tuple[Any, list[int]]]:
    """The distinct prompts of a left-padded batch, each as (its tokens, its rows), in order of first
    appearance.

    >>> import torch
    >>> ids = torch.tensor([[0, 5, 6], [7, 8, 9], [0, 5, 6]]); mask = torch.tensor([[0, 1, 1], [1, 1, 1], [0, 1, 1]])
    >>> [(p.tolist(), rows) for p, rows in groups_of(ids, mask)]
    [([5, 6], [0, 2]), ([7, 8, 9], [1])]
    """
    seen: dict[tuple[int, ...], int] = {}
    out: list[tuple[Any, list[int]]] = []
    for row in range(prompt_ids.shape[0]):
        tokens = prompt_ids[row][prompt_mask[row].bool()]
        key = tuple(tokens.tolist())
        if key not in seen:
            seen[key] = len(out)
            out.append((tokens, []))
        out[seen[key]][1].append(row)
    return out


def pack(prompt_ids: Any, prompt_mask: Any, completion_ids: Any, completion_mask: Any) -> dict[str, Any]:
    """One packed row per distinct prompt (the module docstring's layout; a group longer than
    `ROW_TOKENS` takes several), padded to the longest:
    `input_ids`, `position_ids`, `shift_labels` (-100 where nothing is scored), `segments` (0 for the
    prompt, k for the k-th completion, a distinct negative id per padding position) and `index`, shaped
    like `completion_ids`: where in the flattened (rows x width) output each completion token's figure
    is, or `rows x width` (one past the end: a zero the caller appends) for the padding after a
    completion's last scored token, which takes no place in the row.

    >>> import torch
    >>> out = pack(torch.tensor([[0, 5, 6], [0, 5, 6]]), torch.tensor([[0, 1, 1], [0, 1, 1]]),
    ...            torch.tensor([[7, 8], [9, 0]]), torch.tensor([[1, 1], [1, 0]]))
    >>> out["input_ids"].tolist(), out["position_ids"].tolist(), out["shift_labels"].tolist()
    ([[5, 6, 7, 6]], [[0, 1, 2, 1]], [[-100, 7, 8, 9]])
    >>> out["segments"].tolist(), out["index"].tolist()
    ([[0, 1, 1, 2]], [[1, 2], [3, 4]])
    """
    import torch

    groups = groups_of(prompt_ids, prompt_mask)
    if any(len(tokens) == 0 for tokens, _ in groups):
        raise ValueError("a prompt with no tokens has no position to predict its completion's first token from")
    # A completion's segment ends at its last scored token (at least one position).
    at = torch.arange(1, completion_mask.shape[1] + 1, device=completion_mask.device)
    spans = (completion_mask.ne(0) * at).amax(dim=1).clamp(min=1).tolist()
    groups = [(tokens, part) for tokens, rows in groups for part in _rows_within(rows, spans, len(tokens) - 1)]
    width = max(len(tokens) - 1 + sum(spans[r] for r in rows) for tokens, rows in groups)
    device = completion_ids.device
    ids = torch.zeros(len(groups), width, dtype=completion_ids.dtype, device=device)
    positions = torch.zeros(len(groups), width, dtype=torch.long, device=device)
    labels = torch.full((len(groups), width), -100, dtype=torch.long, device=device)
    segments = -1 - torch.arange(width, device=device).repeat(len(groups), 1)  # padding: a segment of its own
    index = torch.full(completion_ids.shape, len(groups) * width, dtype=torch.long, device=device)
    scored = completion_ids.masked_fill(completion_mask == 0, -100)
    for g, (tokens, rows) in enumerate(groups):
        shared = start = len(tokens) - 1
        ids[g, :shared] = tokens[:-1]
        positions[g, :shared] = torch.arange(shared, device=device)
        segments[g, :shared] = 0
        for k, row in enumerate(rows):
            n = spans[row]
            ids[g, start] = tokens[-1]
            ids[g, start + 1:start + n] = completion_ids[row, :n - 1]
            positions[g, start:start + n] = torch.arange(shared, shared + n, device=device)
            labels[g, start:start + n] = scored[row, :n]
            segments[g, start:start + n] = k + 1
            index[row, :n] = g * width + start + torch.arange(n, device=device)
            start += n
    return {"input_ids": ids, "position_ids": positions, "shift_labels": labels, "segments": segments,
            "index": index}


def _rows_within(rows: list[int], spans: list[int], shared: int) -> list[list[int]]:
    """A group's rows split into packed rows of at most `ROW_TOKENS` tokens (at least one completion
    each): a packed row's attention grows with the square of its length, and past ~1k tokens it costs
    more than the shared prompt saves.

    >>> _rows_within([0, 1, 2], [400, 400, 400], 100)
    [[0, 1], [2]]
    """
    parts: list[list[int]] = []
    used = ROW_TOKENS
    for row in rows:
        if used + spans[row] > ROW_TOKENS:
            parts.append([])
            used = shared
        parts[-1].append(row)
        used += spans[row]
    return parts


def attention_mask(segments: Any, kind: str, dtype: Any) -> Any:
    """The (rows, 1, length, length) mask: a query sees keys at or before it that are in its own
    segment or in the shared prompt (segment 0). `kind` "bool" (True: attend) or "additive"
    (0 or the dtype's lowest value)."""
    import torch

    at = torch.arange(segments.shape[1], device=segments.device)
    causal = at[None, :] <= at[:, None]
    query, key = segments[:, :, None], segments[:, None, :]
    allowed = (causal[None] & ((key == query) | (key == 0)))[:, None]
    if kind == "bool":
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill(~allowed, torch.finfo(dtype).min)


def shared_logps(model: Any, input_ids: Any, attention_mask_2d: Any, logits_to_keep: int, *,
                 compute_entropy: bool, kind: str, autocast: Any) -> tuple[Any, Any]:
    """Per-token log-probabilities (and entropies, else None) of the last `logits_to_keep` tokens of
    each row of TRL's (prompt | completion) batch, in TRL's shapes, from one packed pass."""
    import torch

    c = logits_to_keep
    packed = pack(input_ids[:, :-c], attention_mask_2d[:, :-c], input_ids[:, -c:], attention_mask_2d[:, -c:])
    dtype = next(model.parameters()).dtype
    mask = attention_mask(packed["segments"], kind, dtype if dtype.is_floating_point else torch.float32)
    with autocast(), _narrow_vocab_tiles(packed["input_ids"].device):
        out = model(input_ids=packed["input_ids"], attention_mask=mask, position_ids=packed["position_ids"],
                    shift_labels=packed["shift_labels"], fused_lm_head=True)
    index = packed["index"]
    zero = out.log_probs.new_zeros(1)  # what `index` points padding at
    logps = torch.cat([out.log_probs.reshape(-1), zero])[index]
    entropy = torch.cat([out.entropy.reshape(-1), zero])[index] if compute_entropy else None
    return logps, entropy


@contextlib.contextmanager
def _narrow_vocab_tiles(device: Any) -> Iterator[None]:
    """Without Triton (CPU), TRL's fused LM head folds each (tokens x 32,768 vocabulary columns) tile
    with whole-tile torch temporaries, about eight of them in backward: for a packed row of 450 tokens
    ~0.5 GB. Tiles `VOCAB_TILE` columns wide hold the same sums (it accumulates over tiles) in an
    eighth of that. TRL reads the width when the forward runs and keeps it for the backward."""
    import trl.trainer.utils as trl_utils

    if device.type in ("cuda", "xpu") or not hasattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE"):
        yield
        return
    before = trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE
    trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = min(before, VOCAB_TILE)
    try:
        yield
    finally:
        trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = before


def group_rows(batches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TRL's micro-batches of one generation batch, their rows reordered so each holds whole groups
    where it can: a stable sort by prompt, the same number and sizes of micro-batches. Tensors and
    lists with one entry per row move with their row; 0-d tensors and None stay."""
    import torch

    if len(batches) < 2:
        return batches
    sizes = [_rows(b) for b in batches]
    if len(set(sizes)) != 1 or "prompt_ids" not in batches[0]:
        return batches
    joined: dict[str, Any] = {}
    for key, first in batches[0].items():
        if isinstance(first, torch.Tensor) and first.ndim > 0:
            joined[key] = torch.cat([b[key] for b in batches])
        elif isinstance(first, list):
            joined[key] = [x for b in batches for x in b[key]]
        else:
            joined[key] = first
    rows = [r for _, rs in groups_of(joined["prompt_ids"], joined["prompt_mask"]) for r in rs]
    size = sizes[0]
    out = []
    for i in range(len(batches)):
        mine = rows[i * size:(i + 1) * size]
        chunk: dict[str, Any] = {}
        for key, value in joined.items():
            if isinstance(value, torch.Tensor) and value.ndim > 0:
                chunk[key] = value[torch.tensor(mine, device=value.device)]
            elif isinstance(value, list):
                chunk[key] = [value[r] for r in mine]
            else:
                chunk[key] = value
        out.append(chunk)
    return out


def _rows(batch: dict[str, Any]) -> int:
    return int(batch["prompt_ids"].shape[0]) if "prompt_ids" in batch else -1


def install(trainer: Any) -> str | None:
    """Make `trainer` (TRL's GRPO or RLOO) share prompts in its loss pass; returns why not, or None."""
    why = supported(trainer.model)
    if why is not None:
        return why
    kind = MASKS[trainer.model.config._attn_implementation]
    original_logps = trainer._get_per_token_logps_and_entropies
    original_prepare = trainer._prepare_inputs

    def get_per_token_logps_and_entropies(model: Any, input_ids: Any, attention_mask: Any, logits_to_keep: int,
                                          batch_size: int | None = None, compute_entropy: bool = False,
                                          compute_aux_loss: bool = False, **extra: Any) -> Any:
        if compute_aux_loss or any(extra.get(k) is not None for k in UNPACKED):
            return original_logps(model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size,
                                  compute_entropy=compute_entropy, compute_aux_loss=compute_aux_loss, **extra)
        import torch

        size = batch_size or input_ids.shape[0]
        logps, entropies = [], []
        for start in range(0, input_ids.shape[0], size):
            lp, ent = shared_logps(model, input_ids[start:start + size], attention_mask[start:start + size],
                                   logits_to_keep, compute_entropy=compute_entropy, kind=kind,
                                   autocast=trainer.accelerator.autocast)
            logps.append(lp)
            entropies.append(ent)
        return torch.cat(logps), (torch.cat(entropies) if compute_entropy else None), None

    def prepare_inputs(generation_batch: Any) -> Any:
        before = trainer._buffered_inputs
        inputs = original_prepare(generation_batch)
        if trainer.model.training and trainer._buffered_inputs is not before and trainer._buffered_inputs:
            trainer._buffered_inputs = group_rows(trainer._buffered_inputs)
            inputs = trainer._buffered_inputs[trainer._step % trainer.args.steps_per_generation]
        return inputs

    trainer._get_per_token_logps_and_entropies = get_per_token_logps_and_entropies
    trainer._prepare_inputs = prepare_inputs
    return None
