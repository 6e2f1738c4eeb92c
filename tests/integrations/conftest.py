"""The Opacus training fixture and the PostgreSQL server fixture, imported when a test asks for
them: without the [opacus] or [postgres] extra the test modules skip, saying why, before any of
it loads."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture
def make_training() -> Callable[..., Any]:
    """A factory of fresh Opacus trainings (see :mod:`tests.integrations.opacus_training`)."""
    from tests.integrations.opacus_training import make_training as factory

    return factory()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A PostgreSQL server for the shared-ledger tests: the one CI started (the URLs in
    PRIVAUDIT_TEST_POSTGRES_URL and PRIVAUDIT_TEST_POSTGRES_SUPERUSER_URL), else a throwaway
    cluster on 127.0.0.1, stopped at the end of the session (also when tests fail). Tests name
    their own ledgers (:func:`tests.integrations.postgres_server.with_ledger`), so they share
    the server without interfering. Skips, saying why, without a server binary."""
    from tests.integrations import postgres_server as helper

    app_url = os.environ.get(helper.URL_ENV)
    superuser_url = os.environ.get(helper.SUPERUSER_URL_ENV)
    if app_url and superuser_url:
        helper.prepare(superuser_url, helper.role_of(app_url))
        yield helper.Server(app_url=app_url, superuser_url=superuser_url)
        return
    if helper.find_binaries() is None:
        pytest.skip(helper.NO_SERVER)
    with helper.throwaway_server() as server:
        yield server
