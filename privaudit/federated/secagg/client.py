"""One client of secure aggregation: its keys, its shares of the others' secrets, its masked
input, and the checks an honest client makes before it answers the server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privaudit.federated.secagg.crypto import KEY_BYTES, NONCE_BYTES, open_share, seal_share
from privaudit.federated.secagg.encoding import encode_fixed_point
from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.masks import add_pairwise_mask, add_self_mask
from privaudit.federated.secagg.messages import (
    AdvertiseKeys,
    EncryptedShare,
    KeyDirectory,
    MaskedInput,
    ShareDelivery,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from privaudit.federated.secagg.params import SecAggParams, check_client_id
from privaudit.federated.secagg.randomness import RandomSource
from privaudit.federated.secagg.shamir import SECRET_BYTES, SHARE_BYTES, shamir_split

_SHARE_PLAINTEXT_BYTES = 2 * SHARE_BYTES
_NEW, _ADVERTISED, _SHARED, _INPUT_SENT, _DONE = range(5)


class SecAggClient:
    """One client. Call the rounds in order; each returns the message to send the server."""

    def __init__(
        self, client_id: int, params: SecAggParams, *, random: RandomSource | None = None
    ) -> None:
        check_client_id(client_id)
        self.client_id = client_id
        self.params = params
        self._random = random if random is not None else RandomSource()
        self._stage = _NEW
        self._encryption_key = X25519PrivateKey.from_private_bytes(self._random.bytes(KEY_BYTES))
        self._masking_key = X25519PrivateKey.from_private_bytes(self._random.bytes(KEY_BYTES))
        self._directory: dict[int, AdvertiseKeys] = {}
        self._self_mask_seed = b""
        self._own_shares: tuple[bytes, bytes] = (b"", b"")
        self._peers: tuple[int, ...] = ()  # U2 \ {u}
        self._ciphertexts: dict[int, bytes] = {}
        self._peer_shares: dict[int, tuple[bytes, bytes]] = {}
        self._revealed: dict[int, str] = {}  # peer → "b" or "s", once answered

    def advertise_keys(self) -> AdvertiseKeys:
        """Fig. 4 Round 0: the two fresh X25519 public keys."""
        self._advance(_NEW, "advertise keys")
        return self._advertisement()

    def share_keys(self, directory: KeyDirectory) -> ShareKeys:
        """Fig. 4 Round 1: Shamir-share ``s_u^SK`` and a fresh ``b_u`` among U1, encrypt."""
        self._advance(_ADVERTISED, "share keys")
        self._directory = entries = self._checked_directory(directory)
        threshold = self.params.threshold
        self_mask_seed = self._self_mask_seed = self._random.bytes(SECRET_BYTES)
        masking_secret = self._masking_key.private_bytes_raw()
        holders = sorted(entries)
        b_shares = shamir_split(self_mask_seed, threshold, holders, self._random)
        s_shares = shamir_split(masking_secret, threshold, holders, self._random)
        self._own_shares = (b_shares[self.client_id], s_shares[self.client_id])
        ciphertexts = []
        for peer in holders:
            if peer == self.client_id:
                continue
            sealed = seal_share(
                self._encryption_key,
                entries[peer].encryption_key,
                self.client_id,
                peer,
                self._random.bytes(NONCE_BYTES),
                b_shares[peer] + s_shares[peer],
            )
            ciphertexts.append(EncryptedShare(self.client_id, peer, sealed))
        return ShareKeys(self.client_id, tuple(ciphertexts))

    def masked_input(self, delivery: ShareDelivery, update: npt.ArrayLike) -> MaskedInput:
        """Fig. 4 Round 2: ``y_u = x_u + PRG(b_u) + Σ_{v ∈ U2} p_{u,v}`` mod R."""
        encoded = encode_fixed_point(update, self.params)  # refuse before anything is sent
        self._advance(_SHARED, "send a masked input")
        self._accept_delivery(delivery)
        masked = encoded.copy()
        add_self_mask(masked, self._self_mask_seed)
        for peer in self._peers:
            add_pairwise_mask(
                masked, self._masking_key, self._directory[peer].masking_key, self.client_id, peer
            )
        return MaskedInput(self.client_id, masked)

    def unmask(self, request: UnmaskingRequest) -> UnmaskingResponse:
        """Fig. 4 Round 4 (Unmasking): the share of ``b_v`` for each survivor ``v`` and of
        ``s_v^SK`` for each dropped ``v``; refuses any request that, with what this client
        already answered, would reveal both for one peer."""
        if self._stage not in (_INPUT_SENT, _DONE):
            raise self._error("asked to unmask before it sent its masked input")
        self._check_request(request)
        shares = self._decrypt_shares()
        b_shares = tuple((peer, shares[peer][0]) for peer in sorted(request.survivors))
        s_shares = tuple((peer, shares[peer][1]) for peer in sorted(request.dropped))
        for peer in request.survivors:
            self._revealed[peer] = "b"
        for peer in request.dropped:
            self._revealed[peer] = "s"
        self._stage = _DONE
        return UnmaskingResponse(self.client_id, b_shares, s_shares)

    def snapshot(self) -> dict[str, Any]:
        """The client's whole state as plain data (hex strings, ints, lists), for a client whose
        rounds run in separate processes (a Flower ClientApp gets a new process per message).
        It holds the client's private keys and shares: keep it on the client's own node."""
        return {
            "client_id": self.client_id,
            "stage": self._stage,
            "encryption_key": self._encryption_key.private_bytes_raw().hex(),
            "masking_key": self._masking_key.private_bytes_raw().hex(),
            "directory": [
                [e.client_id, e.encryption_key.hex(), e.masking_key.hex()]
                for e in self._directory.values()
            ],
            "self_mask_seed": self._self_mask_seed.hex(),
            "own_shares": [share.hex() for share in self._own_shares],
            "peers": list(self._peers),
            "ciphertexts": [[peer, c.hex()] for peer, c in self._ciphertexts.items()],
            "peer_shares": [[peer, b.hex(), s.hex()] for peer, (b, s) in self._peer_shares.items()],
            "revealed": [[peer, kind] for peer, kind in self._revealed.items()],
        }

    @classmethod
    def restore(
        cls, params: SecAggParams, state: Mapping[str, Any], *, random: RandomSource | None = None
    ) -> SecAggClient:
        """The client :meth:`snapshot` described, under the same ``params``; what it draws from
        now on comes from ``random`` (default: the OS's source)."""
        try:
            client = cls.__new__(cls)
            client.client_id = int(state["client_id"])
            check_client_id(client.client_id)
            client.params = params
            client._random = random if random is not None else RandomSource()
            client._stage = int(state["stage"])
            client._encryption_key = X25519PrivateKey.from_private_bytes(
                bytes.fromhex(state["encryption_key"])
            )
            client._masking_key = X25519PrivateKey.from_private_bytes(
                bytes.fromhex(state["masking_key"])
            )
            client._directory = {
                int(i): AdvertiseKeys(int(i), bytes.fromhex(e), bytes.fromhex(m))
                for i, e, m in state["directory"]
            }
            client._self_mask_seed = bytes.fromhex(state["self_mask_seed"])
            b_own, s_own = (bytes.fromhex(h) for h in state["own_shares"])
            client._own_shares = (b_own, s_own)
            client._peers = tuple(int(p) for p in state["peers"])
            client._ciphertexts = {int(p): bytes.fromhex(c) for p, c in state["ciphertexts"]}
            client._peer_shares = {
                int(p): (bytes.fromhex(b), bytes.fromhex(s)) for p, b, s in state["peer_shares"]
            }
            client._revealed = {int(p): str(kind) for p, kind in state["revealed"]}
        except (KeyError, TypeError, ValueError) as error:
            raise SecureAggregationError(
                f"secure aggregation: a saved client state is malformed ({error})"
            ) from error
        if client._stage not in range(_DONE + 1):
            raise SecureAggregationError(
                f"secure aggregation: a saved client state has stage {client._stage}"
            )
        return client

    def _checked_directory(self, directory: KeyDirectory) -> dict[int, AdvertiseKeys]:
        params = self.params
        entries = {entry.client_id: entry for entry in directory.keys}
        own = entries.get(self.client_id)
        if len(entries) != len(directory.keys):
            raise self._error("the key directory lists a client id twice")
        if own is None or own != self._advertisement():
            raise self._error("the key directory does not hold this client's own public keys")
        if len(entries) < params.threshold:
            raise self._error(
                f"only {len(entries)} clients advertised keys, fewer than the threshold"
                f" {params.threshold}"
            )
        if len(entries) > params.num_clients:
            raise self._error(
                f"{len(entries)} clients advertised keys, more than the {params.num_clients}"
                " the ring headroom was sized for"
            )
        # Fig. 4 Round 1: every public key must be distinct (a repeated key would make two
        # clients' masks or channels coincide).
        keys = [
            key for entry in directory.keys for key in (entry.encryption_key, entry.masking_key)
        ]
        if any(len(key) != KEY_BYTES for key in keys) or len(set(keys)) != len(keys):
            raise self._error("the key directory holds malformed or repeated public keys")
        return entries

    def _accept_delivery(self, delivery: ShareDelivery) -> None:
        if delivery.recipient != self.client_id:
            raise self._error(f"received the share delivery for client {delivery.recipient}")
        senders = [share.sender for share in delivery.shares]
        if (
            any(share.recipient != self.client_id for share in delivery.shares)
            or len(set(senders)) != len(senders)
            or not set(senders) <= set(self._directory) - {self.client_id}
        ):
            raise self._error("the share delivery holds shares not meant for this client")
        # Fig. 4 Round 2: U2 are the clients whose shares arrived, this one included.
        if len(senders) + 1 < self.params.threshold:
            raise self._error(
                f"shares arrived from {len(senders) + 1} clients (with this one), fewer than"
                f" the threshold {self.params.threshold}"
            )
        self._peers = tuple(sorted(senders))
        self._ciphertexts = {share.sender: share.ciphertext for share in delivery.shares}

    def _check_request(self, request: UnmaskingRequest) -> None:
        survivors = set(request.survivors)
        dropped = set(request.dropped)
        both = survivors & dropped
        both |= {peer for peer in survivors if self._revealed.get(peer) == "s"}
        both |= {peer for peer in dropped if self._revealed.get(peer) == "b"}
        if both:
            raise self._error(
                f"refusing to unmask: the request would reveal both the self-mask share and"
                f" the masking-key share of client(s) {sorted(both)}, which would expose their"
                " input (Bonawitz et al. 2017, Sec. 4)"
            )
        u2 = set(self._peers) | {self.client_id}
        if survivors | dropped != u2 or self.client_id not in survivors:
            raise self._error(
                f"the unmasking request's survivors {sorted(survivors)} and dropped"
                f" {sorted(dropped)} must split exactly the clients that shared keys"
                f" {sorted(u2)}, this one among the survivors"
            )
        if len(survivors) < self.params.threshold:
            raise self._error(
                f"only {len(survivors)} masked inputs arrived, fewer than the threshold"
                f" {self.params.threshold}"
            )

    def _advertisement(self) -> AdvertiseKeys:
        return AdvertiseKeys(
            self.client_id,
            self._encryption_key.public_key().public_bytes_raw(),
            self._masking_key.public_key().public_bytes_raw(),
        )

    def _decrypt_shares(self) -> dict[int, tuple[bytes, bytes]]:
        # Once: a second unmasking request is answered from the same decrypted shares.
        if not self._peer_shares:
            shares = {self.client_id: self._own_shares}
            for peer, ciphertext in self._ciphertexts.items():
                plain = self._open(peer, ciphertext)
                shares[peer] = (plain[:SHARE_BYTES], plain[SHARE_BYTES:])
            self._peer_shares = shares
        return self._peer_shares

    def _open(self, peer: int, ciphertext: bytes) -> bytes:
        public = self._directory[peer].encryption_key
        try:
            plain = open_share(self._encryption_key, public, peer, self.client_id, ciphertext)
        except InvalidTag as error:
            raise self._error(
                f"the encrypted share from client {peer} fails authentication (tampered"
                " with or misrouted); refusing to unmask"
            ) from error
        if len(plain) != _SHARE_PLAINTEXT_BYTES:
            raise self._error(f"the share from client {peer} has the wrong length")
        return plain

    def _advance(self, expected: int, action: str) -> None:
        if self._stage != expected:
            raise self._error(f"cannot {action} now: the rounds must run in order, once each")
        self._stage = expected + 1

    def _error(self, problem: str) -> SecureAggregationError:
        return SecureAggregationError(f"secure aggregation, client {self.client_id}: {problem}")
