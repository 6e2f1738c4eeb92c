"""The Flower engine for ``privaudit scenario --engine flower``, loaded only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from privaudit.errors import InputError


def flower_engine(superlink: str | None, say: Callable[[str], None]) -> Any:
    """A :class:`~privaudit.integrations.flower.FlowerEngine`; exit 2 without the extra."""
    import importlib.util

    if importlib.util.find_spec("flwr") is None:
        raise InputError(
            "--engine", None, "flower needs the [flower] extra: pip install -e '.[flower]'"
        )
    from privaudit.integrations.flower.engine import FlowerEngine, check_superlink

    address = None if superlink is None else check_superlink(superlink)
    return FlowerEngine(superlink=address, say=say)
