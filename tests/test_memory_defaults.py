"""The default run of a pretrained policy fits in about 2 GB: all weights with Adafactor (no momentum,
factored second moments), micro-batches of one group (its prompt computed once) and activation recomputation, with the same update as one
pass over the step's batch; `--lora` trains an adapter on frozen weights (bf16 where the CPU runs it
faster). A tiny model keeps the plain settings. See docs/training.md, "Memory"."""

from __future__ import annotations

import pytest

import train_toy
from llmgym.train.algos import micro_batches
from llmgym.train.config import LORA_LR_SCALE, MICRO_BATCH_SIZE, TrainConfig
from llmgym.train.run import train

TINY = "tiny:hidden=32,layers=1"


@pytest.fixture(autouse=True)
def toy_envs():
    train_toy.register()


def test_a_pretrained_policy_trains_all_weights_in_micro_batches_with_recomputation():
    cfg = TrainConfig(env="math").resolved(is_tiny=False)
    # A micro-batch is one group, run as one packed row with its prompt once (llmgym.train.shared_prompt).
    assert (cfg.lora, cfg.gradient_checkpointing, cfg.micro_batch_size) == (False, True, cfg.num_generations)
    assert TrainConfig(env="math", shared_prompt=False).resolved(is_tiny=False).micro_batch_size == MICRO_BATCH_SIZE
    assert TrainConfig(env="math", algo="sft").resolved(is_tiny=False).micro_batch_size == MICRO_BATCH_SIZE
    assert cfg.optimizer == "adafactor" and cfg.learning_rate == pytest.approx(2e-6)
    lora = TrainConfig(env="math", lora=True).resolved(is_tiny=False)
    assert lora.learning_rate == pytest.approx(2e-6 * LORA_LR_SCALE)  # the adapter's rate, not all weights'
    assert cfg.base_dtype == "auto"
    assert cfg.eval_samples > 1 and cfg.eval_temperature == cfg.temperature


def test_a_tiny_model_keeps_all_weights_one_pass_and_greedy_evaluation():
    cfg = TrainConfig(env="math", policy="tiny").resolved(is_tiny=True)
    assert (cfg.lora, cfg.gradient_checkpointing, cfg.micro_batch_size, cfg.optimizer) == (False, False, None, "adamw")
    assert (cfg.eval_samples, cfg.eval_temperature) == (1, 0.0)


def test_flags_override_every_memory_default():
    cfg = TrainConfig(env="math", lora=False, gradient_checkpointing=False, micro_batch_size=16,
                      learning_rate=3e-6, optimizer="adamw").resolved(is_tiny=False)
    assert (cfg.lora, cfg.gradient_checkpointing, cfg.micro_batch_size, cfg.learning_rate) == (False, False, 16, 3e-6)
    assert cfg.optimizer == "adamw"


def test_micro_batches_always_add_up_to_the_steps_batch():
    for per_device in (1, 2, 6, 16, 17, 32):
        for micro in (None, 1, 3, 4, 64):
            size, count = micro_batches(per_device, micro)
            assert size * count == per_device and size <= (micro or per_device)


