"""The base of ``privaudit check --base``: a ledger file, or ``git:REV`` read from the git
repository that holds the ledger, verified as a ledger of its own.

git runs with an argument list (never a shell), in the ledger's repository, with the revision
checked before it reaches git and resolved once to a commit id so every later call reads the
same snapshot.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from privaudit.errors import InputError, LedgerIntegrityError
from privaudit.ledger import GENESIS, Ledger, parse_ledger, read_ledger

OPTION = "--base"
GIT_PREFIX = "git:"
_GIT_TIMEOUT = 60.0
_MAX_REVISION = 256


@dataclass(frozen=True, slots=True)
class Base:
    """A verified base ledger and where it came from."""

    source: str
    """As ``--base`` named it: a path or ``git:REV``."""
    ledger: Ledger
    missing: bool
    """``git:REV`` without the ledger in it (the change adds the ledger): an empty base."""
    path: Path | None
    """The base file, when the base is a file (an output must not overwrite it)."""


def read_base(value: str, ledger_path: Path) -> Base:
    """The base ``--base`` names, verified; an :class:`InputError` naming ``--base`` (exit 2)
    when it cannot be read or is not a ledger."""
    if value.startswith(GIT_PREFIX):
        return _git_base(value, value[len(GIT_PREFIX) :], ledger_path)
    path = Path(value)
    if not path.exists():
        # read_ledger's hint ("the first append creates it") is for the gated ledger, not a base.
        raise InputError(OPTION, value, "no such file; expected a ledger file or git:REV")
    return Base(value, _verified(value, lambda: read_ledger(path)), missing=False, path=path)


def _verified(source: str, read: Callable[[], Ledger]) -> Ledger:
    # A base that is not a ledger, or whose own chain is broken, cannot say what the change
    # did: that is bad input to the comparison (exit 2), whatever the gated ledger holds.
    try:
        return read()
    except InputError as error:
        raise InputError(OPTION, source, f"is not a ledger: {error}") from None
    except LedgerIntegrityError as error:
        raise InputError(
            OPTION, source, f"is not a valid ledger (its own hash chain is broken): {error}"
        ) from None


def check_revision(revision: str) -> None:
    """Refuse what git could read as an option, and what is not one revision name."""
    problem = None
    if not revision:
        problem = "expected git:REV with a revision (a branch, tag or commit); found none"
    elif len(revision) > _MAX_REVISION:
        problem = f"the revision is longer than {_MAX_REVISION} characters"
    elif revision.startswith("-"):
        problem = "a revision must not start with '-' (git would read it as an option)"
    elif any(char.isspace() or not char.isprintable() for char in revision):
        problem = "a revision must not contain whitespace or control characters"
    elif ":" in revision:
        # REV:PATH is built here; a ':' in REV would name another path or a search.
        problem = "a revision must not contain ':'"
    if problem:
        raise InputError(OPTION, GIT_PREFIX + revision, problem)


def _git_base(source: str, revision: str, ledger_path: Path) -> Base:
    check_revision(revision)
    git = shutil.which("git")
    if git is None:
        raise InputError(OPTION, source, "git is not installed (needed to read git:REV)")
    folder = ledger_path.resolve().parent
    if not folder.is_dir():
        raise InputError(OPTION, source, f"the ledger's folder {folder} does not exist")
    done = _git(git, folder, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise InputError(
            OPTION, source, f"{folder} is not in a git repository ({_said(done.stderr)})"
        )
    top = Path(os.fsdecode(done.stdout).rstrip("\n")).resolve()
    try:
        inside = ledger_path.resolve().relative_to(top).as_posix()
    except ValueError:
        raise InputError(
            OPTION, source, f"the ledger is not inside the git repository {top}"
        ) from None
    # Resolve once to a commit id: the path lookup and the read then see the same snapshot.
    done = _git(
        git, top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}"
    )
    if done.returncode != 0:
        raise InputError(OPTION, source, f"unknown revision {revision!r} in repository {top}")
    commit = os.fsdecode(done.stdout).strip()
    done = _git(
        git, top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{commit}:{inside}"
    )
    if done.returncode != 0:
        # The ledger is new in this change: before it, nothing was released on its datasets.
        empty = Ledger(Path(source), (), GENESIS, hashlib.sha256(b"").hexdigest())
        return Base(source, empty, missing=True, path=None)
    blob = os.fsdecode(done.stdout).strip()
    done = _git(git, top, "cat-file", "blob", blob)
    if done.returncode != 0:
        raise InputError(OPTION, source, f"{inside} is not a file at revision {revision!r}")
    data = done.stdout
    return Base(
        source, _verified(source, lambda: parse_ledger(data, source)), missing=False, path=None
    )


def _git(git: str, folder: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        return subprocess.run(
            [git, "-C", str(folder), *args],
            capture_output=True,
            env=env,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise InputError(OPTION, None, "git is not installed (needed to read git:REV)") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise InputError(OPTION, None, f"could not run git: {error}") from None


def _said(stderr: bytes) -> str:
    """git's own first line of complaint, for the one-line error."""
    lines = os.fsdecode(stderr).strip().splitlines()
    return lines[0].removeprefix("fatal: ") if lines else "git said nothing"
