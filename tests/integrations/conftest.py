"""The Opacus training fixture, imported when a test asks for it: without the [opacus] extra the
test modules skip, saying why, before any of it loads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture
def make_training() -> Callable[..., Any]:
    """A factory of fresh Opacus trainings (see :mod:`tests.integrations.opacus_training`)."""
    from tests.integrations.opacus_training import make_training as factory

    return factory()
