"""Fixtures of the audit tests: the blobs data set, and consent to planted bugs."""

from __future__ import annotations

import pytest

from privaudit.audit.planted import PLANTED_BUGS_CONSENT, PLANTED_BUGS_VARIABLE
from tests.audit.blobs import Blobs, two_blobs


@pytest.fixture(scope="module")
def blobs() -> Blobs:
    """Two Gaussian blobs in 20 dimensions: 2,000 training and 500 test points."""
    return two_blobs()


@pytest.fixture
def allow_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, PLANTED_BUGS_CONSENT)
