"""The secure-aggregation server: it routes the clients' messages, checks each round has
enough of them, and after the last round rebuilds the secrets and outputs the sum mod R."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.masks import add_pairwise_mask, add_self_mask
from privaudit.federated.secagg.messages import (
    KeyDirectory,
    ServerView,
    ShareDelivery,
    UnmaskingRequest,
)
from privaudit.federated.secagg.params import RingArray, SecAggParams, check_client_id
from privaudit.federated.secagg.shamir import SHARE_BYTES, lagrange_at_zero, shamir_combine

if TYPE_CHECKING:
    # The messages the server only receives: named in annotations, never built here.
    from privaudit.federated.secagg.messages import (
        AdvertiseKeys,
        EncryptedShare,
        MaskedInput,
        ShareKeys,
        UnmaskingResponse,
    )


class SecAggServer:
    """The aggregator: routes messages and, after round 3, outputs the sum mod R.

    It sees only the messages handed to its ``receive_*`` methods; :attr:`view` returns them.
    Every round needs at least ``threshold`` clients, or it raises
    :class:`SecureAggregationError` (Fig. 4: "if fewer than t messages, abort").
    """

    def __init__(self, params: SecAggParams) -> None:
        self.params = params
        self._stage = 0
        self._advertised: dict[int, AdvertiseKeys] = {}
        self._shares: dict[int, ShareKeys] = {}
        self._masked: dict[int, RingArray] = {}
        self._responses: dict[int, UnmaskingResponse] = {}
        self._request: UnmaskingRequest | None = None

    @property
    def view(self) -> ServerView:
        return ServerView(
            advertised=tuple(self._advertised[key] for key in sorted(self._advertised)),
            share_messages=tuple(self._shares[key] for key in sorted(self._shares)),
            masked_inputs=MappingProxyType(dict(sorted(self._masked.items()))),
            unmasking_responses=tuple(self._responses[key] for key in sorted(self._responses)),
        )

    # Round 0 (Fig. 4 Round 0: AdvertiseKeys).
    def receive_advertised_keys(self, message: AdvertiseKeys) -> None:
        self._expect(0, "advertised keys")
        check_client_id(message.client_id)
        if message.client_id in self._advertised:
            raise self._error(f"client {message.client_id} advertised keys twice")
        if len(self._advertised) >= self.params.num_clients:
            raise self._error(
                f"more than {self.params.num_clients} clients advertised keys: the ring headroom"
                " is sized for num_clients"
            )
        self._advertised[message.client_id] = message

    def key_directory(self) -> KeyDirectory:
        """Close round 0 and broadcast U1's keys."""
        self._expect(0, "a key directory")
        self._need(len(self._advertised), "clients advertised keys")
        self._stage = 1
        return KeyDirectory(tuple(self._advertised[key] for key in sorted(self._advertised)))

    # Round 1 (Fig. 4 Round 1: ShareKeys).
    def receive_shares(self, message: ShareKeys) -> None:
        self._expect(1, "encrypted shares")
        sender = message.client_id
        if sender not in self._advertised or sender in self._shares:
            raise self._error(f"unexpected shares from client {sender}")
        recipients = [share.recipient for share in message.shares]
        if (
            any(share.sender != sender for share in message.shares)
            or len(set(recipients)) != len(recipients)
            or set(recipients) != set(self._advertised) - {sender}
        ):
            raise self._error(f"client {sender} did not send one share to every other client")
        self._shares[sender] = message

    def deliver_shares(self) -> dict[int, ShareDelivery]:
        """Close round 1: each client of U2 gets the ciphertexts addressed to it from U2."""
        self._expect(1, "share deliveries")
        self._need(len(self._shares), "clients sent their encrypted shares")
        self._stage = 2
        inbox: dict[int, list[EncryptedShare]] = {client: [] for client in self._shares}
        for sender in sorted(self._shares):
            for share in self._shares[sender].shares:
                if share.recipient in inbox:
                    inbox[share.recipient].append(share)
        return {client: ShareDelivery(client, tuple(shares)) for client, shares in inbox.items()}

    # Round 2 (Fig. 4 Round 2: MaskedInputCollection).
    def receive_masked_input(self, message: MaskedInput) -> None:
        self._expect(2, "masked inputs")
        sender = message.client_id
        if sender not in self._shares or sender in self._masked:
            raise self._error(f"unexpected masked input from client {sender}")
        vector = message.vector
        if vector.dtype != self.params.dtype or vector.shape != (self.params.vector_length,):
            raise self._error(
                f"client {sender}'s masked input has dtype {vector.dtype} and shape"
                f" {vector.shape}; expected {self.params.dtype} ({self.params.vector_length},)"
            )
        stored = vector.copy()
        stored.setflags(write=False)
        self._masked[sender] = stored

    def unmasking_request(self) -> UnmaskingRequest:
        """Close round 2 and announce U3 (and U2 \\ U3)."""
        self._expect(2, "an unmasking request")
        self._need(len(self._masked), "masked inputs arrived")
        self._stage = 3
        self._request = UnmaskingRequest(
            survivors=tuple(sorted(self._masked)),
            dropped=tuple(sorted(set(self._shares) - set(self._masked))),
        )
        return self._request

    # Round 3 (Fig. 4 Round 4: Unmasking).
    def receive_unmasking(self, message: UnmaskingResponse) -> None:
        self._expect(3, "unmasking responses")
        request = self._request
        assert request is not None
        sender = message.client_id
        if sender not in self._masked or sender in self._responses:
            raise self._error(f"unexpected unmasking response from client {sender}")
        b_peers = [peer for peer, _ in message.self_mask_shares]
        s_peers = [peer for peer, _ in message.masking_key_shares]
        shares = message.self_mask_shares + message.masking_key_shares
        if (
            b_peers != list(request.survivors)
            or s_peers != list(request.dropped)
            or any(len(share) != SHARE_BYTES for _, share in shares)
        ):
            raise self._error(f"client {sender}'s unmasking response does not match the request")
        self._responses[sender] = message

    def aggregate(self) -> RingArray:
        """Close round 3: rebuild the secrets from ``t`` responses and return Σ_{u∈U3} x_u
        mod R (Fig. 4 Round 4, server side)."""
        self._expect(3, "the aggregate")
        request = self._request
        assert request is not None
        self._need(len(self._responses), "clients answered the unmasking request")
        self._stage = 4
        params = self.params
        # Any t shares determine a secret; one set of holders serves every secret.
        holders = sorted(self._responses)[: params.threshold]
        lagrange = lagrange_at_zero(holders)
        b_shares = {h: dict(self._responses[h].self_mask_shares) for h in holders}
        s_shares = {h: dict(self._responses[h].masking_key_shares) for h in holders}

        total = np.zeros(params.vector_length, dtype=params.dtype)
        for client in request.survivors:
            np.add(total, self._masked[client], out=total)
            # Sec. 4: the self-mask of every client in U3 comes off with its rebuilt b_u.
            seed = shamir_combine({h: b_shares[h][client] for h in holders}, lagrange=lagrange)
            add_self_mask(total, seed, remove=True)
        for gone in request.dropped:
            # Sec. 4: pairwise masks between a dropped client v and the survivors did not
            # cancel; recompute them from v's rebuilt s_v^SK and the survivors' s_u^PK.
            secret = shamir_combine({h: s_shares[h][gone] for h in holders}, lagrange=lagrange)
            masking_key = self._rebuilt_masking_key(gone, secret)
            for client in request.survivors:
                public = self._advertised[client].masking_key
                add_pairwise_mask(total, masking_key, public, client, gone, remove=True)
        return total

    def _rebuilt_masking_key(self, client: int, secret: bytes) -> X25519PrivateKey:
        masking_key = X25519PrivateKey.from_private_bytes(secret)
        if masking_key.public_key().public_bytes_raw() != self._advertised[client].masking_key:
            raise self._error(
                f"the rebuilt masking key of client {client} does not match its advertised"
                " public key: inconsistent shares"
            )
        return masking_key

    def _expect(self, stage: int, what: str) -> None:
        if self._stage != stage:
            raise self._error(f"not accepting {what} now: the rounds must run in order")

    def _need(self, count: int, what: str) -> None:
        if count < self.params.threshold:
            raise self._error(
                f"only {count} {what}, fewer than the threshold t = {self.params.threshold};"
                " aborting without a sum"
            )

    @staticmethod
    def _error(problem: str) -> SecureAggregationError:
        return SecureAggregationError(f"secure aggregation, server: {problem}")
