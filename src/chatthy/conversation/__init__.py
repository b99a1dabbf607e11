"""The conversation core: typed messages and turn events, the engine, and its ports.

Below :mod:`chatthy.server` and :mod:`chatthy.client`, importing neither. ``model`` and
``events`` are the vocabulary every layer shares (they import nothing of chatthy's but
errors); the engine and the ports build on the store, the context and the providers.
"""
