"""Tests of the data loaders (privaudit.data.loaders): strict IDX and CSV parsing on generated
files, one InputError line per malformed variant, and the real data sets when ../shared/data
is present."""

from __future__ import annotations

import csv
import gzip
import hashlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from privaudit.data import loaders as data
from privaudit.data.fetch import MNIST_IDX_MD5, MNIST_SHA256
from privaudit.data.loaders import (
    CREDITCARD_COLUMNS,
    MTSAMPLES_COLUMNS,
    Dataset,
    load_creditcard,
    load_digits,
    load_mnist,
    load_mtsamples,
    read_idx,
    resolve_data_dir,
    text_groups,
)
from privaudit.errors import InputError
from tests.data.idx_files import MNIST_NAMES, gz, idx_bytes, write_tiny_mnist

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

# The official MD5 sums of the uncompressed files, as ../shared/data/README.md lists them.
README_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def needs(folder: str, name: str) -> Path:
    path = DATA / folder / name
    if not path.is_file():
        pytest.skip(f"real data not available: {path} is absent (see ../shared/data/README.md)")
    return DATA


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- IDX ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
@pytest.mark.parametrize("shape", [(7, 28, 28), (5, 3, 4), (12,)])
def test_idx_round_trip(tmp_path: Path, compressed: bool, shape: tuple[int, ...]) -> None:
    array = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    encoded = idx_bytes(array)
    path = tmp_path / ("a.idx.gz" if compressed else "a.idx")
    path.write_bytes(gz(encoded) if compressed else encoded)
    parsed, digest = read_idx(path, ndim=len(shape))
    assert parsed.dtype == np.uint8 and parsed.shape == shape
    np.testing.assert_array_equal(parsed, array)
    assert digest == sha256(path)  # of the bytes on disk, compressed or not


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_load_mnist_on_generated_files(tmp_path: Path, compressed: bool) -> None:
    arrays = write_tiny_mnist(tmp_path / "mnist", compressed=compressed, n_train=12, n_test=7)
    train, test = load_mnist(tmp_path)
    assert (len(train), len(test)) == (12, 7)
    assert train.x.shape == (12, 28, 28) and train.x.dtype == np.float32
    assert train.y.dtype == np.int64 and test.y.dtype == np.int64
    np.testing.assert_array_equal(train.x, arrays[MNIST_NAMES[0]].astype(np.float32) / 255)
    np.testing.assert_array_equal(train.y, arrays[MNIST_NAMES[1]])
    np.testing.assert_array_equal(test.x * 255, arrays[MNIST_NAMES[2]])
    np.testing.assert_array_equal(test.y, arrays[MNIST_NAMES[3]])
    assert train.classes == tuple("0123456789")
    suffix = ".gz" if compressed else ""
    for dataset, names in ((train, MNIST_NAMES[:2]), (test, MNIST_NAMES[2:])):
        files = {f"{name}{suffix}" for name in names}
        assert set(dataset.provenance) == files | {"source"}
        for file in files:
            assert dataset.provenance[file] == sha256(tmp_path / "mnist" / file)
    # The mnist folder itself is accepted in place of the data folder.
    again, _ = load_mnist(tmp_path / "mnist")
    np.testing.assert_array_equal(again.x, train.x)


def test_scaling_is_a_constant_not_a_statistic(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder)
    dim = np.full((10, 28, 28), 51, dtype=np.uint8)  # all pixels 51: min-max scaling would fail
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gz(idx_bytes(dim)))
    train, _ = load_mnist(tmp_path)
    assert np.all(train.x == np.float32(51 / 255))


def _images(n: int = 10) -> np.ndarray:
    return np.zeros((n, 28, 28), dtype=np.uint8)


def _labels(n: int = 10) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


