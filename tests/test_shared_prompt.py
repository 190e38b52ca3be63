"""The loss pass with each group's prompt computed once (llmgym.train.shared_prompt) gives TRL's
log-probabilities, entropies and gradients, and training uses it by default."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
from trl.trainer.utils import add_fused_lm_head  # noqa: E402

from llmgym.train import shared_prompt  # noqa: E402

PAD = 0


def _model(attention: str, *, checkpointing: bool = False, temperature: float = 0.7):
    config = transformers.LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                      attn_implementation=attention)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    if checkpointing:
        # transformers 5 renamed it; the old name warns
        getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)({"use_reentrant": False})
        model.config.use_cache = False
    model.train()
    add_fused_lm_head(model, temperature=temperature, outputs=("log_probs", "entropy"))
    return model


def _batch():
    """TRL's layout: two prompts of different lengths (left-padded), three completions each, in
    shuffled order, completions right-padded (mask 0 after their end)."""
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randint(1, 97, (7,), generator=g), torch.randint(1, 97, (4,), generator=g)]
    order = [0, 1, 1, 0, 0, 1]
    lengths = [5, 2, 5, 1, 4, 3]
    width, c = 7, 5
    prompt_ids = torch.full((6, width), PAD)
    prompt_mask = torch.zeros(6, width, dtype=torch.long)
    completion_ids = torch.randint(1, 97, (6, c), generator=g)
    completion_mask = torch.zeros(6, c, dtype=torch.long)
    for row, (p, n) in enumerate(zip(order, lengths)):
        prompt_ids[row, width - len(prompts[p]):] = prompts[p]
        prompt_mask[row, width - len(prompts[p]):] = 1
        completion_mask[row, :n] = 1
        completion_ids[row, n:] = PAD
    return torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1), c


def _trl_pass(model, input_ids, attention_mask, c):
    """What TRL's `_get_per_token_logps_and_entropies` does for a text batch."""
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    labels[:, :-c] = -100
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True)
    return out.log_probs[:, -c:], out.entropy[:, -c:]


