"""What the tests share: tiny models, transformers references, vLLM runners and a server.

Lives in ``tests/`` (not in the wheel): it exists to check the plugin, not to ship with it.
"""
