"""Tamperings of a ledger of five entries (the ``five`` fixture): edited, deleted and swapped
lines, each leaving every line valid JSON so that only the hash chain can tell."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from privaudit.ledger import canonical_json

TAMPER_ENTRIES = 5


def edit_line(lines: list[bytes], n: int) -> list[bytes]:
    """Change the noise multiplier on line ``n``; the line stays valid, canonical JSON."""
    obj = json.loads(lines[n - 1])
    obj["mechanism"]["noise_multiplier"] += 0.5
    return [*lines[: n - 1], canonical_json(obj) + b"\n", *lines[n:]]


def delete_line(lines: list[bytes], n: int) -> list[bytes]:
    return lines[: n - 1] + lines[n:]


def swap_lines(lines: list[bytes], n: int) -> list[bytes]:
    """Swap line ``n`` with line ``n + 1``."""
    swapped = list(lines)
    swapped[n - 1], swapped[n] = swapped[n], swapped[n - 1]
    return swapped


TAMPERINGS: list[tuple[str, Callable[[list[bytes], int], list[bytes]], int]] = [
    *(("edit", edit_line, n) for n in range(1, TAMPER_ENTRIES + 1)),
    # Deleting the last line leaves a valid, shorter chain: see test_deleting_the_last_line_...
    *(("delete", delete_line, n) for n in range(1, TAMPER_ENTRIES)),
    *(("swap", swap_lines, n) for n in range(1, TAMPER_ENTRIES)),
]
TAMPER_IDS = [f"{name}-line-{n}" for name, _, n in TAMPERINGS]
every_tampering = pytest.mark.parametrize(("name", "change", "n"), TAMPERINGS, ids=TAMPER_IDS)
"""Parametrizes a test over every tampering: ``name``, ``change`` and line ``n``."""


def tamper(path: Path, change: Callable[[list[bytes], int], list[bytes]], n: int) -> bytes:
    lines = path.read_bytes().splitlines(keepends=True)
    assert len(lines) == TAMPER_ENTRIES
    changed = b"".join(change(lines, n))
    for line in changed.splitlines():
        json.loads(line)  # every tampering keeps each line valid JSON
    path.write_bytes(changed)
    return changed
