"""The Flower engine for ``privaudit scenario --engine flower``, loaded only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
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


def silo_export(folder: Path, superlink: str | None) -> Any:
    """The engine of ``--silos-out``: writes the silo files and stops the scenario."""
    from privaudit.integrations.flower.engine import SiloExport, check_superlink

    if superlink is None:
        return SiloExport(folder)
    return SiloExport(folder, check_superlink(superlink))


def exported(error: Exception) -> list[str]:
    """The lines that tell each silo what to run, or [] when ``error`` is something else."""
    from privaudit.integrations.flower.engine import SilosExported, supernode_command

    if not isinstance(error, SilosExported):
        return []
    lines = [f"wrote {len(error.files)} silo files; on each silo's machine run:"]
    for partition, (name, path) in enumerate(error.files.items()):
        command = supernode_command(partition, f"/path/to/{path.name}", error.address)
        lines.append(f"  {name} ({path}): {command}")
    return lines
