"""Flower tests skip, saying why, without the [flower] extra."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("flwr") is None:
    pytest.skip(
        "the [flower] extra is not installed (pip install -e '.[flower]')", allow_module_level=True
    )
