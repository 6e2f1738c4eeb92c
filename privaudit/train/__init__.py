"""Training to validate the accounting on real data: data loaders, federated partitioners,
numpy DP-SGD and DP-FedAvg, secure aggregation and run records.

Import the submodules (``privaudit.train.data``, ``privaudit.train.partition``, ...) directly;
this package imports nothing heavy on its own.
"""