# (file to replace, its new bytes (plain IDX, gzipped unless noted), field, words in problem)
MALFORMED: dict[str, tuple[str, Callable[[], bytes], str | None, str]] = {
    "truncated images": (
        "train-images-idx3-ubyte.gz",
        lambda: gz(idx_bytes(_images())[:-100]),
        "size",
        "truncated",
    ),
    "trailing bytes": (
        "train-labels-idx1-ubyte.gz",
        lambda: gz(idx_bytes(_labels()) + b"\x00"),
        "size",
        "trailing bytes",
    ),
    "header cut short": (
        "t10k-images-idx3-ubyte.gz",
        lambda: gz(idx_bytes(_images())[:10]),
        "size",
        "16-byte IDX header",
    ),
    "labels magic on images": (
        "train-images-idx3-ubyte.gz",
        lambda: gz(idx_bytes(_images(), magic=2049)),
        "header.magic",
        "expected 2051",
    ),
    "images magic on labels": (
        "t10k-labels-idx1-ubyte.gz",
        lambda: gz(idx_bytes(_labels(), magic=2051)),
        "header.magic",
        "expected 2049",
    ),
    "not unsigned bytes": (
        "train-labels-idx1-ubyte.gz",
        lambda: gz(idx_bytes(_labels(), magic=0x0D01)),  # 0x0D: float
        "header.magic",
        "found 3329",
    ),
    "27 x 28 images": (
        "train-images-idx3-ubyte.gz",
        lambda: gz(idx_bytes(np.zeros((10, 27, 28), dtype=np.uint8))),
        "header.dimensions",
        "expected 28 × 28 images; found 27 × 28",
    ),
    "fewer labels than images": (
        "train-labels-idx1-ubyte.gz",
        lambda: gz(idx_bytes(_labels(9))),
        "header.count",
        "expected 10 labels",
    ),
    "label out of range": (
        "t10k-labels-idx1-ubyte.gz",
        lambda: gz(idx_bytes(np.array([1, 2, 3, 10, 4, 5, 6, 7, 8, 9], dtype=np.uint8))),
        "labels[3]",
        "found 10",
    ),
    "corrupt gzip (CRC)": (
        "train-images-idx3-ubyte.gz",
        lambda: _flip_crc(gz(idx_bytes(_images()))),
        None,
        "not a valid gzip file",
    ),
    "truncated gzip": (
        "train-images-idx3-ubyte.gz",
        lambda: gz(idx_bytes(_images()))[:-20],
        None,
        "not a valid gzip file",
    ),
    "not gzip at all": (
        "train-labels-idx1-ubyte.gz",
        lambda: idx_bytes(_labels()),
        None,
        "not a valid gzip file",
    ),
}


def _flip_crc(data: bytes) -> bytes:
    # The gzip trailer is CRC-32 then length (little-endian); spoil the CRC only.
    return data[:-8] + bytes([data[-8] ^ 0xFF]) + data[-7:]


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_idx_is_one_input_error_naming_file_field_and_problem(
    tmp_path: Path, case: str
) -> None:
    file, make, field, words = MALFORMED[case]
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder)
    (folder / file).write_bytes(make())
    with pytest.raises(InputError) as caught:
        load_mnist(tmp_path)
    error = caught.value
    assert error.source == str(folder / file)
    assert error.field == field
    assert words in error.problem
    assert "\n" not in str(error) and str(error).startswith(str(folder / file))


def test_plain_file_holding_gzip_data_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder, compressed=False)
    (folder / "t10k-images-idx3-ubyte").write_bytes(gz(idx_bytes(_images())))
    with pytest.raises(InputError, match=r"gzip data in a file not named \.gz") as caught:
        load_mnist(tmp_path)
    assert caught.value.field == "header.magic"


def test_missing_file_lists_what_the_folder_holds(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    write_tiny_mnist(folder)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    (folder / "notes.txt").write_text("x")
    with pytest.raises(InputError) as caught:
        load_mnist(tmp_path)
    message = str(caught.value)
    assert "expected t10k-labels-idx1-ubyte.gz or t10k-labels-idx1-ubyte in" in message
    assert "found only notes.txt, t10k-images-idx3-ubyte.gz" in message
    assert caught.value.source == str(folder)


def test_empty_data_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"found nothing \(the folder is empty\)"):
        load_mnist(tmp_path)


