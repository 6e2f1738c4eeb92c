"""Data sets for validation runs: MNIST, scikit-learn's digits, MTSamples and credit-card fraud.

Every loader returns frozen :class:`Dataset` values whose ``provenance`` names each file read
with the SHA-256 of its bytes as read (the ``.gz`` bytes for a gzipped file), so a run record
can show exactly which data it saw. Files are parsed, never imported or unpickled: IDX headers
are checked field by field and the pixels read with :func:`numpy.frombuffer`; CSV files go
through the :mod:`csv` module or :func:`numpy.loadtxt`. Any problem with a file is one
:class:`~privaudit.errors.InputError` line naming the file, the field and what was expected.

A *data folder* is laid out as ``../shared/data`` is::

    DATA/mnist/train-images-idx3-ubyte.gz   (and the other three IDX files; .gz or plain)
    DATA/mtsamples/mtsamples.csv.gz         (or mtsamples.csv)
    DATA/creditcard/creditcard.csv.gz       (or creditcard.csv)

Each loader also accepts the data set's own folder (``DATA/mnist``) in place of ``DATA``. With
no data folder, :func:`load_digits` (bundled with scikit-learn) is the embedded default.

Images are scaled to [0, 1] by a constant (1/255 for MNIST, 1/16 for digits), never by
statistics of the data, which would leak information about the whole data set into every
record's features.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import importlib.metadata
import io
import warnings
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from privaudit.errors import InputError, describe_value

__all__ = [
    "CREDITCARD_COLUMNS",
    "DIGITS_SEED",
    "MNIST_FILES",
    "MTSAMPLES_COLUMNS",
    "Dataset",
    "Split",
    "load_creditcard",
    "load_digits",
    "load_mnist",
    "load_mtsamples",
    "read_idx",
    "resolve_data_dir",
    "text_groups",
]

MNIST_FILES: Final = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four classic MNIST IDX files (each may be stored gzipped, with ``.gz`` appended)."""

MTSAMPLES_COLUMNS: Final = (
    "note_id",
    "description",
    "medical_specialty",
    "sample_name",
    "transcription",
    "keywords",
)
CREDITCARD_COLUMNS: Final = ("Time", *(f"V{k}" for k in range(1, 29)), "Amount", "Class")
DIGITS_SEED: Final = 20240601
"""Seed of the fixed stratified 80/20 split of the digits data set."""
DIGITS_TEST_FRACTION: Final = 0.2

_IDX_UNSIGNED_BYTE: Final = 0x08
_IDX_HEADER: Final = 4
_MNIST_IMAGE_MAGIC: Final = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_MNIST_LABEL_MAGIC: Final = 2049  # 0x00000801: unsigned bytes, 1 dimension
_MNIST_SIDE: Final = 28
_MNIST_CLASSES: Final = tuple(str(digit) for digit in range(10))
_READ_CHUNK: Final = 1 << 24
_LISTED: Final = 12
_GZIP_MAGIC: Final = b"\x1f\x8b"


