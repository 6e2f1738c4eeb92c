"""Tests of the MNIST downloader (privaudit.data.fetch) against a local HTTP server on
127.0.0.1 serving generated IDX files: verified download, fallback past a corrupted mirror,
the all-fail error, the size cap, and no partial file left behind. No other network access."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from privaudit.data.fetch import DEFAULT_MIRRORS, MNIST_SHA256, fetch_mnist
from privaudit.data.loaders import load_mnist
from privaudit.errors import InputError
from tests.data.idx_files import gz, tiny_mnist

FILES = {f"{name}.gz": gz(data) for name, (_, data) in tiny_mnist().items()}
EXPECTED = {name: hashlib.sha256(data).hexdigest() for name, data in FILES.items()}


def corrupted(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x55]) + data[middle + 1 :]


@dataclass
class Mirrors:
    """What the local server serves (URL path → bytes) and the paths it was asked for."""

    port: int
    content: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def url(self, prefix: str) -> str:
        return f"http://127.0.0.1:{self.port}/{prefix}/"

    def serve(self, prefix: str, files: dict[str, bytes]) -> str:
        for name, data in files.items():
            self.content[f"/{prefix}/{name}"] = data
        return self.url(prefix)


@pytest.fixture
def mirrors(monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirrors]:
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = Mirrors(port=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                state.requests.append(self.path)
                body = state.content.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            if not self.path.startswith("/unannounced/"):  # else the body ends when we close
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def contents(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_download_verifies_and_loads(mirrors: Mirrors, tmp_path: Path) -> None:
    good = mirrors.serve("good", FILES)
    dest = tmp_path / "data" / "mnist"
    lines: list[str] = []
    result = fetch_mnist(dest, mirrors=[good], expected=EXPECTED, progress=lines.append, timeout=5)
    assert result == EXPECTED
    assert contents(dest) == sorted(FILES)  # nothing else: no temporary files
    for name, data in FILES.items():
        assert (dest / name).read_bytes() == data
    train, test = load_mnist(tmp_path / "data")
    assert len(train) == 10 and len(test) == 10
    np.testing.assert_array_equal(train.y, np.arange(10))
    assert any("verified" in line for line in lines)

    # Verified files are not downloaded again.
    mirrors.requests.clear()
    assert fetch_mnist(dest, mirrors=[good], expected=EXPECTED, timeout=5) == EXPECTED
    assert mirrors.requests == []


def test_corrupted_mirror_is_refused_and_the_next_one_used(
    mirrors: Mirrors, tmp_path: Path
) -> None:
    bad = mirrors.serve("bad", {name: corrupted(data) for name, data in FILES.items()})
    good = mirrors.serve("good", FILES)
    lines: list[str] = []
    result = fetch_mnist(
        tmp_path, mirrors=[bad, good], expected=EXPECTED, progress=lines.append, timeout=5
    )
    assert result == EXPECTED
    assert contents(tmp_path) == sorted(FILES)
    for name, data in FILES.items():
        assert (tmp_path / name).read_bytes() == data
    # Each file: the corrupted mirror first, then the good one.
    assert mirrors.requests == [f"/{prefix}/{name}" for name in FILES for prefix in ("bad", "good")]
    assert sum("SHA-256" in line and "failed" in line for line in lines) == len(FILES)


def test_all_mirrors_failing_is_one_error_listing_what_was_tried(
    mirrors: Mirrors, tmp_path: Path
) -> None:
    bad = mirrors.serve("bad", {name: corrupted(data) for name, data in FILES.items()})
    missing = mirrors.url("missing")
    closed = f"http://127.0.0.1:{closed_port()}/"
    dest = tmp_path / "mnist"
    with pytest.raises(InputError) as caught:
        fetch_mnist(dest, mirrors=[bad, missing, closed], expected=EXPECTED, timeout=5)
    first = next(iter(FILES))
    message = str(caught.value)
    assert caught.value.source == str(dest / first)
    assert (
        f"{bad}{first} (wrong SHA-256 " in message
        and f"SHA-256 {EXPECTED[first]}; found none" in message
    )
    assert f"{missing}{first} (HTTP 404" in message
    assert f"{closed}{first} (" in message
    assert "\n" not in message
    assert contents(dest) == []  # nothing partial, nothing unverified


def test_a_later_failure_keeps_earlier_verified_files_and_no_partial_ones(
    mirrors: Mirrors, tmp_path: Path
) -> None:
    names = list(FILES)
    good = mirrors.serve("good", {name: FILES[name] for name in names[:2]})
    with pytest.raises(InputError, match="HTTP 404"):
        fetch_mnist(tmp_path, mirrors=[good], expected=EXPECTED, timeout=5)
    assert contents(tmp_path) == sorted(names[:2])


@pytest.mark.parametrize(
    ("prefix", "words"),
    [("good", "announced; the cap is 1000"), ("unannounced", "more than the cap of 1000 bytes")],
)
def test_size_cap(mirrors: Mirrors, tmp_path: Path, prefix: str, words: str) -> None:
    good = mirrors.serve(prefix, FILES)
    largest = max(FILES, key=lambda name: len(FILES[name]))
    with pytest.raises(InputError, match=words) as caught:
        fetch_mnist(
            tmp_path,
            mirrors=[good],
            expected={largest: EXPECTED[largest]},
            max_bytes=1000,
            timeout=5,
        )
    assert caught.value.source == str(tmp_path / largest)
    assert contents(tmp_path) == []


def test_an_unverified_existing_file_is_replaced(mirrors: Mirrors, tmp_path: Path) -> None:
    good = mirrors.serve("good", FILES)
    name = next(iter(FILES))
    (tmp_path / name).write_bytes(b"not the file")
    fetch_mnist(tmp_path, mirrors=[good], expected={name: EXPECTED[name]}, timeout=5)
    assert (tmp_path / name).read_bytes() == FILES[name]
    assert mirrors.requests == [f"/good/{name}"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"mirrors": ["file:///etc/"]}, "mirrors[0]"),
        ({"mirrors": []}, "mirrors"),
        ({"mirrors": "https://example.org/"}, "mirrors"),
        ({"expected": {"../escape.gz": "0" * 64}}, "expected"),
        ({"expected": {"a.gz": "xyz"}}, "expected.a.gz"),
        ({"max_bytes": 0}, "max_bytes"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    tmp_path: Path, arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        fetch_mnist(tmp_path / "never", **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert not (tmp_path / "never").exists()


def test_defaults_name_the_canonical_files_and_https_mirrors() -> None:
    assert set(MNIST_SHA256) == {
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    }
    assert all(mirror.startswith("https://") and mirror.endswith("/") for mirror in DEFAULT_MIRRORS)
    data = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"
    if not data.is_dir():
        pytest.skip(f"real data not available: {data} is absent")
    for name, digest in MNIST_SHA256.items():
        assert hashlib.sha256((data / name).read_bytes()).hexdigest() == digest
