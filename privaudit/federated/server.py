"""The server: holds the global model and a strategy, and logs every message it receives —
the log is exactly the server's view, which is what the privacy analysis is about."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from privaudit.errors import InputError
from privaudit.federated.arrays import frozen
from privaudit.federated.evaluation import evaluate
from privaudit.federated.messages import (
    EvaluateMessage,
    ModelMessage,
    ReceivedMessage,
    UpdateMessage,
)
from privaudit.federated.results import FitOutcome
from privaudit.federated.strategies import Strategy
from privaudit.train.models import Array, Labels, Mlp


class Server:
    """Holds the global model and a strategy; sees only the messages it is handed.

    Every received message is logged in :attr:`received` (when ``keep_messages``; the log of a
    long run with large models can take gigabytes), in arrival order.
    """

    def __init__(
        self, strategy: Strategy, model: Mlp, params: Array, *, keep_messages: bool = True
    ) -> None:
        self.strategy = strategy
        self.model = model
        self._params = np.array(params, copy=True)
        self.keep_messages = keep_messages
        self._log: list[ReceivedMessage] = []
        self._round = 0
        self._asked: frozenset[int] = frozenset()
        self._pending: list[ReceivedMessage] = []

    @property
    def params(self) -> Array:
        """The current global model (a read-only copy)."""
        params: Array = frozen(self._params)
        return params

    @property
    def received(self) -> tuple[ReceivedMessage, ...]:
        """Every message the server received, in order (empty unless ``keep_messages``)."""
        return tuple(self._log)

    def configure_fit(self, round: int, clients: Sequence[int]) -> dict[int, ModelMessage]:
        messages = self.strategy.configure_fit(round, self._params, clients)
        self._round = round
        self._asked = frozenset(messages)
        self._pending = []
        return messages

    def receive(self, message: ReceivedMessage) -> None:
        if message.round != self._round:
            raise InputError(
                "<message>", "round", f"expected round {self._round}; found {message.round}"
            )
        if isinstance(message, UpdateMessage | EvaluateMessage) and (
            message.client_id not in self._asked
        ):
            raise InputError(
                "<message>",
                "client_id",
                f"client {message.client_id} was not asked in round {self._round}",
            )
        self._pending.append(message)
        if self.keep_messages:
            self._log.append(message)

    def aggregate_fit(self, round: int) -> FitOutcome:
        outcome = self.strategy.aggregate_fit(round, self._params, tuple(self._pending))
        self._params = np.array(outcome.params, copy=True)
        self._pending = []
        return outcome

    def evaluate(self, x: Array, y: Labels) -> dict[str, float]:
        """Centralised evaluation on (public) test data."""
        return evaluate(self.model, self._params, x, y)