@dataclass(frozen=True, eq=False)
class Dataset:
    """One labelled data set (or one split of it), as a plain, immutable value.

    ``x`` holds float32 features: images as ``(n, 28, 28)`` or ``(n, 8, 8)`` in [0, 1], tabular
    rows as ``(n, features)``; a text data set has ``x`` of shape ``(n, 0)`` and its documents
    in ``texts``. ``y`` holds int64 labels, indices into ``classes``. ``provenance`` maps each
    file read to the SHA-256 of its bytes, plus ``"source"`` (what the data is and where it was
    read from) and any settings that shaped it (a split's seed). ``feature_names`` names the
    columns of tabular ``x``.

    The arrays are read-only views: transform them into new arrays, never in place.
    """

    name: str
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    classes: tuple[str, ...]
    provenance: dict[str, str]
    texts: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.x.dtype != np.float32:
            raise ValueError(f"x must be float32; found {self.x.dtype}")
        if self.y.dtype != np.int64 or self.y.ndim != 1:
            raise ValueError(f"y must be a 1-D int64 array; found {self.y.ndim}-D {self.y.dtype}")
        if self.x.ndim < 2 or len(self.x) != len(self.y):
            raise ValueError(
                f"x must hold one row per label; found {self.x.shape} for {len(self.y)}"
            )
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise ValueError(f"labels must index classes (0..{len(self.classes) - 1})")
        if self.texts is not None and len(self.texts) != len(self.y):
            raise ValueError(f"texts must hold one text per label; found {len(self.texts)}")
        if self.feature_names is not None and (
            self.x.ndim != 2 or len(self.feature_names) != self.x.shape[1]
        ):
            raise ValueError(f"feature_names must name the {self.x.shape[1:]} columns of x")
        for name in ("x", "y"):
            view = getattr(self, name).view()
            view.setflags(write=False)
            object.__setattr__(self, name, view)
        object.__setattr__(self, "provenance", dict(self.provenance))

    def __len__(self) -> int:
        return len(self.y)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, indices: npt.ArrayLike, name: str | None = None) -> Dataset:
        """The records at ``indices`` (e.g. one client's partition), as a new data set."""
        index = np.asarray(indices, dtype=np.int64)
        texts = None if self.texts is None else tuple(self.texts[int(i)] for i in index)
        return Dataset(
            name=self.name if name is None else name,
            x=self.x[index],
            y=self.y[index],
            classes=self.classes,
            provenance=self.provenance,
            texts=texts,
            feature_names=self.feature_names,
        )


class Split(NamedTuple):
    """A training set and its held-out test set."""

    train: Dataset
    test: Dataset


def resolve_data_dir(path: Path | str | None) -> Path | None:
    """The absolute data folder, or None (use the embedded digits) when no folder is given.

    A given folder must exist; it holds ``mnist/``, ``mtsamples/``, ``creditcard/`` (any of
    them), or is one of those folders itself.
    """
    if path is None:
        return None
    folder = Path(path).expanduser()
    if not folder.exists():
        raise InputError(str(path), None, "data folder does not exist")
    if not folder.is_dir():
        raise InputError(
            str(path), None, "is a file; expected a folder holding mnist/, mtsamples/, creditcard/"
        )
    return folder.resolve()


# --- IDX (MNIST) -------------------------------------------------------------------------------


def read_idx(path: Path, *, ndim: int) -> tuple[npt.NDArray[np.uint8], str]:
    """An IDX file of unsigned bytes with ``ndim`` dimensions, and the SHA-256 of its bytes.

    The file is gzipped when its name ends in ``.gz``. The header is checked strictly: two zero
    bytes, type 0x08 (unsigned byte), ``ndim`` dimensions, and a file exactly as long as the
    header plus the product of the dimensions. The IDX format: LeCun et al., "The MNIST
    database of handwritten digits", http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS").
    """
    source = str(path)
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    header_size = _IDX_HEADER + 4 * ndim
    magic_expected = (_IDX_UNSIGNED_BYTE << 8) | ndim
    if path.name.endswith(".gz"):
        stream = _GzipStream(raw, source)
        header = stream.read(header_size)
    else:
        if raw[:2] == _GZIP_MAGIC:
            raise InputError(
                source,
                "header.magic",
                f"expected {magic_expected}; found gzip data in a file not named .gz",
            )
        header = raw[:header_size]
    if len(header) < header_size:
        raise InputError(
            source,
            "size",
            f"expected a {header_size}-byte IDX header; found a {len(header)}-byte file",
        )
    magic = int.from_bytes(header[:4], "big")
    if magic != magic_expected:
        raise InputError(
            source,
            "header.magic",
            f"expected {magic_expected} (0x{magic_expected:08x}: unsigned bytes, {ndim} "
            f"dimension{'s' if ndim > 1 else ''}); found {magic} (0x{magic:08x})",
        )
    dims = tuple(
        int.from_bytes(header[_IDX_HEADER + 4 * k : _IDX_HEADER + 4 * k + 4], "big")
        for k in range(ndim)
    )
    body_size = int(np.prod(dims, dtype=np.int64)) if dims else 1
    if path.name.endswith(".gz"):
        body = stream.read_body(body_size)
        found = header_size + len(body)
    else:
        body = raw[header_size:]
        found = len(raw)
    if len(body) != body_size:
        shape = " × ".join(str(d) for d in dims)
        unit = " uncompressed" if path.name.endswith(".gz") else ""
        found_text = f"{found} (truncated)" if len(body) < body_size else "more (trailing bytes)"
        raise InputError(
            source,
            "size",
            f"expected {header_size + body_size} bytes{unit} (header {header_size} + "
            f"{shape} values); found {found_text}",
        )
    array = np.frombuffer(body, dtype=np.uint8).reshape(dims)
    return array, digest