def test_the_default_settings_reach_trl_and_train_through_the_same_code_path(tmp_path):
    """A tiny model run with the settings a pretrained policy gets by default, with `--lora` on bf16 frozen weights:
    TRL sees the step's 16 sequences in micro-batches of the default size, recomputation on, the default
    optimizer, a peft adapter over bf16 weights; final/ is a plain fp32 model."""
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback

    defaults = TrainConfig(env="toyadd").resolved(is_tiny=False)
    seen = {}

    class Spy(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kw):
            seen.setdefault("args", (args.per_device_train_batch_size, args.gradient_accumulation_steps,
                                     bool(getattr(args, "activation_checkpointing", None)
                                          or getattr(args, "gradient_checkpointing", None)), getattr(args.optim, "value", args.optim)))
            seen.setdefault("optimizer", type(kw["optimizer"].optimizer if hasattr(kw["optimizer"], "optimizer")
                                              else kw["optimizer"]).__name__)
            seen.setdefault("peft", hasattr(model, "peft_config"))
            frozen = {p.dtype for p in model.parameters() if not p.requires_grad and p.is_floating_point()}
            trained = {p.dtype for p in model.parameters() if p.requires_grad}
            seen.setdefault("dtypes", (frozen, trained))

    out = tmp_path / "run"
    summary = train(TrainConfig(env="toyadd", policy=TINY, algo="grpo", steps=2, out=str(out), save_every=0,
                                eval_tasks=4, eval_every=0, max_completion_length=8, train_tasks=32,
                                num_generations=8, prompts_per_step=2, lora=True, lora_r=4,
                                gradient_checkpointing=defaults.gradient_checkpointing,
                                micro_batch_size=defaults.micro_batch_size, base_dtype="bfloat16",
                                optimizer=defaults.optimizer,
                                eval_samples=defaults.eval_samples, eval_temperature=defaults.eval_temperature),
                    callbacks=[Spy()])
    micro = defaults.micro_batch_size
    assert seen["args"] == (micro, 16 // micro, True, "adafactor") and seen["peft"]
    assert seen["optimizer"] == "Adafactor"
    assert seen["dtypes"] == ({torch.bfloat16}, {torch.float32})
    assert summary["steps"] == 2 and summary["after"]["samples"] == defaults.eval_samples
    final = AutoModelForCausalLM.from_pretrained(out / "final")
    assert {p.dtype for p in final.parameters()} == {torch.float32}
    assert not any("lora" in name for name in final.state_dict())


def test_frozen_embeddings_stay_put_while_every_block_learns_with_recomputation(tmp_path):
    """A pretrained policy's default (`train_embeddings` off): the tied embedding/output matrix keeps its
    values, the blocks after it still get gradients through recomputation, and Adafactor steps them."""
    # An sft run: every step has a gradient (a tiny model's GRPO groups often all score alike).
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback

    defaults = TrainConfig(env="toyadd").resolved(is_tiny=False)
    assert defaults.train_embeddings is False
    assert TrainConfig(env="toyadd", policy="tiny").resolved(is_tiny=True).train_embeddings is True
    start = {}

    class Snapshot(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kw):
            start.update({n: p.detach().clone() for n, p in model.named_parameters()})
            start["trainable"] = {n for n, p in model.named_parameters() if p.requires_grad}

    out = tmp_path / "run"
    train(TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=2, out=str(out), save_every=0, eval_tasks=0,
                      train_tasks=32, batch_size=8, learning_rate=1e-2, gradient_checkpointing=True,
                      micro_batch_size=defaults.micro_batch_size, optimizer=defaults.optimizer,
                      train_embeddings=False), callbacks=[Snapshot()])
    final = dict(AutoModelForCausalLM.from_pretrained(out / "final").named_parameters())
    embedding = next(n for n in final if "embed_tokens" in n)
    assert embedding not in start["trainable"]
    assert torch.equal(final[embedding], start[embedding])
    blocks = [n for n in start["trainable"] if ".layers." in n]
    assert blocks and all(not torch.equal(final[n], start[n]) for n in blocks if n.endswith("proj.weight"))


def _tiny_llama():
    """The tiny policy's model (tied embeddings), two layers of 32: a fresh copy with the same weights each call."""
    from llmgym.policies.tiny import build_model, build_tokenizer

    return build_model(build_tokenizer(), hidden=32, layers=2)


def test_flat_gradients_live_in_one_buffer_per_step_and_sum_as_plain_ones_do():
    import torch

    from llmgym.memory import flat_gradients

    batches = [torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(i)) for i in range(2)]

    def frozen_embeddings():
        model = _tiny_llama()
        model.get_input_embeddings().weight.requires_grad_(False)  # no gradient, as by default
        return model

    def accumulate(model):
        for ids in batches:  # two micro-batches of one optimizer step
            model(input_ids=ids, labels=ids).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}

    def storages(params):
        return {p.grad.untyped_storage().data_ptr() for p in params}

    expected = accumulate(frozen_embeddings())
    model = frozen_embeddings()
    trained = [p for p in model.parameters() if p.requires_grad]
    handle = flat_gradients(model)
    with torch.no_grad():
        model(input_ids=batches[0])  # sampling allocates nothing
    assert all(p.grad is None for p in model.parameters())
    got = accumulate(model)
    assert got.keys() == expected.keys() and all(torch.equal(got[n], expected[n]) for n in expected)
    assert len(storages(trained)) == 1  # every gradient is a view of one buffer, just their size
    assert trained[0].grad.untyped_storage().nbytes() == sum(p.numel() for p in trained) * 4
    assert model.get_input_embeddings().weight.grad is None
    model.zero_grad(set_to_none=True)  # what the trainer does after the optimizer step
    model(input_ids=batches[0], labels=batches[0]).loss.backward()
    assert len(storages(trained)) == 1  # the next step's buffer
    handle.remove()
    model.zero_grad(set_to_none=True)
    model(input_ids=batches[0], labels=batches[0]).loss.backward()
    assert len(storages(trained)) == len(trained)  # PyTorch's own again


