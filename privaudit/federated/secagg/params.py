"""The public parameters every party agrees on before round 0, and the ring they fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

from privaudit.checks import require_count
from privaudit.errors import InputError

RingArray: TypeAlias = npt.NDArray[np.unsignedinteger[Any]]

DEFAULT_SCALE: Final = 2.0**16
DEFAULT_BITS: Final = 32
RING_BITS: Final = (32, 64)

MAX_CLIENT_ID: Final = 2**32 - 2
"""Ids are sent as 4-byte integers; Shamir evaluates at ``id + 1``, which must not be 0."""


@dataclass(frozen=True)
class SecAggParams:
    """Public parameters every party agrees on before round 0.

    ``num_clients`` is the most clients a session may admit: the ring headroom is sized for it.
    ``value_bound`` bounds every coordinate of every update, ``|x| ≤ value_bound``; clip updates
    to it first (DP-FedAvg clips anyway). Refused unless
    ``num_clients · round(value_bound · scale) < 2^(bits-1)``, so that no sum can wrap.
    """

    threshold: int
    num_clients: int
    vector_length: int
    value_bound: float
    scale: float = DEFAULT_SCALE
    bits: int = DEFAULT_BITS

    def __post_init__(self) -> None:
        require_count(self.num_clients, "num_clients", minimum=2)
        require_count(self.threshold, "threshold", minimum=2)
        if self.threshold > self.num_clients:
            raise InputError(
                "<argument>",
                "threshold",
                f"must be at most the number of clients ({self.num_clients});"
                f" found {self.threshold}",
            )
        require_count(self.vector_length, "vector_length")
        if (
            isinstance(self.bits, bool)
            or not isinstance(self.bits, int)
            or self.bits not in RING_BITS
        ):
            raise InputError("<argument>", "bits", f"must be 32 or 64; found {self.bits!r}")
        for name in ("value_bound", "scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InputError("<argument>", name, f"must be a number; found {value!r}")
            if not (np.isfinite(value) and value > 0):
                raise InputError("<argument>", name, f"must be finite and > 0; found {value!r}")
        self._check_headroom()

    def _check_headroom(self) -> None:
        # The rule that makes every sum decode exactly: no sum of num_clients inputs can wrap.
        if self.bound_encoded < 1:
            raise InputError(
                "<argument>",
                "scale",
                f"value_bound · scale = {self.value_bound:g} · {self.scale:g} rounds to 0:"
                " every update would encode to 0; raise the scale",
            )
        limit = 2 ** (self.bits - 1)
        if self.num_clients * self.bound_encoded >= limit:
            raise InputError(
                "<argument>",
                "value_bound",
                f"sums could overflow the ring: num_clients · round(value_bound · scale) ="
                f" {self.num_clients} · round({self.value_bound:g} · {self.scale:g}) ="
                f" {self.num_clients * self.bound_encoded} must be < 2^{self.bits - 1}"
                f" = {limit}; lower value_bound or scale"
                + (", or use bits=64" if self.bits < 64 else ""),
            )

    @property
    def dtype(self) -> np.dtype[np.unsignedinteger[Any]]:
        return np.dtype("<u4") if self.bits == 32 else np.dtype("<u8")

    @property
    def bound_encoded(self) -> int:
        """The largest encoded coordinate in absolute value, ``round(value_bound · scale)``."""
        return int(np.rint(np.float64(self.value_bound) * np.float64(self.scale)))


def check_client_id(client_id: object) -> None:
    """Refuse an id that is not an integer in ``0..MAX_CLIENT_ID``."""
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise InputError("<argument>", "client_id", f"must be an integer; found {client_id!r}")
    if not 0 <= client_id <= MAX_CLIENT_ID:
        raise InputError(
            "<argument>", "client_id", f"must be in 0..{MAX_CLIENT_ID}; found {client_id}"
        )
