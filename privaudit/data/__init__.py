"""Data for validation runs: strict loaders of the public data sets (MNIST IDX, scikit-learn's
digits, MTSamples, credit-card fraud) with their provenance, the MNIST downloader, and the
partitioners that split a data set across federated clients.

Import the submodules (``privaudit.data.loaders``, ``privaudit.data.fetch``,
``privaudit.data.partition``) directly; this package imports nothing on its own.
"""