def _grads(model, logps, weights):
    model.zero_grad()
    (logps * weights).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attention,checkpointing,row_tokens", [
    ("sdpa", False, shared_prompt.ROW_TOKENS), ("eager", False, shared_prompt.ROW_TOKENS),
    ("sdpa", True, shared_prompt.ROW_TOKENS),
    ("sdpa", False, 12),  # groups split over several packed rows
])
def test_packed_pass_matches_trl(attention, checkpointing, row_tokens, monkeypatch):
    import contextlib

    monkeypatch.setattr(shared_prompt, "ROW_TOKENS", row_tokens)
    model = _model(attention, checkpointing=checkpointing)
    input_ids, attention_mask, c = _batch()
    ref_logps, ref_entropy = _trl_pass(model, input_ids, attention_mask, c)
    kind = shared_prompt.MASKS[attention]
    logps, entropy = shared_prompt.shared_logps(model, input_ids, attention_mask, c, compute_entropy=True,
                                                kind=kind, autocast=contextlib.nullcontext)
    assert logps.shape == ref_logps.shape == (6, c)
    scored = attention_mask[:, -c:].bool()
    assert (logps[~scored] == 0).all() and (ref_logps[~scored] == 0).all()
    torch.testing.assert_close(logps, ref_logps, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(entropy, ref_entropy, atol=2e-5, rtol=1e-4)

    weights = torch.randn(6, c, generator=torch.Generator().manual_seed(2))
    ref = _grads(model, _trl_pass(model, input_ids, attention_mask, c)[0], weights)
    got = _grads(model, shared_prompt.shared_logps(model, input_ids, attention_mask, c, compute_entropy=False,
                                                   kind=kind, autocast=contextlib.nullcontext)[0], weights)
    assert ref.keys() == got.keys() and len(ref) > 0
    for name in ref:
        torch.testing.assert_close(got[name], ref[name], atol=1e-5, rtol=1e-4, msg=name)


def test_a_wrong_layout_is_caught_by_the_comparison():
    """The comparison above can fail: letting completions see each other changes the result."""
    import contextlib

    model = _model("sdpa")
    input_ids, attention_mask, c = _batch()
    ref_logps, _ = _trl_pass(model, input_ids, attention_mask, c)
    leaky = lambda segments, kind, dtype: (segments[:, None, :, None] >= 0) & (segments[:, None, None, :] >= 0)  # noqa: E731
    original = shared_prompt.attention_mask
    try:
        shared_prompt.attention_mask = leaky
        logps, _ = shared_prompt.shared_logps(model, input_ids, attention_mask, c, compute_entropy=False,
                                              kind="bool", autocast=contextlib.nullcontext)
    finally:
        shared_prompt.attention_mask = original
    assert not torch.allclose(logps, ref_logps, atol=1e-3)


def test_pack_layout():
    input_ids, attention_mask, c = _batch()
    packed = shared_prompt.pack(input_ids[:, :-c], attention_mask[:, :-c], input_ids[:, -c:], attention_mask[:, -c:])
    # Prompt 0 (7 tokens; rows 0, 3, 4 of 5, 1, 4 tokens): 6 shared + 10; prompt 1 (4 tokens; rows 1, 2, 5
    # of 2, 5, 3 tokens): 3 + 10, padded to 16. A completion takes only its own tokens' places.
    assert packed["input_ids"].shape == (2, 16)
    assert packed["segments"][1, 13:].lt(0).all() and packed["segments"][0].ge(0).all()
    assert packed["position_ids"][0, 6:16].tolist() == [6, 7, 8, 9, 10, 6, 6, 7, 8, 9]
    flat = torch.cat([packed["shift_labels"].reshape(-1), torch.tensor([-100])])
    completion = input_ids[:, -c:].masked_fill(attention_mask[:, -c:] == 0, -100)
    assert torch.equal(flat[packed["index"]], completion)
    assert (packed["index"][~attention_mask[:, -c:].bool()] == 2 * 16).all()  # padding: the appended zero
    # the token before each completion's first one is its prompt's last token
    ids = packed["input_ids"].reshape(-1)
    assert torch.equal(ids[packed["index"][:, 0]], input_ids[:, 6])  # prompt width 7: its last column


def test_group_rows_keeps_rows_whole_and_sizes():
    g = torch.Generator().manual_seed(3)
    prompts = torch.randint(1, 9, (2, 3), generator=g)
    order = torch.tensor([0, 1, 0, 1, 1, 0, 1, 0])
    batch = {"prompt_ids": prompts[order], "prompt_mask": torch.ones(8, 3, dtype=torch.long),
             "advantages": torch.arange(8.0), "num_items_in_batch": torch.tensor(40), "tags": list("abcdefgh")}
    chunks = [{k: (v[i * 4:(i + 1) * 4] if (isinstance(v, list) or v.ndim) else v) for k, v in batch.items()}
              for i in range(2)]
    out = shared_prompt.group_rows(chunks)
    assert [len(ch["advantages"]) for ch in out] == [4, 4]
    for ch in out:
        assert len({tuple(r.tolist()) for r in ch["prompt_ids"]}) == 1  # one prompt per micro-batch
        assert int(ch["num_items_in_batch"]) == 40
        for adv, tag, ids in zip(ch["advantages"].tolist(), ch["tags"], ch["prompt_ids"]):
            assert "abcdefgh"[int(adv)] == tag and torch.equal(ids, batch["prompt_ids"][int(adv)])
    assert sorted(a for ch in out for a in ch["advantages"].tolist()) == list(range(8))


def test_flash_attention_is_not_packed():
    model = _model("sdpa")
    model.config._attn_implementation = "flash_attention_2"
    assert "custom mask" in shared_prompt.supported(model)
    assert shared_prompt.supported(_model("eager")) is None


@pytest.fixture
def toy_half():
    import llmgym
    from test_dynamic_sampling import HalfEnv

    registry = llmgym.default_gym().registry("envs")
    if HalfEnv.name not in registry:
        registry.register(HalfEnv.name, HalfEnv, source="tests")


@pytest.mark.parametrize("micro", [None, 4])
def test_training_with_shared_prompts_makes_trls_update_in_one_row_per_group(tmp_path, toy_half, micro):
    """One GRPO step with and without --shared-prompt: the same loss and gradient norm, and the packed
    pass runs one row per group (in micro-batches of 4 = one group each, after TRL shuffled the rows)."""
    from test_dynamic_sampling import PROMPTS, run

    trl_rows, trl_counts = run(tmp_path / "trl", "off", steps=1, shared_prompt=False, micro_batch_size=micro)
    rows, counts = run(tmp_path / "shared", "off", steps=1, shared_prompt=True, micro_batch_size=micro)
    assert trl_counts[1] == 16 and counts[1] == PROMPTS  # the forward's rows: sequences, then groups
    assert rows[1]["loss"] == pytest.approx(trl_rows[1]["loss"], rel=1e-4, abs=1e-7)
    assert rows[1]["grad_norm"] == pytest.approx(trl_rows[1]["grad_norm"], rel=1e-4)
    assert rows[1]["completions/mean_length"] == trl_rows[1]["completions/mean_length"]  # the same samples
