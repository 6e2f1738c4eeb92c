"""The one failure of secure aggregation: the protocol cannot go on, so no sum is released."""

from __future__ import annotations

from privaudit.errors import EXIT_FAIL, PrivauditError


class SecureAggregationError(PrivauditError):
    """The secure-aggregation protocol cannot go on: too few clients, a share that fails
    authentication, a request an honest client must refuse, a message out of order."""

    exit_code = EXIT_FAIL
