"""Tests of the hash-chained ledger: round trips, tamper detection, bad input, concurrency."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from privaudit.errors import InputError, LedgerIntegrityError
from privaudit.ledger import (
    ENTRY_FIELDS,
    GENESIS,
    Ledger,
    append_entry,
    canonical_json,
    entry_hash,
    read_ledger,
    verify_ledger,
)
from privaudit.mechanisms import Gaussian, PoissonSampled, mechanism_to_json, parse_mechanism

GAUSSIAN = {"type": "gaussian", "noise_multiplier": 1.1}
DPSGD = {"type": "dpsgd", "noise_multiplier": 1.1, "sampling_rate": 0.01, "steps": 100}
ENTRIES = 5


# --- helpers: an oracle independent of privaudit.ledger --------------------------------------


def oracle_bytes(obj: dict[str, Any]) -> bytes:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def oracle_hash(obj: dict[str, Any]) -> str:
    return hashlib.sha256(oracle_bytes({k: v for k, v in obj.items() if k != "hash"})).hexdigest()


def hand_entry(seq: int, prev: str, /, **changes: Any) -> dict[str, Any]:
    """A valid entry built without privaudit.ledger, hashed with the oracle."""
    obj: dict[str, Any] = {
        "seq": seq,
        "time": "2026-01-02T03:04:05.000006Z",
        "dataset": "mnist",
        "partition": None,
        "privacy_unit": "example",
        "run": None,
        "mechanism": dict(GAUSSIAN),
        "meta": {},
        "prev": prev,
    }
    obj.update(changes)
    obj["hash"] = oracle_hash(obj)
    return obj


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.jsonl"


@pytest.fixture
def five(ledger_path: Path) -> Path:
    """A valid ledger of five entries, every one with noise multiplier 1.1."""
    for i in range(ENTRIES):
        append_entry(ledger_path, dataset="mnist", mechanism=GAUSSIAN, meta={"i": i})
    return ledger_path


def integrity_error(path: Path) -> LedgerIntegrityError:
    with pytest.raises(LedgerIntegrityError) as caught:
        read_ledger(path)
    return caught.value


def input_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        read_ledger(path)
    return caught.value


# --- round trip and chain --------------------------------------------------------------------


def test_append_then_read_returns_the_appended_entries(ledger_path: Path) -> None:
    written = [
        append_entry(ledger_path, dataset="mnist", mechanism=DPSGD, run="r1", meta={"i": 0}),
        append_entry(ledger_path, dataset="mnist", mechanism=GAUSSIAN, partition="silo-2"),
        append_entry(ledger_path, dataset="cifar.v2", mechanism=Gaussian(noise_multiplier=2.0)),
    ]

    ledger = read_ledger(ledger_path)

    assert ledger.entries == tuple(written)
    assert [e.dataset for e in ledger.entries] == ["mnist", "mnist", "cifar.v2"]
    assert ledger.entries[1].partition == "silo-2"
    assert ledger.entries[0].mechanism == parse_mechanism(DPSGD)
    assert ledger.entries[0].meta == {"i": 0}


def test_chain_links_seq_prev_and_hash(five: Path) -> None:
    objects = [json.loads(line) for line in lines_of(five)]

    assert [o["seq"] for o in objects] == [1, 2, 3, 4, 5]
    assert objects[0]["prev"] == "0" * 64
    for before, after in itertools.pairwise(objects):
        assert after["prev"] == before["hash"]
    for obj in objects:
        assert obj["hash"] == oracle_hash(obj)


def test_lines_are_the_canonical_json_of_the_entry(five: Path) -> None:
    for line in lines_of(five):
        assert line == oracle_bytes(json.loads(line)) + b"\n"
        assert list(json.loads(line)) == sorted(ENTRY_FIELDS)


def test_ledger_head_and_sha256_describe_the_file(five: Path) -> None:
    ledger = read_ledger(five)

    assert ledger.head == json.loads(lines_of(five)[-1])["hash"]
    assert ledger.sha256 == hashlib.sha256(five.read_bytes()).hexdigest()
    assert ledger.path == five


def test_stored_mechanism_spells_out_defaults(ledger_path: Path) -> None:
    append_entry(ledger_path, dataset="mnist", mechanism=DPSGD)

    stored = json.loads(ledger_path.read_bytes())["mechanism"]

    assert stored == mechanism_to_json(parse_mechanism(DPSGD))
    assert stored["sampling"] == "poisson"


def test_append_accepts_a_mechanism_object(ledger_path: Path) -> None:
    mechanism = PoissonSampled(sampling_rate=0.5, event=Gaussian(noise_multiplier=3.0))

    entry = append_entry(ledger_path, dataset="d", mechanism=mechanism)

    assert entry.mechanism == mechanism
    assert read_ledger(ledger_path).entries[0].mechanism == mechanism


def test_given_time_is_stored_in_utc(ledger_path: Path) -> None:
    local = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=timezone(timedelta(hours=2)))

    entry = append_entry(ledger_path, dataset="d", mechanism=GAUSSIAN, time=local)

    assert entry.time == "2026-03-01T10:00:00.250000Z"
    assert entry.timestamp == local


def test_default_time_is_now_in_utc(ledger_path: Path) -> None:
    before = datetime.now(UTC)
    entry = append_entry(ledger_path, dataset="d", mechanism=GAUSSIAN)
    after = datetime.now(UTC)

    assert entry.time.endswith("Z")
    assert before <= entry.timestamp <= after


def test_meta_tuples_are_stored_as_lists(ledger_path: Path) -> None:
    entry = append_entry(ledger_path, dataset="d", mechanism=GAUSSIAN, meta={"shape": (2, 3)})

    assert entry.meta == {"shape": [2, 3]}
    assert read_ledger(ledger_path).entries[0] == entry


def test_verify_ledger_returns_the_verified_ledger(five: Path) -> None:
    assert verify_ledger(five) == read_ledger(five)


def test_entry_hash_and_canonical_json_match_the_oracle() -> None:
    obj = hand_entry(1, GENESIS, meta={"é": [1.5, None, True]})

    assert canonical_json(obj) == oracle_bytes(obj)
    assert entry_hash(obj) == obj["hash"]
    assert GENESIS == "0" * 64


def test_verification_hashes_the_raw_json_of_the_line(ledger_path: Path) -> None:
    # Mechanism keys in another order and its defaults (sampling, dataset_size) left out: a
    # re-serialised model would add them and change the hash; the raw object verifies.
    mechanism = {"steps": 100, "sampling_rate": 0.01, "noise_multiplier": 1.1, "type": "dpsgd"}
    obj = hand_entry(1, GENESIS, mechanism=mechanism)
    ledger_path.write_text(json.dumps(obj, separators=(", ", ": ")) + "\n", encoding="utf-8")

    ledger = read_ledger(ledger_path)

    assert ledger.head == obj["hash"]
    assert ledger.entries[0].mechanism == parse_mechanism(DPSGD)


def test_append_continues_a_chain_written_by_another_tool(ledger_path: Path) -> None:
    obj = hand_entry(1, GENESIS, mechanism={"noise_multiplier": 1.1, "type": "gaussian"})
    ledger_path.write_text(json.dumps(obj) + "\n", encoding="utf-8")

    entry = append_entry(ledger_path, dataset="mnist", mechanism=GAUSSIAN)

    assert (entry.seq, entry.prev) == (2, obj["hash"])
    assert len(read_ledger(ledger_path).entries) == 2


# --- tampering: LedgerIntegrityError naming the first bad line -------------------------------


@pytest.mark.parametrize("line", range(1, ENTRIES + 1))
def test_editing_a_line_is_detected_at_that_line(five: Path, line: int) -> None:
    lines = lines_of(five)
    edited = lines[line - 1].replace(b'"noise_multiplier":1.1', b'"noise_multiplier":1.0')
    assert edited != lines[line - 1]
    json.loads(edited)  # still valid JSON and a valid entry: only the hash can tell
    lines[line - 1] = edited
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == line
    assert "hash does not match" in str(error)
    assert "edited" in str(error)


@pytest.mark.parametrize("line", range(1, ENTRIES))
def test_deleting_a_line_is_detected_at_the_line_that_follows(five: Path, line: int) -> None:
    lines = lines_of(five)
    del lines[line - 1]
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == line
    assert "deleted" in str(error)


def test_deleting_the_last_line_is_visible_only_in_the_head(five: Path) -> None:
    # A hash chain cannot see its tail cut at a line break; the head recorded elsewhere can.
    head = read_ledger(five).head
    five.write_bytes(b"".join(lines_of(five)[:-1]))

    ledger = read_ledger(five)

    assert len(ledger.entries) == ENTRIES - 1
    assert ledger.head != head


@pytest.mark.parametrize("line", range(1, ENTRIES))
def test_swapping_two_lines_is_detected_at_the_first(five: Path, line: int) -> None:
    lines = lines_of(five)
    lines[line - 1], lines[line] = lines[line], lines[line - 1]
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == line
    assert "reordered" in str(error)


@pytest.mark.parametrize("line", range(1, ENTRIES + 1))
def test_inserting_a_duplicated_line_is_detected_at_the_copy(five: Path, line: int) -> None:
    lines = lines_of(five)
    lines.insert(line, lines[line - 1])
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == line + 1
    assert "inserted" in str(error)


@pytest.mark.parametrize("keep", [0, 1, 40, -2, -1], ids=lambda k: f"keep{k}")
def test_truncating_the_last_line_is_detected(five: Path, keep: int) -> None:
    lines = lines_of(five)
    lines[-1] = lines[-1][:keep]
    five.write_bytes(b"".join(lines))

    if keep == 0:  # cut exactly at a line break: an ordinary shorter ledger
        assert len(read_ledger(five).entries) == ENTRIES - 1
        return
    error = integrity_error(five)

    assert error.line == ENTRIES
    assert "cut short" in str(error)


@pytest.mark.parametrize("line", range(2, ENTRIES + 1))
def test_a_blank_line_in_the_middle_is_detected(five: Path, line: int) -> None:
    lines = lines_of(five)
    lines.insert(line - 1, b"\n")
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == line
    assert "blank" in str(error)


def test_a_later_line_that_is_not_json_is_detected(five: Path) -> None:
    lines = lines_of(five)
    lines[2] = lines[2][:30] + b"\n"
    five.write_bytes(b"".join(lines))

    error = integrity_error(five)

    assert error.line == 3
    assert "not valid JSON" in str(error)


def test_a_gap_in_seq_is_detected(ledger_path: Path) -> None:
    first = hand_entry(1, GENESIS)
    third = hand_entry(3, first["hash"])  # correctly linked and hashed, but numbered 3
    ledger_path.write_bytes(oracle_bytes(first) + b"\n" + oracle_bytes(third) + b"\n")

    error = integrity_error(ledger_path)

    assert error.line == 2
    assert "seq is 3; expected 2" in str(error)


def test_a_first_line_not_linked_to_genesis_is_detected(ledger_path: Path) -> None:
    obj = hand_entry(1, "1" * 64)
    ledger_path.write_bytes(oracle_bytes(obj) + b"\n")

    error = integrity_error(ledger_path)

    assert error.line == 1
    assert "64 zeros" in str(error)


def test_integrity_errors_name_the_file_on_one_line_and_exit_1(five: Path) -> None:
    five.write_bytes(b"".join(lines_of(five)[1:]))

    error = integrity_error(five)

    assert str(error).startswith(f"{five}: line 1: ")
    assert "\n" not in str(error)
    assert error.exit_code == 1


def test_editing_a_ledger_after_it_was_read_is_detected(five: Path) -> None:
    read_ledger(five)  # verified once; a rewrite of the same inode must not be trusted
    with five.open("r+b") as file:
        data = file.read()
        file.seek(0)
        file.write(data.replace(b'"noise_multiplier":1.1', b'"noise_multiplier":1.0', 1))

    assert integrity_error(five).line == 1


# --- malformed input: InputError naming file and field ---------------------------------------


def entry_line(**changes: Any) -> bytes:
    return oracle_bytes(hand_entry(1, GENESIS, **changes)) + b"\n"


MALFORMED: dict[str, tuple[bytes, str]] = {
    "first line not JSON": (b"seq,time,dataset\n", "line 1: is not valid JSON"),
    "not an object": (b"[1, 2]\n", "line 1: expected a JSON object"),
    "unknown field": (entry_line(extra=1), "line 1: extra: unknown field"),
    "missing field": (
        entry_line().replace(b'"run":null,', b""),
        "line 1: run: required field is missing",
    ),
    "NaN sigma": (
        entry_line().replace(b'"noise_multiplier":1.1', b'"noise_multiplier":NaN'),
        "line 1: mechanism.noise_multiplier",
    ),
    "zero sigma": (
        entry_line(mechanism={"type": "gaussian", "noise_multiplier": 0}),
        "line 1: mechanism.noise_multiplier",
    ),
    "negative sigma": (
        entry_line(mechanism={"type": "gaussian", "noise_multiplier": -1.0}),
        "line 1: mechanism.noise_multiplier",
    ),
    "q above 1": (
        entry_line(mechanism={"type": "poisson_sampled", "sampling_rate": 1.5, "event": GAUSSIAN}),
        "line 1: mechanism.sampling_rate",
    ),
    "string seq": (entry_line(seq="1"), "line 1: seq"),
    "bool seq": (entry_line(seq=True), "line 1: seq"),
    "float time": (entry_line(time=1.5), "line 1: time"),
    "time without zone": (entry_line(time="2026-01-02T03:04:05"), "line 1: time"),
    "impossible date": (entry_line(time="2026-02-30T03:04:05Z"), "line 1: time"),
    "bad dataset": (entry_line(dataset="../etc"), "line 1: dataset"),
    "empty dataset": (entry_line(dataset=""), "line 1: dataset"),
    "bad partition": (entry_line(partition="a b"), "line 1: partition"),
    "NaN in meta": (
        entry_line(meta={"x": 1.0}).replace(b'"x":1.0', b'"x":NaN'),
        "line 1: meta.x",
    ),
    "meta not an object": (entry_line(meta=[1]), "line 1: meta"),
    "lone surrogate": (
        entry_line().replace(b'"run":null', b'"run":"\\ud800"'),
        "line 1: run",
    ),
    "prev not hex": (entry_line(prev="xyz"), "line 1: prev"),
    "duplicate key": (
        entry_line().replace(b'"run":null', b'"run":null,"run":null'),
        "line 1: the key 'run' appears twice",
    ),
    "empty file": (b"", "expected at least one entry"),
    "blank first line": (b"\n" + entry_line(), "line 1"),
    "NUL bytes": (b"\x00\x9f\x13garbage\x00\n", "NUL bytes"),
    "not UTF-8": (b'{"seq": "\xff\xfe"}\n', "not UTF-8"),
    "deep nesting": (b"[" * 100_000 + b"\n", "line 1: is not valid JSON"),
}


@pytest.mark.parametrize("content,expected", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_ledger_is_bad_input(ledger_path: Path, content: bytes, expected: str) -> None:
    ledger_path.write_bytes(content)

    error = input_error(ledger_path)

    assert str(error).startswith(f"{ledger_path}: ")
    assert expected in str(error)
    assert "\n" not in str(error)
    assert error.exit_code == 2


def test_a_schema_error_on_a_later_line_is_bad_input_naming_it(five: Path) -> None:
    lines = lines_of(five)
    lines[2] = lines[2].replace(b'"noise_multiplier":1.1', b'"noise_multiplier":-1.1')
    five.write_bytes(b"".join(lines))

    error = input_error(five)

    assert f"{five}: line 3: mechanism.noise_multiplier: " in str(error)


def test_missing_file_is_bad_input(ledger_path: Path) -> None:
    assert "no such ledger file" in str(input_error(ledger_path))


def test_missing_file_may_be_allowed(ledger_path: Path) -> None:
    ledger = read_ledger(ledger_path, allow_missing=True)

    assert ledger == Ledger(ledger_path, (), GENESIS, hashlib.sha256(b"").hexdigest())


def test_a_folder_is_bad_input(tmp_path: Path) -> None:
    assert "folder" in str(input_error(tmp_path))


# --- property tests: nothing but the two domain errors ---------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(
    st.sampled_from(ENTRY_FIELDS) | st.text(max_size=8), json_values, max_size=12
)
# Each example overwrites the same file, so sharing tmp_path across examples is harmless.
fuzz = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def read_only_domain_errors(path: Path) -> None:
    with contextlib.suppress(InputError, LedgerIntegrityError):
        read_ledger(path)


@fuzz
@given(content=st.binary(max_size=300))
def test_random_bytes_raise_only_domain_errors(ledger_path: Path, content: bytes) -> None:
    ledger_path.write_bytes(content)

    read_only_domain_errors(ledger_path)


@fuzz
@given(obj=json_objects, first=st.booleans())
def test_random_json_lines_raise_only_domain_errors(
    ledger_path: Path, obj: dict[str, Any], first: bool
) -> None:
    line = json.dumps(obj).encode("ascii") + b"\n"
    ledger_path.write_bytes(line if first else entry_line() + line)

    with pytest.raises((InputError, LedgerIntegrityError)):
        read_ledger(ledger_path)


@fuzz
@given(field=st.sampled_from(ENTRY_FIELDS), value=json_values)
def test_random_field_values_raise_only_domain_errors(
    ledger_path: Path, field: str, value: Any
) -> None:
    obj = hand_entry(1, GENESIS)
    obj[field] = value
    ledger_path.write_bytes(json.dumps(obj).encode("ascii") + b"\n")

    read_only_domain_errors(ledger_path)


# --- appends that must not change the file ---------------------------------------------------

BAD_APPENDS: dict[str, tuple[dict[str, Any], str]] = {
    "zero sigma": (
        {"mechanism": {"type": "gaussian", "noise_multiplier": 0.0}},
        "mechanism.noise_multiplier",
    ),
    "negative sigma in dpsgd": ({"mechanism": {**DPSGD, "noise_multiplier": -1}}, "mechanism"),
    "unknown mechanism": ({"mechanism": {"type": "os.system"}}, "mechanism.type"),
    "bad dataset": ({"dataset": "../secrets"}, "dataset"),
    "bad partition": ({"partition": "a/b"}, "partition"),
    "NaN in meta": ({"meta": {"loss": [0.1, float("nan")]}}, "meta.loss[1]"),
    "infinity in meta": ({"meta": {"x": float("inf")}}, "meta.x"),
    "object in meta": ({"meta": {"x": object()}}, "meta.x"),
    "int key in meta": ({"meta": {"a": {1: 2}}}, "meta.a"),
    "naive time": ({"time": datetime(2026, 1, 1)}, "time"),
    "time text without zone": ({"time": "2026-01-01T00:00:00"}, "time"),
    "empty run": ({"run": ""}, "run"),
}


@pytest.mark.parametrize("changes,field", BAD_APPENDS.values(), ids=BAD_APPENDS.keys())
def test_bad_append_input_leaves_the_file_unchanged(
    five: Path, changes: dict[str, Any], field: str
) -> None:
    before = five.read_bytes()
    arguments: dict[str, Any] = {"dataset": "mnist", "mechanism": GAUSSIAN, **changes}

    with pytest.raises(InputError) as caught:
        append_entry(five, **arguments)

    assert f"<argument>: {field}" in str(caught.value)
    assert five.read_bytes() == before


def test_bad_append_input_does_not_create_the_file(ledger_path: Path) -> None:
    with pytest.raises(InputError):
        append_entry(ledger_path, dataset="-bad", mechanism=GAUSSIAN)

    assert not ledger_path.exists()


def break_by_editing(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"noise_multiplier":1.1', b'"noise_multiplier":2'))


def break_by_truncating(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def break_by_deleting(path: Path) -> None:
    path.write_bytes(b"".join(lines_of(path)[1:]))


def break_schema(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b'"seq":3', b'"seq":"3"'))


def break_first_line(path: Path) -> None:
    path.write_bytes(b"not a ledger\n" + path.read_bytes())


@pytest.mark.parametrize(
    "damage,error",
    [
        (break_by_editing, LedgerIntegrityError),
        (break_by_truncating, LedgerIntegrityError),
        (break_by_deleting, LedgerIntegrityError),
        (break_schema, InputError),
        (break_first_line, InputError),
    ],
)
def test_appending_to_a_broken_ledger_changes_nothing(
    five: Path, damage: Any, error: type[Exception]
) -> None:
    damage(five)
    before = five.read_bytes()

    with pytest.raises(error):
        append_entry(five, dataset="mnist", mechanism=GAUSSIAN)

    assert five.read_bytes() == before


def test_appending_after_a_tampering_following_a_verified_append_is_refused(five: Path) -> None:
    append_entry(five, dataset="mnist", mechanism=GAUSSIAN)  # this process has verified it all
    break_by_editing(five)

    with pytest.raises(LedgerIntegrityError):
        append_entry(five, dataset="mnist", mechanism=GAUSSIAN)


def test_append_into_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        append_entry(tmp_path / "nope" / "ledger.jsonl", dataset="d", mechanism=GAUSSIAN)


def test_append_to_a_folder_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder"):
        append_entry(tmp_path, dataset="d", mechanism=GAUSSIAN)


def test_append_to_an_empty_file_starts_the_chain(ledger_path: Path) -> None:
    ledger_path.write_bytes(b"")  # what an append interrupted before its write leaves

    entry = append_entry(ledger_path, dataset="d", mechanism=GAUSSIAN)

    assert (entry.seq, entry.prev) == (1, GENESIS)


# --- concurrency -----------------------------------------------------------------------------

WORKERS = 8
PER_WORKER = 200


def append_many(path: str, worker: int, count: int) -> None:
    for i in range(count):
        append_entry(path, dataset="mnist", mechanism=GAUSSIAN, meta={"worker": worker, "i": i})


def test_concurrent_appends_from_processes_form_one_chain(ledger_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=append_many, args=(str(ledger_path), worker, PER_WORKER))
        for worker in range(WORKERS)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    elapsed = time.monotonic() - started

    assert [p.exitcode for p in processes] == [0] * WORKERS
    ledger = read_ledger(ledger_path)
    assert [e.seq for e in ledger.entries] == list(range(1, WORKERS * PER_WORKER + 1))
    pairs = Counter((e.meta["worker"], e.meta["i"]) for e in ledger.entries)
    assert set(pairs) == {(w, i) for w in range(WORKERS) for i in range(PER_WORKER)}
    assert set(pairs.values()) == {1}
    assert elapsed < 60, f"{WORKERS * PER_WORKER} appends took {elapsed:.1f} s"
    if os.environ.get("PRIVAUDIT_TIMINGS"):
        print(f"\n{WORKERS}x{PER_WORKER} concurrent appends: {elapsed:.2f} s")


def test_concurrent_appends_from_threads_form_one_chain(ledger_path: Path) -> None:
    # flock locks belong to open file descriptions, so threads of one process exclude each other.
    threads = [
        threading.Thread(target=append_many, args=(str(ledger_path), worker, 50))
        for worker in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ledger = read_ledger(ledger_path)
    assert [e.seq for e in ledger.entries] == list(range(1, 201))
    assert len({(e.meta["worker"], e.meta["i"]) for e in ledger.entries}) == 200