def test_resolve_data_dir(tmp_path: Path) -> None:
    assert resolve_data_dir(None) is None
    assert resolve_data_dir(tmp_path) == tmp_path.resolve()
    with pytest.raises(InputError, match="data folder does not exist"):
        resolve_data_dir(tmp_path / "absent")
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(InputError, match="is a file; expected a folder"):
        resolve_data_dir(file)
    with pytest.raises(InputError, match="data folder does not exist"):
        load_creditcard(tmp_path / "absent")


# --- Dataset -----------------------------------------------------------------------------------


def test_dataset_arrays_are_read_only_and_subset_keeps_provenance() -> None:
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    dataset = Dataset("toy", x, y, ("a", "b"), {"source": "made up"}, texts=("p", "q", "r", "s"))
    with pytest.raises(ValueError, match="read-only"):
        dataset.x[0, 0] = 1.0
    x[0, 0] = 5.0  # the caller's array stays writable
    part = dataset.subset(np.array([3, 1]), name="toy-part")
    assert part.name == "toy-part" and len(part) == 2
    np.testing.assert_array_equal(part.y, [0, 1])
    assert part.texts == ("s", "q") and part.provenance == {"source": "made up"}
    with pytest.raises(ValueError, match="labels must index classes"):
        Dataset("bad", x, np.array([0, 1, 2, 0]), ("a", "b"), {})
    with pytest.raises(ValueError, match="float32"):
        Dataset("bad", x.astype(np.float64), y, ("a", "b"), {})


# --- digits ------------------------------------------------------------------------------------


def test_digits_split_is_stratified_fixed_and_scaled() -> None:
    train, test = load_digits()
    assert train.x.shape == (1438, 8, 8) and test.x.shape == (359, 8, 8)
    assert train.x.dtype == np.float32 and train.x.min() >= 0.0 and train.x.max() == 1.0
    assert np.all(np.isin(train.x * 16, np.arange(17)))  # value / 16 exactly
    train_counts = np.bincount(train.y, minlength=10)
    test_counts = np.bincount(test.y, minlength=10)
    for total, held_out in zip(train_counts + test_counts, test_counts, strict=True):
        assert held_out == round(0.2 * total)
    assert test.provenance["seed"] == str(data.DIGITS_SEED)
    assert "digits.csv.gz" in train.provenance
    again, _ = load_digits()
    np.testing.assert_array_equal(again.x, train.x)
    other, _ = load_digits(seed=1)
    assert not np.array_equal(other.x, train.x)
    # Together the two splits are the bundled set, each image once (compared as sorted rows).
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    full = np.asarray(sklearn_datasets.load_digits().images, dtype=np.float32) / 16
    joined = np.concatenate([train.x, test.x]).reshape(-1, 64)
    assert sorted(map(bytes, joined)) == sorted(map(bytes, full.reshape(-1, 64)))


# --- MTSamples ---------------------------------------------------------------------------------


def write_csv(path: Path, rows: list[list[str]], compressed: bool = True) -> None:
    text = "".join(
        ",".join('"' + cell.replace('"', '""') + '"' for cell in row) + "\r\n" for row in rows
    )
    raw = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0) if compressed else raw)


NOTES = [
    list(MTSAMPLES_COLUMNS),
    ["1", "d", " Surgery", "s", 'Procedure, with "quotes" and\nnewline.', "k"],
    ["2", "d", "Urology ", "s", "", "k"],
    ["3", "d", "Surgery", "s", 'Procedure, with "quotes" and\nnewline.', ""],
]


