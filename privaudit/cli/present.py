"""How the command line shows things: results on stdout (text or JSON), progress on stderr,
tables in aligned columns, and numbers rounded the way that never flatters a privacy claim."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def emit(text: str) -> None:
    """One result line (or block) on stdout, newline-terminated."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout; NaN and infinities are refused, not printed."""
    emit(json.dumps(data, indent=2, allow_nan=False))


def progress_line(line: str) -> None:
    """One progress line on stderr, so that stdout stays the result alone."""
    sys.stderr.write(line + "\n")


def status_line(line: str, *, log: bool) -> None:
    """A status that changes often (an epoch's accuracy): one line rewritten in place on a
    terminal; elsewhere one line per update if ``log`` (a CI log), or nothing."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r{line}   ")
    elif log:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def clear_status_line() -> None:
    """Erase the terminal's status line, so that the next line starts clean."""
    if sys.stderr.isatty():
        sys.stderr.write("\r\033[K")


def end_status_line() -> None:
    """Keep the terminal's last status line and move below it."""
    if sys.stderr.isatty():
        sys.stderr.write("\n")


class Progress:
    """A simple progress bar on stderr for grids: redrawn in place on a terminal (grids of more
    than one configuration), one line per tenth of the grid otherwise (grids of more than 10)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.tenths = -1

    def __call__(self, done: int, total: int) -> None:
        if total <= 1 or not (self.tty or total > 10):
            return
        if self.tty:
            filled = 30 * done // total
            end = "\n" if done >= total else ""
            self.stream.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} configurations{end}"
            )
        elif 10 * done // total > self.tenths:
            self.tenths = 10 * done // total
            self.stream.write(f"privaudit: plan: {done}/{total} configurations accounted\n")
        self.stream.flush()


def table(lines: list[list[str]], marks: list[str]) -> list[str]:
    """``lines`` (a header, then one per row) in left-aligned columns two spaces apart, each row
    followed by its mark (``"  <- recommended"`` or ``""``)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rendered = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    return [rendered[0].rstrip()] + [
        (line.rstrip() + mark) for line, mark in zip(rendered[1:], marks, strict=True)
    ]
