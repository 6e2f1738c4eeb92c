"""The auditor's choices are checked before any work."""

from __future__ import annotations

from typing import Any

import pytest

from privaudit.errors import InputError
from tests.audit.blobs import Blobs, dpsgd_audit


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"epsilon_claimed": float("inf")}, "epsilon_claimed"),
        ({"delta": 0.0}, "delta"),
        ({"method": "clopper_pearson"}, "method"),
        ({"score": "max"}, "score"),
        ({"seed": -1}, "seed"),
        ({"canaries": 1}, "canaries"),
        ({"untouched": 10}, "untouched"),
        ({"canary_norm_ratio": 1.0}, "canary_norm_ratio"),
    ],
)
def test_refused_audit_options(blobs: Blobs, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=field):
        dpsgd_audit(blobs, **options)