@pytest.mark.parametrize("compressed", [True, False], ids=["gz", "plain"])
def test_mtsamples_on_a_generated_file(tmp_path: Path, compressed: bool) -> None:
    name = "mtsamples.csv.gz" if compressed else "mtsamples.csv"
    write_csv(tmp_path / "mtsamples" / name, NOTES, compressed)
    notes = load_mtsamples(tmp_path)
    assert notes.classes == ("Surgery", "Urology")  # whitespace stripped, sorted
    np.testing.assert_array_equal(notes.y, [0, 1, 0])
    assert notes.texts is not None and notes.texts[1] == ""
    assert notes.texts[0] == 'Procedure, with "quotes" and\nnewline.'
    assert notes.x.shape == (3, 0)
    assert notes.provenance[name] == sha256(tmp_path / "mtsamples" / name)
    assert notes.provenance["empty_texts"] == "1" and notes.provenance["distinct_texts"] == "1"
    np.testing.assert_array_equal(text_groups(notes.texts), [0, 1, 0])


def test_mtsamples_long_field_and_the_csv_limit_is_restored(tmp_path: Path) -> None:
    long_text = "word " * 60_000  # 300,000 characters: over csv's default 131,072
    write_csv(
        tmp_path / "mtsamples.csv.gz", [list(MTSAMPLES_COLUMNS), ["1", "", "A", "", long_text, ""]]
    )
    before = csv.field_size_limit()
    notes = load_mtsamples(tmp_path)
    assert notes.texts == (long_text,)
    assert csv.field_size_limit() == before


@pytest.mark.parametrize(
    ("rows", "field", "words"),
    [
        ([["note_id", "description", "specialty"]], "header", "column 3 to be 'medical_specialty'"),
        ([[*MTSAMPLES_COLUMNS, "extra"]], "header", "extra 'extra'"),
        ([list(MTSAMPLES_COLUMNS), ["1", "d", "Surgery", "s", "t"]], "record 2", "found 5"),
        (
            [list(MTSAMPLES_COLUMNS), ["1", "d", "  ", "s", "t", "k"]],
            "record 2: medical_specialty",
            "none",
        ),
        ([list(MTSAMPLES_COLUMNS)], None, "only the header"),
    ],
    ids=["wrong column", "extra column", "short record", "no specialty", "no rows"],
)
def test_mtsamples_strict_columns(
    tmp_path: Path, rows: list[list[str]], field: str | None, words: str
) -> None:
    write_csv(tmp_path / "mtsamples.csv.gz", rows)
    with pytest.raises(InputError) as caught:
        load_mtsamples(tmp_path)
    assert caught.value.source == str(tmp_path / "mtsamples.csv.gz")
    assert caught.value.field == field and words in caught.value.problem


def test_mtsamples_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "mtsamples.csv").write_bytes(b"note_id,\xff\n")
    with pytest.raises(InputError, match="expected UTF-8 text; found byte 0xff"):
        load_mtsamples(tmp_path)


# --- credit card -------------------------------------------------------------------------------


def card_text(rows: list[str]) -> str:
    header = ",".join(f'"{name}"' for name in CREDITCARD_COLUMNS)
    return header + "\n" + "".join(row + "\n" for row in rows)


def card_row(time: float, amount: float, label: str) -> str:
    features = ",".join(f"{0.5 * k - 7:.6f}" for k in range(28))
    return f"{time:g},{features},{amount:g},{label}"