def test_a_parameter_no_backward_pass_reaches_gets_no_gradient_as_without_the_buffer():
    """A zero gradient would still move AdamW's momentum and decay the weight: `release_untouched`
    (the trainer calls it before each optimizer step) leaves None where PyTorch leaves None."""
    import torch

    from llmgym.memory import flat_gradients

    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    after = {}
    for flat in (False, True):
        model = _tiny_llama()
        torch.manual_seed(1)
        model.unused = torch.nn.Linear(4, 4)  # trainable, outside the forward pass
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        hooks = flat_gradients(model) if flat else None
        for _ in range(2):
            model(input_ids=ids, labels=ids).loss.backward()
            if hooks is not None:
                assert model.unused.weight.grad is not None  # a zero view of the buffer until released
                assert hooks.release_untouched() == 2
            assert model.unused.weight.grad is None and model.unused.bias.grad is None
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        after[flat] = model.state_dict()
    assert all(torch.equal(after[False][k], after[True][k]) for k in after[False])


def test_a_parameter_unfrozen_after_the_buffer_was_installed_keeps_its_gradient():
    import torch

    from llmgym.memory import flat_gradients

    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    model = _tiny_llama()
    embeddings = model.get_input_embeddings().weight
    embeddings.requires_grad_(False)
    hooks = flat_gradients(model)
    embeddings.requires_grad_(True)  # a callback unfreezing a layer mid-run
    model(input_ids=ids, labels=ids).loss.backward()
    assert hooks.release_untouched() == 0
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0


def test_adafactor_state_made_before_the_first_step_is_the_state_the_step_would_make():
    import torch
    from transformers.optimization import Adafactor

    from llmgym.memory import eager_optimizer_state

    ids = torch.randint(0, 64, (2, 12), generator=torch.Generator().manual_seed(0))
    after = {}
    for eager in (False, True):
        model = _tiny_llama()
        model.get_input_embeddings().weight.requires_grad_(False)
        optimizer = Adafactor([p for p in model.parameters()], lr=1e-2, scale_parameter=False, relative_step=False,
                              warmup_init=False)  # as TrainingArguments' optim=adafactor builds it
        if eager:
            trained = sum(p.requires_grad for p in model.parameters())
            assert eager_optimizer_state(optimizer) == trained
            assert eager_optimizer_state(optimizer) == 0  # state that exists (a resumed run's) is kept
        for _ in range(2):
            model(input_ids=ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        after[eager] = (model.state_dict(), optimizer.state_dict()["state"])
    (weights, state), (eager_weights, eager_state) = after[False], after[True]
    assert all(torch.equal(weights[k], eager_weights[k]) for k in weights)
    assert state.keys() == eager_state.keys()
    for index, entries in state.items():
        for key, value in entries.items():
            other = eager_state[index][key]
            assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other
    assert eager_optimizer_state(torch.optim.AdamW(_tiny_llama().parameters())) == 0  # only Adafactor's


def test_a_run_with_the_lean_memory_layout_makes_the_same_update_bit_for_bit(tmp_path, monkeypatch):
    """In one CPU process the trainer gives gradients one buffer a step and makes Adafactor's state
    before the first step; `LLMGYM_FLAT_GRADIENTS=0` and `LLMGYM_EAGER_OPTIMIZER_STATE=0` turn them off.
    Two sft steps in micro-batches with recomputation end on the same weights either way."""
    import torch
    from transformers import AutoModelForCausalLM, TrainerCallback

    defaults = TrainConfig(env="toyadd").resolved(is_tiny=False)
    seen: dict[str, dict] = {}

    class Spy(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kw):
            inner = getattr(optimizer, "optimizer", optimizer)
            seen[run].setdefault("state before step 1", len(inner.state))

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            grads = [p.grad for p in model.parameters() if p.requires_grad]
            seen[run].setdefault("gradient storages", len({g.untyped_storage().data_ptr() for g in grads}))

    finals = {}
    for run, value in (("lean", None), ("plain", "0")):
        seen[run] = {}
        for name in ("LLMGYM_FLAT_GRADIENTS", "LLMGYM_EAGER_OPTIMIZER_STATE"):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        out = tmp_path / run
        train(TrainConfig(env="toyadd", policy=TINY, algo="sft", steps=2, out=str(out), save_every=0, eval_tasks=0,
                          train_tasks=32, batch_size=8, learning_rate=1e-2, gradient_checkpointing=True,
                          micro_batch_size=4, optimizer=defaults.optimizer, train_embeddings=False),
              callbacks=[Spy()])
        finals[run] = AutoModelForCausalLM.from_pretrained(out / "final").state_dict()
    trained = sum(1 for k in finals["lean"] if "embed_tokens" not in k and "lm_head" not in k)
    assert seen["lean"] == {"state before step 1": trained, "gradient storages": 1}
    assert seen["plain"]["state before step 1"] == 0 and seen["plain"]["gradient storages"] > 1
    assert all(torch.equal(finals["lean"][k], finals["plain"][k]) for k in finals["plain"])
