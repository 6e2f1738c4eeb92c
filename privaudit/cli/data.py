"""``privaudit data fetch``: download a training data set and keep only verified files."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from privaudit.cli.app import FormatOption, SummaryFormat
from privaudit.cli.inputs import make_folder
from privaudit.cli.present import emit, emit_json, progress_line

data_app = typer.Typer(help="Fetch training data for validation runs.", no_args_is_help=True)


class FetchableData(StrEnum):
    MNIST = "mnist"


@data_app.command("fetch")
def data_fetch(
    name: Annotated[FetchableData, typer.Argument(help="Data set to download.")],
    dest: Annotated[
        Path, typer.Option(help="Folder for the files (created if its parent exists).")
    ] = Path("data/mnist"),
    output_format: FormatOption = SummaryFormat.TEXT,
) -> None:
    """Download a data set from its public mirrors; keep a file only if its SHA-256 matches."""
    from privaudit.data.fetch import fetch_mnist

    make_folder(dest)
    hashes = fetch_mnist(dest, progress=progress_line)
    if output_format is SummaryFormat.JSON:
        emit_json({"data": name.value, "folder": str(dest), "sha256": hashes})
        return
    emit(f"{name.value}: {len(hashes)} files verified in {dest}")
    for file, digest in sorted(hashes.items()):
        emit(f"  {file}  sha256 {digest}")
