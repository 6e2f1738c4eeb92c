"""Run records round-trip exactly and reject malformed files with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from privaudit.errors import InputError
from privaudit.records.run import (
    EpochRecord,
    PrivacyRecord,
    RunRecord,
    library_versions,
    now,
    read_record,
    write_record,
)


def _record() -> RunRecord:
    return RunRecord(
        kind="dpsgd",
        name="run-1",
        created=now(),
        data={"name": "digits", "train": 1437, "test": 360, "provenance": {"source": "sklearn"}},
        config={"epochs": 2, "batch_size": 64},
        privacy=PrivacyRecord(
            target_epsilon=2.0,
            delta=1e-5,
            noise_multiplier=1.1,
            clip_norm=1.0,
            sampling="poisson",
            sampling_rate=64 / 1437,
            steps_planned=44,
            steps_done=44,
            epsilon=1.9,
            mechanism={"type": "dpsgd", "noise_multiplier": 1.1},
        ),
        epochs=(
            EpochRecord(
                epoch=1, steps=22, epsilon=1.2, test_accuracy=0.8, test_loss=0.6, seconds=0.5
            ),
            EpochRecord(
                epoch=2, steps=44, epsilon=1.9, test_accuracy=0.9, test_loss=0.4, seconds=1.0
            ),
        ),
        test_accuracy=0.9,
        wall_seconds=1.1,
        random_source="crypto",
        versions=library_versions(),
    )


def test_a_record_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    record = _record()
    write_record(record, path)
    assert read_record(path) == record


def test_versions_name_the_accounting_library() -> None:
    assert "dp-accounting" in library_versions()


@pytest.mark.parametrize(
    ("text", "field"),
    [("{", "line 1"), ('{"kind": 3}', "kind"), ("[]", None), ('{"x": NaN}', None)],
)
def test_malformed_records_are_one_line_input_errors(
    tmp_path: Path, text: str, field: str | None
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_record(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)
    if field:
        assert field in str(caught.value)


def test_writing_into_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_record(_record(), tmp_path / "nope" / "run.json")
