"""Centralised training to validate the accounting on real data: numpy DP-SGD (per-example
clipping, Gaussian noise, Poisson / shuffled / fixed batches), the models it trains, feature
maps, and the runs behind ``privaudit train`` that charge a ledger as they go.

Import the submodules (``privaudit.train.dpsgd``, ``privaudit.train.models``, ...) directly;
this package imports nothing heavy on its own.
"""
