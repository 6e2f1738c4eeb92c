"""Download MNIST's four IDX files from public mirrors, keeping only verified copies.

Each file is tried on each mirror in turn. A download streams into a temporary file beside the
target (``.NAME.*.part``), capped in size, and is renamed to its final name only when the SHA-256
of the bytes received equals the expected one; otherwise the temporary file is deleted and the
next mirror tried. So the destination never holds a partial or unverified file under a data
set's name, and a file already there with the expected checksum is not downloaded again.

The checksums in :data:`MNIST_SHA256` are those of the canonical gzipped files (the ones in
``../shared/data/mnist``); their uncompressed contents have the official MD5 sums in
:data:`MNIST_IDX_MD5`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import IO, Final

from privaudit.errors import InputError, describe_value

__all__ = [
    "DEFAULT_MIRRORS",
    "DEFAULT_TIMEOUT",
    "MAX_DOWNLOAD_BYTES",
    "MNIST_IDX_MD5",
    "MNIST_SHA256",
    "fetch_mnist",
]

DEFAULT_MIRRORS: Final = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://yann.lecun.com/exdb/mnist/",
)
"""Public MNIST mirrors, tried in this order (PyTorch's, TensorFlow's, the original site)."""

MNIST_SHA256: Final[Mapping[str, str]] = MappingProxyType(
    {
        "train-images-idx3-ubyte.gz": (
            "7ff28fd295f802eefc6d40e461175dfe4b969b1842b2abc8c6dc8c20711cf79f"
        ),
        "train-labels-idx1-ubyte.gz": (
            "81a978ae83d39ffdba0db3ce2fcaf80a8921e9629e874428996a2b03242d4b2a"
        ),
        "t10k-images-idx3-ubyte.gz": (
            "197e111ae341b0770be9011ac5e622d0e6cd1c640b32eb0de5dc1dd26cc6e182"
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b"
        ),
    }
)
"""SHA-256 of the canonical gzipped MNIST files, by file name."""

MNIST_IDX_MD5: Final[Mapping[str, str]] = MappingProxyType(
    {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    }
)
"""The official MD5 sums of the uncompressed MNIST IDX files."""

MAX_DOWNLOAD_BYTES: Final = 20 * 1024 * 1024
"""Largest file accepted from a mirror (the largest MNIST file is 9.9 MB gzipped)."""
DEFAULT_TIMEOUT: Final = 30.0
"""Seconds a connection or a read may stall; a whole download may take 10 times as long."""

_ARGUMENT: Final = "<argument>"
_FILE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_CHUNK: Final = 1 << 16
_USER_AGENT: Final = "privaudit (MNIST fetch)"


class _AttemptFailed(Exception):
    """One mirror could not deliver one verified file; the message says why."""


def fetch_mnist(
    dest: Path,
    *,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    expected: Mapping[str, str] = MNIST_SHA256,
    progress: Callable[[str], None] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
) -> dict[str, str]:
    """Download each file of ``expected`` (name → SHA-256) into the folder ``dest``.

    Mirrors are base URLs (``http`` or ``https``); a file's URL is the base joined with its
    name. ``progress`` receives one line per step (for a CLI to print on stderr). Returns the
    SHA-256 of every file now in ``dest``, by name. Raises :class:`InputError` listing every URL
    tried and why it failed when no mirror delivers a file with the expected checksum.
    """
    bases = _mirrors(mirrors)
    wanted = _expected(expected)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
        raise InputError(
            _ARGUMENT, "max_bytes", f"expected an integer ≥ 1; found {describe_value(max_bytes)}"
        )
    if not (isinstance(timeout, int | float) and 0 < timeout < float("inf")):
        raise InputError(
            _ARGUMENT, "timeout", f"expected seconds > 0; found {describe_value(timeout)}"
        )
    say = progress if progress is not None else _quiet
    folder = Path(dest)
    if folder.exists() and not folder.is_dir():
        raise InputError(str(folder), None, "is a file; expected a folder for the MNIST files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(str(folder), None, f"cannot create: {_reason(error)}") from None
    # Built per call, so proxy settings are read from the environment now.
    opener = urllib.request.build_opener()
    opener.addheaders = [("User-Agent", _USER_AGENT)]
    result: dict[str, str] = {}
    for name, digest in wanted.items():
        target = folder / name
        if target.is_file() and _file_sha256(target) == digest:
            say(f"{name}: already present and verified")
            result[name] = digest
            continue
        tried: list[str] = []
        for base in bases:
            url = urllib.parse.urljoin(base, name)
            say(f"{name}: downloading {url}")
            try:
                _download(opener, url, target, digest, timeout=float(timeout), max_bytes=max_bytes)
            except _AttemptFailed as failure:
                tried.append(f"{url} ({failure})")
                say(f"{name}: {url} failed: {failure}")
                continue
            say(f"{name}: verified (sha256 {digest})")
            result[name] = digest
            break
        else:
            raise InputError(
                str(target),
                None,
                f"expected a copy with SHA-256 {digest}; found none: tried " + "; ".join(tried),
            )
    return result


def _download(
    opener: urllib.request.OpenerDirector,
    url: str,
    target: Path,
    digest: str,
    *,
    timeout: float,
    max_bytes: int,
) -> None:
    """Stream ``url`` into a temporary file beside ``target``; rename it there only if verified."""
    try:
        handle, temporary = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as error:
        raise InputError(str(target.parent), None, f"cannot write: {_reason(error)}") from None
    part = Path(temporary)
    try:
        with os.fdopen(handle, "wb") as sink:
            received = _receive(opener, url, sink, timeout=timeout, max_bytes=max_bytes)
            sink.flush()
            os.fsync(sink.fileno())
        found = _file_sha256(part)
        if found != digest:
            raise _AttemptFailed(f"wrong SHA-256 {found} of the {received} bytes received")
        umask = os.umask(0)
        os.umask(umask)
        part.chmod(0o666 & ~umask)
        part.replace(target)
    except _AttemptFailed:
        part.unlink(missing_ok=True)
        raise
    except OSError as error:  # writing, not the network: no other mirror would help
        part.unlink(missing_ok=True)
        raise InputError(str(target), None, f"cannot write: {_reason(error)}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _receive(
    opener: urllib.request.OpenerDirector,
    url: str,
    sink: IO[bytes],
    *,
    timeout: float,
    max_bytes: int,
) -> int:
    """Copy the body of ``url`` into ``sink``; any network problem becomes ``_AttemptFailed``."""
    deadline = time.monotonic() + 10 * timeout
    try:
        with opener.open(url, timeout=timeout) as response:
            final = urllib.parse.urlsplit(response.geturl()).scheme
            if final not in {"http", "https"}:
                raise _AttemptFailed(f"redirected to a {final} URL")
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise _AttemptFailed(f"{int(length)} bytes announced; the cap is {max_bytes}")
            received = 0
            while True:  # ends: each pass returns, raises, or adds ≥ 1 byte of ≤ max_bytes
                chunk = response.read(min(_CHUNK, max_bytes + 1 - received))
                if not chunk:
                    return received
                received += len(chunk)
                if received > max_bytes:
                    raise _AttemptFailed(f"more than the cap of {max_bytes} bytes")
                try:
                    sink.write(chunk)
                except OSError as error:
                    raise _WriteError(error) from None
                if time.monotonic() > deadline:
                    raise _AttemptFailed(f"took longer than {10 * timeout:g} s")
    except urllib.error.HTTPError as error:
        error.close()
        raise _AttemptFailed(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _AttemptFailed(_reason(error.reason)) from None
    except _WriteError as error:
        raise error.cause from None
    except (TimeoutError, http.client.HTTPException, OSError) as error:
        raise _AttemptFailed(_reason(error) or type(error).__name__) from None


class _WriteError(Exception):
    """A local write failed while downloading; carries the OSError past the network handlers."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _mirrors(mirrors: Sequence[str]) -> list[str]:
    if isinstance(mirrors, str) or not mirrors:
        raise InputError(
            _ARGUMENT, "mirrors", f"expected a list of base URLs; found {describe_value(mirrors)}"
        )
    bases: list[str] = []
    for k, mirror in enumerate(mirrors):
        parts = urllib.parse.urlsplit(str(mirror))
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise InputError(
                _ARGUMENT,
                f"mirrors[{k}]",
                f"expected an http(s) base URL; found {describe_value(mirror)}",
            )
        bases.append(str(mirror) if str(mirror).endswith("/") else f"{mirror}/")
    return bases


def _expected(expected: Mapping[str, str]) -> dict[str, str]:
    if not expected:
        raise InputError(_ARGUMENT, "expected", "expected at least one file name and checksum")
    wanted: dict[str, str] = {}
    for name, digest in expected.items():
        if not (isinstance(name, str) and _FILE_NAME.fullmatch(name)):
            raise InputError(
                _ARGUMENT, "expected", f"expected plain file names; found {describe_value(name)}"
            )
        value = str(digest).lower()
        if not _HEX64.fullmatch(value):
            raise InputError(
                _ARGUMENT,
                f"expected.{name}",
                f"expected a SHA-256 (64 hex digits); found {describe_value(digest)}",
            )
        wanted[name] = value
    return wanted


def _reason(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _quiet(_: str) -> None:
    return None
