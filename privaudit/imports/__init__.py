"""Readers of other frameworks' privacy records (Opacus, TensorFlow Privacy, JAX Privacy).

Each turns a JSON or YAML file a user exported into an
:class:`~privaudit.imports.common.ImportedRun`: ledger-ready mechanisms and the framework's own ε.
Pure data: no framework is imported and nothing is unpickled.
"""
