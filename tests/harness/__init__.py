"""What the tests share: tiny models (``models``), AWQ / GPTQ checkpoints in the public layouts
(``public_checkpoints``), transformers references (``reference``), the ways vLLM is run
(``runners``: one in-process ``LLM()`` runner, one subprocess runner), the greedy + perplexity
check of the low-bit and parallel tests (``greedy_ppl``) and ``vllm serve`` (``server``).

Lives in ``tests/`` (not in the wheel): it exists to check the plugin, not to ship with it.
"""
