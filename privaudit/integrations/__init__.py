"""Adapters to the frameworks people really train and federate with.

Each adapter lives in its own module named for the framework (``opacus``, ``tf_privacy``,
``jax_privacy``, ``flower``, ...). An adapter translates that framework's own description of a
run (its sampling rate, noise multiplier, steps, rounds, clients) into privaudit mechanisms and
ledger entries, and reuses the clipping, noise, secure aggregation and ledger functions of
``privaudit.train`` and ``privaudit.federated`` unchanged. Rules:

- The framework is an optional extra (``pip install -e ".[opacus]"``). Only the adapter module
  imports it, and only that module: ``import privaudit`` and every other package stay free of
  it (``tests/test_architecture.py`` checks this), so the core installs and runs without it.
- Adapters depend on the core, never the reverse: only the CLI imports an adapter, and only
  inside the command that needs it.
- An adapter's tests run against the real framework and skip, saying why, where it is absent.
"""
