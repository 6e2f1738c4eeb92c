"""The messages of the four rounds (Fig. 4), with the raw bytes a compact encoding would carry;
plain frozen dataclasses, never pickled."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from privaudit.federated.secagg.params import RingArray

ID_BYTES: Final = 4


@dataclass(frozen=True)
class AdvertiseKeys:
    """Round 0, client → server (Fig. 4 Round 0): the public keys ``c_u^PK`` and ``s_u^PK``."""

    client_id: int
    encryption_key: bytes
    masking_key: bytes

    @property
    def nbytes(self) -> int:
        return ID_BYTES + len(self.encryption_key) + len(self.masking_key)


@dataclass(frozen=True)
class KeyDirectory:
    """Round 0, server → every client of ``U1``: everyone's public keys, sorted by id."""

    keys: tuple[AdvertiseKeys, ...]

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self.keys)


@dataclass(frozen=True)
class EncryptedShare:
    """A ciphertext from ``sender`` to ``recipient``: nonce ‖ ChaCha20-Poly1305 of the share of
    ``b_sender`` ‖ the share of ``s_sender^SK``. The server cannot read it."""

    sender: int
    recipient: int
    ciphertext: bytes

    @property
    def nbytes(self) -> int:
        return 2 * ID_BYTES + len(self.ciphertext)


@dataclass(frozen=True)
class ShareKeys:
    """Round 1, client → server (Fig. 4 Round 1): one encrypted share per other client of U1."""

    client_id: int
    shares: tuple[EncryptedShare, ...]

    @property
    def nbytes(self) -> int:
        return ID_BYTES + sum(share.nbytes for share in self.shares)


@dataclass(frozen=True)
class ShareDelivery:
    """Round 1, server → one client of ``U2``: the ciphertexts the other clients of U2 sent it."""

    recipient: int
    shares: tuple[EncryptedShare, ...]

    @property
    def nbytes(self) -> int:
        return sum(share.nbytes for share in self.shares)


@dataclass(frozen=True, eq=False)
class MaskedInput:
    """Round 2, client → server (Fig. 4 Round 2): ``y_u`` in the ring, ``bits / 8`` bytes per
    element."""

    client_id: int
    vector: RingArray

    @property
    def nbytes(self) -> int:
        return ID_BYTES + int(self.vector.nbytes)


@dataclass(frozen=True)
class UnmaskingRequest:
    """Round 3, server → every client of ``U3`` (Fig. 4 Round 4): whose masked input arrived
    (``survivors`` = U3) and who dropped after sharing keys (``dropped`` = U2 \\ U3)."""

    survivors: tuple[int, ...]
    dropped: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return ID_BYTES * (len(self.survivors) + len(self.dropped))


@dataclass(frozen=True)
class UnmaskingResponse:
    """Round 3, client → server: (peer, share of ``b_peer``) for every survivor and (peer,
    share of ``s_peer^SK``) for every dropped client."""

    client_id: int
    self_mask_shares: tuple[tuple[int, bytes], ...]
    masking_key_shares: tuple[tuple[int, bytes], ...]

    @property
    def nbytes(self) -> int:
        pairs = self.self_mask_shares + self.masking_key_shares
        return ID_BYTES + sum(ID_BYTES + len(share) for _, share in pairs)


@dataclass(frozen=True, eq=False)
class ServerView:
    """Everything the server received, by round. ``masked_inputs`` arrays are read-only."""

    advertised: tuple[AdvertiseKeys, ...]
    share_messages: tuple[ShareKeys, ...]
    masked_inputs: Mapping[int, RingArray]
    unmasking_responses: tuple[UnmaskingResponse, ...]

    @property
    def round_sets(self) -> tuple[tuple[int, ...], ...]:
        """``(U1, U2, U3, responders)`` as sorted ids."""
        return (
            tuple(sorted(message.client_id for message in self.advertised)),
            tuple(sorted(message.client_id for message in self.share_messages)),
            tuple(sorted(self.masked_inputs)),
            tuple(sorted(message.client_id for message in self.unmasking_responses)),
        )
