"""The generation dtype chosen by CPU: bf16 only where this CPU runs it faster than fp32, measured
once per process; `dtype=auto` resolves to one of the two. The measurement is faked where a test
pins the decision, so no test depends on the machine it runs on."""

from __future__ import annotations

import pytest

import llmgym
from llmgym.errors import LLMGymError
from llmgym import cpu_dtype
from llmgym.policies import hf


@pytest.fixture
def fresh_decision(monkeypatch):
    """Forget the per-process answer, and claim a CPU that lists native bf16 instructions."""
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", None)
    monkeypatch.setattr(cpu_dtype, "cpu_bf16_flags", lambda cpuinfo=None: ["avx512_bf16"])


def fake_timings(monkeypatch, **seconds):
    """Make the microbenchmark report `seconds` per dtype; returns the dtypes it was asked for."""
    calls = []

    def measure(dtypes=hf.CPU_DTYPES, **kw):
        calls.extend(dtypes)
        return {d: seconds[d] for d in dtypes}

    monkeypatch.setattr(cpu_dtype, "measure_dtypes", measure)
    return calls


def test_bf16_is_chosen_where_it_measures_faster(fresh_decision, monkeypatch):
    fake_timings(monkeypatch, float32=0.010, bfloat16=0.006)
    assert hf.fast_cpu_dtype() == "bfloat16"


def test_fp32_is_kept_where_bf16_measures_slower(fresh_decision, monkeypatch):
    fake_timings(monkeypatch, float32=0.010, bfloat16=0.040)  # an AVX2-only CPU emulating bf16
    assert hf.fast_cpu_dtype() == "float32"


def test_a_small_bf16_gain_keeps_the_exact_dtype(fresh_decision, monkeypatch):
    fake_timings(monkeypatch, float32=0.010, bfloat16=0.010 / (cpu_dtype.BF16_MIN_SPEEDUP - 0.05))
    assert hf.fast_cpu_dtype() == "float32"
    assert hf.choose_cpu_dtype(1.0, 1.0 / cpu_dtype.BF16_MIN_SPEEDUP) == "bfloat16"


def test_the_decision_is_measured_once_per_process(fresh_decision, monkeypatch):
    calls = fake_timings(monkeypatch, float32=0.010, bfloat16=0.006)
    first = hf.fast_cpu_dtype()
    measured = len(calls)
    assert measured >= 2 and set(calls) == {"float32", "bfloat16"}
    assert [hf.fast_cpu_dtype() for _ in range(3)] == [first] * 3
    assert len(calls) == measured


def test_a_cpu_without_native_bf16_gets_fp32_without_measuring(monkeypatch):
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", None)
    monkeypatch.setattr(cpu_dtype, "cpu_bf16_flags", lambda cpuinfo=None: [])
    calls = fake_timings(monkeypatch, float32=0.010, bfloat16=0.001)
    assert hf.fast_cpu_dtype() == "float32" and calls == []


def test_unreadable_cpuinfo_leaves_the_decision_to_the_measurement(monkeypatch):
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", None)
    monkeypatch.setattr(cpu_dtype, "cpu_bf16_flags", lambda cpuinfo=None: None)
    fake_timings(monkeypatch, float32=0.010, bfloat16=0.005)
    assert hf.fast_cpu_dtype() == "bfloat16"


def test_cpuinfo_flags_are_read_as_whole_words():
    info = "processor : 0\nflags : fpu sse avx2 avx512f avx512_vnni amx_bf16 amx_tile\n"
    assert hf.cpu_bf16_flags(info) == ["amx_bf16"]
    assert hf.cpu_bf16_flags("flags : fpu avx512_bf16x") == []
    assert hf.cpu_bf16_flags("Features : fp asimd bf16 i8mm") == ["bf16"]  # Arm


def test_the_real_measurement_times_both_dtypes_and_restores_the_thread_count():
    import torch

    threads = torch.get_num_threads()
    seconds = hf.measure_dtypes(rounds=1)
    assert set(seconds) == {"float32", "bfloat16"} and all(0 < s < float("inf") for s in seconds.values())
    assert torch.get_num_threads() == threads


def test_auto_resolves_to_one_of_the_two_cpu_dtypes(monkeypatch):
    import torch

    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", None)  # measured for real, on whatever CPU runs this
    assert hf.resolve_dtype("auto", device="cpu") in hf.CPU_DTYPES
    assert hf.resolve_dtype("float32") == "float32" and hf.resolve_dtype("bfloat16", device="cpu") == "bfloat16"
    if not torch.cuda.is_available():
        assert hf.resolve_dtype("auto") in hf.CPU_DTYPES


