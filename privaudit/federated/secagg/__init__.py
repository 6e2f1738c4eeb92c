"""Secure aggregation: Bonawitz et al., "Practical Secure Aggregation for Privacy-Preserving
Machine Learning", CCS 2017, Fig. 4 and Sec. 4, the semi-honest (honest-but-curious) variant.

The server learns the sum of the clients' updates and, per Sec. 6, nothing else about any one
update, as long as it follows the protocol and colludes with fewer than ``t`` clients. Every
update is hidden by *double masking* (Sec. 4):

- a **pairwise mask** ``p_{u,v} = ±PRG(s_{u,v})`` per pair of clients, with the seed
  ``s_{u,v}`` agreed by Diffie-Hellman on the masking keys ``s_u``, ``s_v`` and the sign set by
  id order, so the masks cancel in the sum;
- a **self-mask** ``PRG(b_u)`` from a fresh 32-byte seed, so that the server cannot strip the
  pairwise masks of a client whose input arrived late by claiming it dropped.

Dropouts are survived with Shamir ``t``-of-``n`` shares of ``b_u`` and of the masking private
key ``s_u^SK``, handed to the other clients encrypted. For a client whose masked input arrived
the server collects shares of ``b_u``; for one that dropped before sending it, shares of
``s_u^SK``; an honest client never reveals both for the same peer. Rounds (Fig. 4):

0. **AdvertiseKeys**: each client makes two X25519 key pairs (``c`` to encrypt shares, ``s`` to
   agree masks, RFC 7748) and sends both public keys; the server broadcasts the list ``U1``.
1. **ShareKeys**: each client Shamir-shares ``s_u^SK`` and ``b_u`` among ``U1`` and encrypts the
   shares for peer ``v`` with ChaCha20-Poly1305 (RFC 8439) under ``HKDF(X25519(c_u, c_v))``
   (RFC 5869), the ``(u, v)`` ids as associated data. The server only routes ciphertexts; the
   senders form ``U2``.
2. **MaskedInputCollection**: client ``u`` sends ``y_u = x_u + PRG(b_u) + Σ_{v∈U2} p_{u,v}``
   mod ``R``; the senders form ``U3``.
3. **Unmasking** (Fig. 4's Round 4): the server announces ``U3``; each surviving client sends,
   per peer, its share of ``b_v`` (``v ∈ U3``) or of ``s_v^SK`` (``v ∈ U2 \\ U3``). With ``t``
   answers the server rebuilds the secrets, cancels the dropped clients' pairwise masks, strips
   the self-masks and has ``Σ_{u∈U3} x_u`` mod ``R``.

Not implemented: the active-adversary (malicious-server) variant of Fig. 4, which adds a PKI with
signatures on the advertised keys and a ConsistencyCheck round (Fig. 4's Round 3) in which the
clients sign and cross-check the set ``U3``. Without them a server that deviates from the
protocol can, e.g., impersonate clients or tell different clients different survivor sets; a
client's own checks (it never reveals both shares of a peer, it answers one partition only)
narrow but do not close that gap.

Numbers. An update ``x`` is encoded in fixed point: ``round(x·scale)`` with deterministic
round-half-to-even (error ≤ 1/(2·scale) per coordinate, so ≤ n/(2·scale) on a sum of n), stored
in two's complement in the ring of integers mod ``R = 2^k`` (``k`` = 32 or 64). Headroom rule:
with every coordinate ``|x| ≤ value_bound`` (checked, refused otherwise), the encoded sum of up
to ``n`` clients stays within ``n·round(value_bound·scale) ≤ R/2 - 1`` in absolute value, so it
never wraps and decodes exactly; :class:`SecAggParams` refuses parameters that break the rule.
Secure aggregation adds no noise: it hides individual updates, not the sum. Differential privacy
for the sum needs noise added by the clients (the distributed Gaussian mechanism) or the server.

Randomness: keys, seeds, Shamir coefficients and nonces come from the OS's cryptographic source
(:func:`os.urandom`, :mod:`secrets`). A :class:`RandomSource` with a seed derives all of them from
a ChaCha20 stream instead, so that a test can be rerun bit for bit: never use one in production.

Also not covered: Python ints and ``bytes`` are not constant-time, and secrets are not wiped
from memory; the vector length and the client ids are public. Messages are plain frozen
dataclasses (never pickled); ``nbytes`` counts the raw bytes a compact encoding would carry.

Layout: :mod:`~.params` (the public parameters and the ring), :mod:`~.encoding` (fixed point),
:mod:`~.shamir` (secret sharing), :mod:`~.randomness`, :mod:`~.crypto` (key agreement, share
encryption, PRG), :mod:`~.masks` (self and pairwise masks), :mod:`~.messages`, :mod:`~.client`,
:mod:`~.server`, and :mod:`~.protocol` (the driver :func:`secure_sum`); :mod:`~.errors` holds
:class:`SecureAggregationError`. This package needs ``cryptography``; the simulator imports it
only when :func:`privaudit.federated.secure_aggregator` is called.
"""

from __future__ import annotations

from privaudit.federated.secagg.client import SecAggClient
from privaudit.federated.secagg.crypto import KEY_BYTES, prg
from privaudit.federated.secagg.encoding import (
    decode_fixed_point,
    encode_fixed_point,
    ring_to_signed,
)
from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.messages import (
    ID_BYTES,
    AdvertiseKeys,
    EncryptedShare,
    KeyDirectory,
    MaskedInput,
    ServerView,
    ShareDelivery,
    ShareKeys,
    UnmaskingRequest,
    UnmaskingResponse,
)
from privaudit.federated.secagg.params import (
    DEFAULT_BITS,
    DEFAULT_SCALE,
    MAX_CLIENT_ID,
    RING_BITS,
    RingArray,
    SecAggParams,
)
from privaudit.federated.secagg.protocol import SecureSumResult, secure_sum
from privaudit.federated.secagg.randomness import RandomSource
from privaudit.federated.secagg.server import SecAggServer
from privaudit.federated.secagg.shamir import (
    FIELD_PRIME,
    SECRET_BYTES,
    SHARE_BYTES,
    lagrange_at_zero,
    shamir_combine,
    shamir_split,
)

__all__ = [
    "DEFAULT_BITS",
    "DEFAULT_SCALE",
    "FIELD_PRIME",
    "ID_BYTES",
    "KEY_BYTES",
    "MAX_CLIENT_ID",
    "RING_BITS",
    "SECRET_BYTES",
    "SHARE_BYTES",
    "AdvertiseKeys",
    "EncryptedShare",
    "KeyDirectory",
    "MaskedInput",
    "RandomSource",
    "RingArray",
    "SecAggClient",
    "SecAggParams",
    "SecAggServer",
    "SecureAggregationError",
    "SecureSumResult",
    "ServerView",
    "ShareDelivery",
    "ShareKeys",
    "UnmaskingRequest",
    "UnmaskingResponse",
    "decode_fixed_point",
    "encode_fixed_point",
    "lagrange_at_zero",
    "prg",
    "ring_to_signed",
    "secure_sum",
    "shamir_combine",
    "shamir_split",
]
