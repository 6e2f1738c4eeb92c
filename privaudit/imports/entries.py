"""An imported run → the ledger entries that record it, with the evidence of where it came from."""

from __future__ import annotations

from pathlib import Path

from privaudit.imports.common import Format, ImportedRun, file_digest
from privaudit.ledger import NewEntry
from privaudit.mechanisms import Sampling


def read_import(
    fmt: Format,
    path: str | Path,
    *,
    sampling: Sampling | None = None,
    delta: float | None = None,
) -> ImportedRun:
    """Read ``path`` in format ``fmt``. ``sampling`` only applies to Opacus histories, which do
    not record how batches were formed; ``delta`` is where a framework's figure is recomputed
    when the file gives none."""
    if fmt is Format.OPACUS:
        from privaudit.imports.opacus import read_opacus

        return read_opacus(path, sampling=sampling, delta=delta)
    if sampling is not None:
        from privaudit.errors import InputError

        raise InputError(
            "--sampling",
            None,
            f"applies to Opacus histories only; a {fmt.value} file states its own sampling",
        )
    if fmt is Format.TF_PRIVACY:
        from privaudit.imports.tf_privacy import read_tf_privacy

        return read_tf_privacy(path, delta=delta)
    from privaudit.imports.jax_privacy import read_jax_privacy

    return read_jax_privacy(path, delta=delta)


def import_entries(
    imported: ImportedRun,
    *,
    fmt: Format,
    path: str | Path,
    dataset: str,
    run: str | None = None,
    partition: str | None = None,
    privacy_unit: str | None = None,
) -> list[NewEntry]:
    """One entry per mechanism; the last carries the framework's ε for the whole run and the
    configuration as read, every one the file's name, SHA-256 and its place in the run."""
    file = Path(path)
    digest = file_digest(file)
    count = len(imported.mechanisms)
    entries = []
    for index, mechanism in enumerate(imported.mechanisms):
        last = index == count - 1
        evidence: dict[str, object] = {
            "file": file.name,
            "sha256": digest,
            "format": fmt.value,
            "block": index + 1,
            "blocks": count,
        }
        if last:
            evidence["config"] = imported.config
            if imported.notes:
                evidence["notes"] = list(imported.notes)
        entries.append(
            NewEntry(
                dataset=dataset,
                mechanism=mechanism,
                partition=partition,
                privacy_unit=privacy_unit or imported.privacy_unit,
                run=run,
                meta={
                    "framework": imported.framework.to_meta(
                        "import", imported.framework.epsilon if last else None
                    ),
                    "imported": evidence,
                },
            )
        )
    return entries