def test_a_policy_saved_in_fp32_loads_in_the_dtype_auto_chose(tmp_path, monkeypatch):
    import torch

    tiny = llmgym.make_policy("tiny", hidden=32, layers=1)
    tiny.save(tmp_path / "model")
    for chosen in ("bfloat16", "float32"):
        monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", chosen)
        policy = llmgym.make_policy("hf", path=str(tmp_path / "model"), dtype="auto", device="cpu")
        assert policy.model.dtype == getattr(torch, chosen)
        assert policy.dtype == "auto"  # the option as given; the model carries the resolved dtype


def test_an_unknown_dtype_is_a_one_line_error_before_anything_loads(tmp_path):
    with pytest.raises(LLMGymError, match="fp33") as err:
        llmgym.make_policy("hf", path=str(tmp_path / "nothing-here"), dtype="fp33")
    assert "\n" not in str(err.value) and "auto" in str(err.value)


@pytest.fixture
def casts(monkeypatch):
    """Every dtype `generate` cast a copy of the model to."""
    seen = []
    real = hf.cast_copy

    def spy(model, dtype):
        seen.append(dtype)
        return real(model, dtype)

    monkeypatch.setattr(hf, "cast_copy", spy)
    return seen


def test_generation_dtype_samples_from_a_cast_copy_and_leaves_the_weights_alone(casts):
    import torch

    from llmgym.types import SamplingParams

    policy = llmgym.make_policy("tiny", hidden=32, layers=1, generation_dtype="bfloat16")
    before = {k: v.clone() for k, v in policy.model.state_dict().items()}
    out = policy.generate([[{"role": "user", "content": "1+2=?"}]], n=2,
                          params=SamplingParams(temperature=1.0, max_tokens=4, seed=0))
    assert [len(g) for g in out] == [2] and casts == [torch.bfloat16]
    after = policy.model.state_dict()
    assert policy.model.dtype == torch.float32 and all(torch.equal(before[k], after[k]) for k in before)


def test_generation_dtype_auto_casts_only_where_bf16_was_chosen(casts, monkeypatch):
    import torch

    from llmgym.types import SamplingParams

    greedy = SamplingParams(temperature=0.0, max_tokens=4)
    prompts = [[{"role": "user", "content": "1+2=?"}]]
    plain = llmgym.make_policy("tiny", hidden=32, layers=1)
    expected = plain.generate(prompts, 1, greedy)[0][0].text
    auto = llmgym.make_policy("tiny", hidden=32, layers=1, generation_dtype="auto")
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", "float32")
    assert auto.generate(prompts, 1, greedy)[0][0].text == expected and casts == []
    monkeypatch.setattr(cpu_dtype, "_FAST_CPU_DTYPE", "bfloat16")
    auto.generate(prompts, 1, greedy)
    assert casts == [torch.bfloat16]
    assert plain.generate(prompts, 1, greedy) and casts == [torch.bfloat16]  # no option: never cast


def test_the_policy_over_a_trained_model_keeps_the_generation_dtype(casts):
    import torch

    from llmgym.types import SamplingParams

    policy = llmgym.make_policy("tiny", hidden=32, layers=1, generation_dtype="bfloat16")
    trained = llmgym.make_policy("tiny", hidden=32, layers=1, seed=1).model
    evaluator = policy.with_model(trained)
    assert evaluator.generation_dtype == "bfloat16" and evaluator.model is trained
    evaluator.generate([[{"role": "user", "content": "1+2=?"}]], 1, SamplingParams(temperature=0.0, max_tokens=3))
    assert casts == [torch.bfloat16] and trained.dtype == torch.float32


def test_a_cast_copy_keeps_tied_weights_tied_and_shares_buffers():
    import torch

    model = llmgym.make_policy("tiny", hidden=32, layers=1).model
    copy = hf.cast_copy(model, torch.bfloat16)
    assert copy.dtype == torch.bfloat16 and model.dtype == torch.float32
    assert copy.lm_head.weight is copy.get_input_embeddings().weight
    assert not any(p.requires_grad for p in copy.parameters())
    assert copy.model.rotary_emb.inv_freq is model.model.rotary_emb.inv_freq
    assert torch.equal(copy.get_input_embeddings().weight, model.get_input_embeddings().weight.to(torch.bfloat16))
