"""Writing files the way a compliance tool must: all or nothing, never half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from privaudit.errors import InputError


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path`` and rename: readers never see half a file.
    The file gets the permissions the umask allows, like any other new file (not 0600)."""
    if not path.parent.exists():
        raise InputError(str(path), None, f"folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(str(path), None, "is a folder; expected a file path")
    tmp = _temporary_copy(path, data, 0o666)
    try:
        tmp.replace(path)
    except OSError as error:
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    finally:
        tmp.unlink(missing_ok=True)


def create_new(path: Path, data: bytes, *, mode: int = 0o666) -> None:
    """Write a new file that must not exist yet, all or nothing: the bytes go to a temporary file
    beside ``path`` (0600 from the start, so they are never readable by others), which gets
    ``mode`` less the umask (e.g. 0o600 for a private key) and is then linked in place. Linking
    fails if ``path`` exists, so an existing file is never overwritten, even by a racing writer."""
    if not path.parent.is_dir():
        raise InputError(str(path), None, f"folder {path.parent} does not exist")
    if path.exists() or path.is_symlink():
        raise InputError(str(path), None, "already exists; refusing to overwrite it")
    tmp = _temporary_copy(path, data, mode)
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(str(path), None, "already exists; refusing to overwrite it") from None
    except OSError as error:
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _temporary_copy(path: Path, data: bytes, mode: int) -> Path:
    """``data`` in a new temporary file beside ``path`` (same file system, so it can be renamed
    or linked into place), with ``mode`` less the umask, flushed to disk; removed on failure."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    tmp = Path(name)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, mode & ~umask)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise InputError(str(path), None, f"cannot write: {_reason(error)}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _reason(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error)


def commit_folder(scratch: Path, out: Path) -> None:
    """Move every file of ``scratch`` into ``out`` (same relative paths), replacing what is
    there, then remove ``out/runs/*.json`` files that the new results do not have: the last step
    of "compute on a copy, commit on success" for commands that write a folder of results."""
    fresh = set()
    for item in sorted(scratch.rglob("*")):
        if item.is_file():
            target = out / item.relative_to(scratch)
            target.parent.mkdir(parents=True, exist_ok=True)
            item.replace(target)
            fresh.add(target)
    runs = out / "runs"
    if runs.is_dir():
        for stale in runs.glob("*.json"):
            if stale not in fresh:
                stale.unlink()


def read_input(path: str | Path) -> bytes:
    """The bytes of an input file, or an :class:`InputError` naming it and what is wrong (no such
    file, a folder, unreadable)."""
    source = str(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(source, None, "expected an existing file; found no such file") from None
    except IsADirectoryError:
        raise InputError(source, None, "expected a file; found a directory") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(source, None, f"expected a readable file; found {reason}") from None