def test_creditcard_on_a_generated_file(tmp_path: Path) -> None:
    rows = [card_row(0, 149.62, '"0"'), card_row(1, 2.5, '"1"'), card_row(2, 0, "0")]
    (tmp_path / "creditcard.csv").write_text(card_text(rows))
    cards = load_creditcard(tmp_path)
    assert cards.x.shape == (3, 30) and cards.x.dtype == np.float32
    np.testing.assert_array_equal(cards.y, [0, 1, 0])
    assert cards.classes == ("legitimate", "fraud")
    assert cards.feature_names == CREDITCARD_COLUMNS[:-1]
    assert cards.x[0, -1] == np.float32(149.62) and cards.x[1, 0] == 1.0
    assert cards.x[0, 1] == np.float32(-7.0)


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        (card_text([]).replace('"V7"', '"V 7"'), "header", "column 8 to be 'V7'"),
        (card_text([]), None, "only the header"),
        (
            card_text([card_row(0, 1, "0"), card_row(1, 1, "0")[:-2]]),
            "line 3",
            "expected 31 fields",
        ),
        (card_text([card_row(0, 1, "0"), card_row(1, 1, "x")]), "line 3: Class", "'x'"),
        (
            card_text([card_row(0, 1, "0"), "", card_row(1, float("nan"), "0")]),
            "line 4: Amount",
            "nan",
        ),
        (card_text([card_row(0, 1, "0"), card_row(1, 1, '"2"')]), "line 3: Class", "found 2"),
        (card_text([card_row(0, 1, "0"), "# not a comment"]), "line 3", "found 1"),
    ],
    ids=["header", "no rows", "short row", "not a number", "NaN", "class 2", "hash"],
)
def test_creditcard_strict(tmp_path: Path, text: str, field: str | None, words: str) -> None:
    path = tmp_path / "creditcard" / "creditcard.csv.gz"
    path.parent.mkdir()
    path.write_bytes(gzip.compress(text.encode(), mtime=0))
    with pytest.raises(InputError) as caught:
        load_creditcard(tmp_path)
    assert caught.value.source == str(path)
    assert caught.value.field == field and words in caught.value.problem, str(caught.value)


def test_creditcard_bad_bytes(tmp_path: Path) -> None:
    good = card_text([card_row(0, 1, "0"), card_row(1, 1, "1")]).encode()
    path = tmp_path / "creditcard.csv.gz"
    path.write_bytes(gzip.compress(good, mtime=0)[:-30])
    with pytest.raises(InputError, match="is not a valid gzip file"):
        load_creditcard(tmp_path)
    path.write_bytes(gzip.compress(good.replace(b"V9", b"V\xff"), mtime=0))
    with pytest.raises(InputError, match="expected UTF-8 text; found byte 0xff"):
        load_creditcard(tmp_path)
    # A byte-order mark and Windows line ends are fine.
    path.write_bytes(gzip.compress(b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n"), mtime=0))
    np.testing.assert_array_equal(load_creditcard(tmp_path).y, [0, 1])


# --- real data (../shared/data) ----------------------------------------------------------------


def test_real_mnist() -> None:
    root = needs("mnist", "train-images-idx3-ubyte.gz")
    train, test = load_mnist(root)
    assert train.x.shape == (60_000, 28, 28) and test.x.shape == (10_000, 28, 28)
    assert set(np.unique(train.y)) == set(range(10)) == set(np.unique(test.y))
    assert train.x.min() == 0.0 and train.x.max() == 1.0
    for name in MNIST_NAMES:
        file = root / "mnist" / f"{name}.gz"
        md5 = hashlib.md5(gzip.decompress(file.read_bytes())).hexdigest()
        assert md5 == README_MD5[name] == MNIST_IDX_MD5[name]
        dataset = train if name.startswith("train") else test
        assert dataset.provenance[file.name] == MNIST_SHA256[file.name] == sha256(file)


def test_real_mtsamples() -> None:
    root = needs("mtsamples", "mtsamples.csv.gz")
    notes = load_mtsamples(root)
    assert len(notes) == 4_999 and notes.num_classes == 40
    assert notes.texts is not None and sum(1 for text in notes.texts if not text) == 33
    assert np.bincount(notes.y)[notes.classes.index("Surgery")] == 1103
    assert np.bincount(notes.y)[notes.classes.index("Consult - History and Phy.")] == 516
    # Many notes are listed under several specialties: 2,357 distinct non-empty texts.
    groups = text_groups(notes.texts)
    assert len(np.unique(groups)) == 2_357 + 33


def test_real_creditcard_loads_quickly() -> None:
    root = needs("creditcard", "creditcard.csv.gz")
    start = time.perf_counter()
    cards = load_creditcard(root)
    elapsed = time.perf_counter() - start
    assert cards.x.shape == (284_807, 30) and int(cards.y.sum()) == 492
    assert cards.x[:, 0].max() == 172_792.0  # Time, seconds over two days
    assert elapsed < 10.0, f"loading took {elapsed:.1f} s"
