"""Where one party's keys, seeds, Shamir coefficients and nonces come from."""

from __future__ import annotations

import hashlib
import os
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from privaudit.federated.secagg.crypto import LABEL


class RandomSource:
    """Where one party's keys, seeds, Shamir coefficients and nonces come from.

    ``RandomSource()`` reads the OS's cryptographic source. ``RandomSource(seed, stream)``
    derives every byte from ChaCha20 keyed by SHA-256 of the seed and the stream name: tests
    only, since anyone who knows the seed knows every key.
    """

    def __init__(self, seed: int | None = None, stream: str = "") -> None:
        self._encryptor = None
        if seed is not None:
            key = hashlib.sha256(LABEL + f"test-seed/{seed}/{stream}".encode()).digest()
            self._encryptor = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    @property
    def deterministic(self) -> bool:
        return self._encryptor is not None

    def bytes(self, n: int) -> bytes:
        if self._encryptor is None:
            return os.urandom(n)
        return self._encryptor.update(bytes(n))

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)``."""
        if self._encryptor is None:
            return secrets.randbelow(bound)
        # Rejection sampling keeps the draw uniform; it rarely loops (bound > half the range).
        bits = (bound - 1).bit_length()
        while True:
            value = int.from_bytes(self.bytes((bits + 7) // 8), "big") >> (-bits % 8)
            if value < bound:
                return value