class _GzipStream:
    """Bounded reads of a gzip member: never inflate more than the header says, plus a byte."""

    def __init__(self, raw: bytes, source: str) -> None:
        self._file = gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb")
        self._source = source

    def read(self, size: int) -> bytes:
        parts: list[bytes] = []
        remaining = size
        try:
            while remaining > 0:
                chunk = self._file.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break
                parts.append(chunk)
                remaining -= len(chunk)
        except (OSError, EOFError, zlib.error) as error:
            problem = "truncated gzip data" if isinstance(error, EOFError) else str(error)
            raise InputError(self._source, None, f"is not a valid gzip file ({problem})") from None
        return b"".join(parts)

    def read_body(self, size: int) -> bytes:
        # One byte more than expected: finding it means the file is too long; not finding it
        # means the gzip trailer (CRC-32 and length) has been read and checked.
        return self.read(size + 1)


def load_mnist(data_dir: Path) -> Split:
    """MNIST from its four IDX files (gzipped or not): 60,000 training and 10,000 test images.

    ``x`` is ``(n, 28, 28)`` float32 in [0, 1] (pixel / 255), ``y`` the digit. Checks: the IDX
    magic numbers (2051 images, 2049 labels), 28 × 28 images, as many labels as images, labels
    0–9, exact file sizes. ``provenance`` records the SHA-256 of each file as read.
    """
    folder = _dataset_folder(data_dir, "mnist", MNIST_FILES[0])
    paths = [_find_file(folder, name) for name in MNIST_FILES]
    train = _mnist_part("mnist-train", paths[0], paths[1], folder)
    test = _mnist_part("mnist-test", paths[2], paths[3], folder)
    return Split(train, test)


def _mnist_part(name: str, images_path: Path, labels_path: Path, folder: Path) -> Dataset:
    images, images_sha = read_idx(images_path, ndim=3)
    if images.shape[1:] != (_MNIST_SIDE, _MNIST_SIDE):
        raise InputError(
            str(images_path),
            "header.dimensions",
            f"expected {_MNIST_SIDE} × {_MNIST_SIDE} images; "
            f"found {images.shape[1]} × {images.shape[2]}",
        )
    labels, labels_sha = read_idx(labels_path, ndim=1)
    if len(labels) != len(images):
        raise InputError(
            str(labels_path),
            "header.count",
            f"expected {len(images)} labels, one per image in {images_path.name}; "
            f"found {len(labels)}",
        )
    if len(labels) and int(labels.max()) > 9:
        index = int(np.argmax(labels > 9))
        raise InputError(
            str(labels_path),
            f"labels[{index}]",
            f"expected a digit 0–9; found {int(labels[index])}",
        )
    return Dataset(
        name=name,
        x=images.astype(np.float32) / np.float32(255.0),
        y=labels.astype(np.int64),
        classes=_MNIST_CLASSES,
        provenance={
            images_path.name: images_sha,
            labels_path.name: labels_sha,
            "source": f"MNIST (LeCun, Cortes & Burges), IDX files in {folder}",
        },
    )


# --- digits (bundled with scikit-learn) --------------------------------------------------------


