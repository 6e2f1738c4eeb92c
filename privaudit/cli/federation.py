"""The Flower engine for ``privaudit scenario --engine flower``, loaded only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from privaudit.errors import InputError


def _require_flower() -> None:
    import importlib.util

    if importlib.util.find_spec("flwr") is None:
        raise InputError(
            "--engine", None, "flower needs the [flower] extra: pip install -e '.[flower]'"
        )


def flower_engine(superlink: str | None, say: Callable[[str], None]) -> Any:
    """A :class:`~privaudit.integrations.flower.FlowerEngine`; exit 2 without the extra."""
    _require_flower()
    from privaudit.integrations.flower.engine import FlowerEngine, check_superlink

    address = None if superlink is None else check_superlink(superlink)
    return FlowerEngine(superlink=address, say=say)


def export_silos(folder: Path, superlink: str | None, run: Callable[[Any], object]) -> list[str]:
    """Write the silo files of the scenario ``run(engine)`` trains into ``folder`` (``run`` stops
    before training) and return the lines that tell each silo what to start; exit 2 without
    the extra."""
    _require_flower()
    from privaudit.integrations.flower.engine import (
        SiloExport,
        SilosExported,
        check_superlink,
        supernode_command,
    )

    address = "SUPERLINK:8000" if superlink is None else check_superlink(superlink)
    if folder.exists() and not folder.is_dir():
        raise InputError(str(folder), None, "expected a folder for --silos-out; found a file")
    try:
        run(SiloExport(folder))
    except SilosExported as done:
        files = done.files
    else:  # pragma: no cover - every engine scenario hands its deployment to the engine
        raise InputError("--silos-out", None, "the scenario's deployment has no silos")
    lines = [f"wrote {len(files)} silo files; on each silo's machine run:"]
    for partition, (name, path) in enumerate(files.items()):
        command = supernode_command(partition, f"/path/to/{path.name}", address)
        lines.append(f"  {name} ({path}): {command}")
    return lines
