"""The gate's output formats, by name: importable without the accountant, so the CLI can
declare its options (and print its help) before anything is computed."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    JUNIT = "junit"
    GITHUB = "github"
    MARKDOWN = "markdown"
