"""The ledger stores: the file store's appends under concurrency, its verbatim copy, the canonical
line of an entry, and the charge-if-it-fits admission (privaudit.charge)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from privaudit.charge import PolicyAdmission
from privaudit.errors import BudgetExceededError, InputError
from privaudit.ledger import NewEntry, append_entry, entry_line, read_ledger
from privaudit.policy import load_policy
from privaudit.stores import FileStore, is_database_url

ROOT = Path(__file__).resolve().parents[1]
GAUSSIAN = {"type": "gaussian", "noise_multiplier": 12.0}
PROCESSES = 8
APPENDS = 200

_APPENDER = """
import sys
from pathlib import Path
from privaudit.ledger import NewEntry
from privaudit.stores import FileStore

store = FileStore(Path(sys.argv[1]))
process = int(sys.argv[2])
for i in range(int(sys.argv[3])):
    store.append([NewEntry(dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 3.0},
                           meta={"process": process, "i": i})])
"""


def child_env() -> dict[str, str]:
    """This worktree first on the path, so the children import the code under test."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def write_policy(path: Path, epsilon: float = 1.0) -> Path:
    path.write_text(
        "version: 1\ntiers:\n  t:\n"
        f"    epsilon: {epsilon!r}\n    delta: 1.0e-6\n    privacy_unit: example\n"
        "datasets:\n  ds:\n    tier: t\n    size: 100000\n",
        encoding="utf-8",
    )
    return path


def test_concurrent_appends_from_many_processes_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, str(path), str(process), str(APPENDS)],
            env=child_env(),
            cwd=tmp_path,
        )
        for process in range(PROCESSES)
    ]
    assert [child.wait(timeout=600) for child in children] == [0] * PROCESSES

    ledger = read_ledger(path)  # verifies every hash and link
    markers = Counter((e.meta["process"], e.meta["i"]) for e in ledger.entries)
    assert len(ledger.entries) == PROCESSES * APPENDS
    assert [e.seq for e in ledger.entries] == list(range(1, PROCESSES * APPENDS + 1))
    assert set(markers) == {(p, i) for p in range(PROCESSES) for i in range(APPENDS)}
    assert max(markers.values()) == 1


def test_entry_line_is_the_line_the_append_wrote(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="ds", mechanism=GAUSSIAN, meta={"ü": [1, 2.5, None]}, run="r")
    append_entry(path, dataset="ds", mechanism={"type": "laplace", "scale": 2.0})

    lines = [entry_line(entry) for entry in read_ledger(path).entries]

    assert b"".join(lines) == path.read_bytes()


def test_entry_line_refuses_an_entry_whose_line_it_cannot_rebuild(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    entry = append_entry(path, dataset="ds", mechanism=GAUSSIAN)
    forged = entry.model_copy(update={"run": "other"})  # the hash no longer matches

    with pytest.raises(InputError, match="cannot be rebuilt"):
        entry_line(forged)


def test_append_verbatim_copies_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    for sigma in (2.0, 3.0, 4.0):
        mechanism = {"type": "gaussian", "noise_multiplier": sigma}
        append_entry(source, dataset="ds", mechanism=mechanism)

    FileStore(tmp_path / "b.jsonl").append_verbatim(read_ledger(source).entries)

    assert (tmp_path / "b.jsonl").read_bytes() == source.read_bytes()


def test_append_verbatim_refuses_a_ledger_that_is_not_empty(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    append_entry(source, dataset="ds", mechanism=GAUSSIAN)
    append_entry(target, dataset="other", mechanism=GAUSSIAN)
    before = target.read_bytes()

    with pytest.raises(InputError, match="is not empty"):
        FileStore(target).append_verbatim(read_ledger(source).entries)
    assert target.read_bytes() == before


def test_append_verbatim_refuses_entries_that_are_not_one_chain(tmp_path: Path) -> None:
    source, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for sigma in (2.0, 3.0):
        mechanism = {"type": "gaussian", "noise_multiplier": sigma}
        append_entry(source, dataset="ds", mechanism=mechanism)
    entries = read_ledger(source).entries

    with pytest.raises(InputError, match="not one chain"):
        FileStore(target).append_verbatim(entries[1:])  # the first entry left out
    assert not target.exists()


def test_a_postgresql_url_names_a_database_and_a_path_a_file() -> None:
    assert is_database_url("postgresql://u@h/db")
    assert is_database_url("postgres://u@h/db")
    assert not is_database_url("ledgers/postgresql.jsonl")


def test_the_admission_admits_what_fits_and_says_what_it_would_reach(tmp_path: Path) -> None:
    admission = PolicyAdmission(load_policy(write_policy(tmp_path / "p.yaml")))
    store = FileStore(tmp_path / "ledger.jsonl")

    [entry] = store.append([NewEntry(dataset="ds", mechanism=GAUSSIAN)], admit=admission)

    [verdict] = admission.datasets
    assert entry.seq == 1
    assert verdict.dataset == "ds"
    assert 0.3 < verdict.epsilon < 0.35  # one Gaussian with σ = 12 at δ = 1e-6


def test_the_admission_refuses_over_the_limit_and_nothing_is_written(tmp_path: Path) -> None:
    admission = PolicyAdmission(load_policy(write_policy(tmp_path / "p.yaml", epsilon=0.3)))
    path = tmp_path / "ledger.jsonl"
    append_entry(path, dataset="ds", mechanism={"type": "gaussian", "noise_multiplier": 50.0})
    before = path.read_bytes()

    with pytest.raises(BudgetExceededError, match=r"dataset 'ds': ε with this entry would be"):
        FileStore(path).append([NewEntry(dataset="ds", mechanism=GAUSSIAN)], admit=admission)
    assert path.read_bytes() == before


def test_the_admission_refuses_a_dataset_the_policy_does_not_name(tmp_path: Path) -> None:
    admission = PolicyAdmission(load_policy(write_policy(tmp_path / "p.yaml")))
    path = tmp_path / "ledger.jsonl"

    with pytest.raises(BudgetExceededError, match="not in the policy"):
        FileStore(path).append([NewEntry(dataset="other", mechanism=GAUSSIAN)], admit=admission)
    assert not path.exists() or path.read_bytes() == b""


def test_entry_line_keeps_unicode_and_sorted_keys(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    entry = append_entry(path, dataset="ds", mechanism=GAUSSIAN, meta={"b": "é", "a": 1})

    line = entry_line(entry)

    assert line.endswith(b"\n")
    assert "é".encode() in line
    assert list(json.loads(line)) == sorted(json.loads(line))
