"""`tiny`: a small Llama built from a config with a character-level tokenizer, built in code.

No download, no pretrained weights: the weights are drawn from a seed. It exists for tests and for
the from-scratch demo (pretrain-free tiny model -> `sft` -> `grpo`). The tokenizer is a
`PreTrainedTokenizerFast` over single characters plus ChatML special tokens, so TRL treats it like
any other chat tokenizer: `apply_chat_template`, padding, EOS at `<|im_end|>`.

>>> tok = build_tokenizer()
>>> tok.decode(tok("2+3=5")["input_ids"])
'2+3=5'
"""

from __future__ import annotations

import string
from typing import Any

from .hf import HFPolicy

SPECIALS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
# Printable ASCII plus newline and a few symbols math prompts use; anything else maps to <unk>.
CHARS = sorted(set(string.printable) - set("\x0b\x0c\r") | set("×÷−"))
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tokenizer() -> Any:
    """A character-level fast tokenizer with a ChatML chat template (about 100 tokens)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIALS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>",
                                  eos_token="<|im_end|>", bos_token="<|im_start|>",
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = CHAT_TEMPLATE
    tok.padding_side = "left"
    return tok


def build_model(tokenizer: Any, *, hidden: int = 128, layers: int = 4, heads: int = 4, seed: int = 0,
                max_positions: int = 1024) -> Any:
    """A randomly initialised `LlamaForCausalLM` sized for CPU tests (~0.8 M parameters by default)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=heads, max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def tiny(hidden: int = 128, layers: int = 4, heads: int = 4, seed: int = 0, **kwargs: Any) -> HFPolicy:
    """The `tiny` policy: a fresh small Llama and character tokenizer (see module docstring)."""
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, hidden=int(hidden), layers=int(layers), heads=int(heads), seed=int(seed))
    return HFPolicy(model=model, tokenizer=tokenizer, name="tiny", **kwargs)