def load_digits(*, seed: int = DIGITS_SEED, test_fraction: float = DIGITS_TEST_FRACTION) -> Split:
    """scikit-learn's bundled 8 × 8 digits (1,797 images), with a fixed stratified split.

    ``x`` is ``(n, 8, 8)`` float32 in [0, 1] (value / 16). Each class is shuffled with
    ``numpy.random.default_rng(seed)`` and ``round(test_fraction · count)`` of it held out;
    indices keep their original order within each split. Needs no data folder.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(
            "<argument>",
            "test_fraction",
            f"expected a number in (0, 1); found {describe_value(test_fraction)}",
        )
    # Imported by name: scikit-learn ships no type information, and it is slow to import.
    sklearn_datasets = importlib.import_module("sklearn.datasets")
    sklearn_version = importlib.metadata.version("scikit-learn")
    bunch = sklearn_datasets.load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    labels = np.asarray(bunch.target, dtype=np.int64)
    x = (images / 16.0).astype(np.float32)
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        count = round(test_fraction * len(members))
        test_parts.append(rng.permutation(members)[:count])
    test_mask = np.zeros(len(labels), dtype=bool)
    test_mask[np.concatenate(test_parts)] = True
    provenance = {
        "source": f"scikit-learn {sklearn_version} bundled digits (UCI optical recognition "
        "of handwritten digits, test set)",
        "split": f"stratified, test fraction {test_fraction:g}",
        "seed": str(seed),
    }
    bundled = _sklearn_digits_file()
    if bundled is not None:
        provenance[bundled.name] = hashlib.sha256(bundled.read_bytes()).hexdigest()
    classes = tuple(str(int(label)) for label in bunch.target_names)
    train_index, test_index = np.flatnonzero(~test_mask), np.flatnonzero(test_mask)
    return Split(
        Dataset("digits-train", x[train_index], labels[train_index], classes, provenance),
        Dataset("digits-test", x[test_index], labels[test_index], classes, provenance),
    )


def _sklearn_digits_file() -> Path | None:
    from importlib import resources

    try:
        candidate = resources.files("sklearn.datasets.data").joinpath("digits.csv.gz")
    except ModuleNotFoundError:  # pragma: no cover - a scikit-learn with another layout
        return None
    path = Path(str(candidate))
    return path if path.is_file() else None


# --- MTSamples ---------------------------------------------------------------------------------


def load_mtsamples(data_dir: Path) -> Dataset:
    """MTSamples medical transcriptions (4,999 notes) labelled by ``medical_specialty``.

    ``texts`` are the transcriptions as in the file (33 are empty); labels are the specialties
    with surrounding whitespace removed, ``classes`` sorted by name; ``x`` is ``(n, 0)``.
    The columns must be exactly ``note_id, description, medical_specialty, sample_name,
    transcription, keywords``. Many notes appear more than once under different specialties
    (see :func:`text_groups`).
    """
    folder = _dataset_folder(data_dir, "mtsamples", "mtsamples.csv")
    path = _find_file(folder, "mtsamples.csv")
    source = str(path)
    raw = _read_bytes(path)
    text = _decode(_decompressed(raw, path), source)
    limit = min(max(len(text) + 1, csv.field_size_limit()), 2**31 - 1)
    previous = csv.field_size_limit(limit)  # the module-wide default stops at 131,072 characters
    try:
        rows = _csv_rows(text, source)
    finally:
        csv.field_size_limit(previous)
    _check_header(rows[0] if rows else [], MTSAMPLES_COLUMNS, source)
    specialty = MTSAMPLES_COLUMNS.index("medical_specialty")
    transcription = MTSAMPLES_COLUMNS.index("transcription")
    specialties: list[str] = []
    texts: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(MTSAMPLES_COLUMNS):
            raise InputError(
                source,
                f"record {number}",
                f"expected {len(MTSAMPLES_COLUMNS)} fields; found {len(row)}",
            )
        label = row[specialty].strip()
        if not label:
            raise InputError(
                source, f"record {number}: medical_specialty", "expected a specialty; found none"
            )
        specialties.append(label)
        texts.append(row[transcription])
    if not texts:
        raise InputError(source, None, "expected at least one note; found only the header")
    classes = tuple(sorted(set(specialties)))
    index = {name: k for k, name in enumerate(classes)}
    distinct = len({t for t in texts if t})
    return Dataset(
        name="mtsamples",
        x=np.zeros((len(texts), 0), dtype=np.float32),
        y=np.array([index[name] for name in specialties], dtype=np.int64),
        classes=classes,
        provenance={
            path.name: hashlib.sha256(raw).hexdigest(),
            "source": f"MTSamples medical transcription samples (Kaggle), {path}",
            "empty_texts": str(sum(1 for t in texts if not t)),
            "distinct_texts": str(distinct),
        },
        texts=tuple(texts),
    )


def text_groups(texts: Sequence[str]) -> npt.NDArray[np.int64]:
    """Group ids: equal non-empty texts share an id, every other text has its own.

    In MTSamples one note is often listed under several specialties; split, partition and
    count privacy units by group, or copies of one note land on both sides of a split.
    """
    ids: dict[str, int] = {}
    groups = np.empty(len(texts), dtype=np.int64)
    next_id = 0
    for k, text in enumerate(texts):
        if text and text in ids:
            groups[k] = ids[text]
            continue
        groups[k] = next_id
        if text:
            ids[text] = next_id
        next_id += 1
    return groups


# --- credit-card fraud -------------------------------------------------------------------------


def load_creditcard(data_dir: Path) -> Dataset:
    """Credit-card fraud (ULB / Worldline; Dal Pozzolo et al., 2015): 284,807 transactions.

    ``x`` holds the 30 columns ``Time, V1..V28, Amount`` as float32 (unscaled), ``y`` is 1 for
    fraud (``Class`` "1") and 0 otherwise. The header must be exactly
    ``Time, V1..V28, Amount, Class``; every value must be a finite number and every class 0 or 1.
    """
    folder = _dataset_folder(data_dir, "creditcard", "creditcard.csv")
    path = _find_file(folder, "creditcard.csv")
    source = str(path)
    raw = _read_bytes(path)
    # Parsed as a stream (decompressed and decoded in chunks): the whole file as one string would
    # take several times its 150 MB. Error paths decode it whole to point at the bad line.
    binary: gzip.GzipFile | io.BytesIO = (
        gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb")
        if path.name.endswith(".gz")
        else io.BytesIO(raw)
    )
    try:
        with io.TextIOWrapper(binary, encoding="utf-8-sig") as stream, warnings.catch_warnings():
            warnings.simplefilter("error")
            header = next(csv.reader([stream.readline().rstrip("\r\n")]), [])
            _check_header(header, CREDITCARD_COLUMNS, source)
            table = np.loadtxt(
                stream,
                delimiter=",",
                quotechar='"',
                comments=None,  # a "#" is not a comment here but a malformed value
                dtype=np.float64,
                ndmin=2,
            )
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, UserWarning) as error:
        raise _explained(error, raw, path) from None
    if table.shape[1] != len(CREDITCARD_COLUMNS):
        raise InputError(
            source,
            "line 2",
            f"expected {len(CREDITCARD_COLUMNS)} columns, as the header; found {table.shape[1]}",
        )
    finite = np.isfinite(table)
    if not finite.all():
        row, column = (int(k) for k in np.argwhere(~finite)[0])
        raise InputError(
            source,
            f"line {_data_line(_body(raw, path), row)}: {CREDITCARD_COLUMNS[column]}",
            f"expected a finite number; found {table[row, column]}",
        )
    labels = table[:, -1]
    bad = (labels != 0) & (labels != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(
            source,
            f"line {_data_line(_body(raw, path), row)}: Class",
            f'expected "0" or "1"; found {labels[row]:g}',
        )
    return Dataset(
        name="creditcard",
        x=table[:, :-1].astype(np.float32),
        y=labels.astype(np.int64),
        classes=("legitimate", "fraud"),
        provenance={
            path.name: hashlib.sha256(raw).hexdigest(),
            "source": "Credit-card fraud detection (ULB Machine Learning Group and Worldline; "
            f"Dal Pozzolo et al., 2015), {path}",
        },
        feature_names=CREDITCARD_COLUMNS[:-1],
    )


def _body(raw: bytes, path: Path) -> str:
    """The text after the header line (error paths only)."""
    text = _decode(_decompressed(raw, path), str(path))
    newline = text.find("\n")
    return "" if newline < 0 else text[newline + 1 :]


def _explained(error: Exception, raw: bytes, path: Path) -> InputError:
    """The InputError for a failure while streaming the credit-card CSV through numpy."""
    source = str(path)
    body = _body(raw, path)  # raises the InputError for bad gzip data or bad UTF-8 itself
    if not body.strip():
        return InputError(source, None, "expected at least one transaction; found only the header")
    return _first_bad_row(body, source, len(CREDITCARD_COLUMNS), error)


def _data_line(body: str, row: int) -> int:
    """The file line of data row ``row`` (0-based, blank lines skipped); the header is line 1."""
    seen = -1
    for number, line in enumerate(body.splitlines(), start=2):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return 2 + row  # pragma: no cover - row always exists


def _first_bad_row(body: str, source: str, columns: int, error: Exception) -> InputError:
    # Only on the error path: find the first line numpy refused and say what is wrong with it.
    for number, line in enumerate(body.splitlines(), start=2):
        if not line.strip():
            continue
        fields = next(csv.reader([line]))
        if len(fields) != columns:
            return InputError(
                source, f"line {number}", f"expected {columns} fields; found {len(fields)}"
            )
        for name, value in zip(CREDITCARD_COLUMNS, fields, strict=True):
            try:
                float(value)
            except ValueError:
                return InputError(
                    source,
                    f"line {number}: {name}",
                    f"expected a number; found {describe_value(value)}",
                )
    return InputError(source, None, f"cannot be read as numbers: {error}")


# --- shared helpers ----------------------------------------------------------------------------


def _dataset_folder(data_dir: Path, name: str, probe: str) -> Path:
    """``data_dir/name`` when it is a folder; ``data_dir`` itself when it holds the files."""
    folder = resolve_data_dir(data_dir)
    assert folder is not None
    nested = folder / name
    if nested.is_dir():
        return nested
    if (folder / probe).exists() or (folder / f"{probe}.gz").exists():
        return folder
    return nested if nested.exists() else folder


def _find_file(folder: Path, name: str) -> Path:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.is_file():
            return candidate
    try:
        entries = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in folder.iterdir())
    except OSError:
        entries = []
    if not entries:
        found = "found nothing (the folder is empty)"
    else:
        shown = ", ".join(entries[:_LISTED])
        more = len(entries) - _LISTED
        found = f"found only {shown}" + (f" and {more} more" if more > 0 else "")
    raise InputError(str(folder), None, f"expected {name}.gz or {name} in {folder}; {found}")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(str(path), None, f"cannot read: {error.strerror or error}") from None


def _decompressed(raw: bytes, path: Path) -> bytes:
    if not path.name.endswith(".gz"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        problem = "truncated gzip data" if isinstance(error, EOFError) else str(error)
        raise InputError(str(path), None, f"is not a valid gzip file ({problem})") from None


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(
            source,
            None,
            f"expected UTF-8 text; found byte 0x{data[error.start]:02x} at offset {error.start}",
        ) from None


def _csv_rows(text: str, source: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        raise InputError(source, None, f"is not valid CSV ({error})") from None


def _check_header(found: Sequence[str], expected: Sequence[str], source: str) -> None:
    cleaned = [name.strip() for name in found]
    if cleaned == list(expected):
        return
    for k, name in enumerate(expected):
        if k >= len(cleaned):
            problem = f"expected column {k + 1} to be {name!r}; found only {len(cleaned)} columns"
            break
        if cleaned[k] != name:
            problem = f"expected column {k + 1} to be {name!r}; found {describe_value(cleaned[k])}"
            break
    else:
        problem = (
            f"expected {len(expected)} columns ending with {expected[-1]!r}; "
            f"found {len(cleaned)} (extra {describe_value(cleaned[len(expected)])})"
        )
    raise InputError(source, "header", problem)
