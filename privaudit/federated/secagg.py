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
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privaudit.errors import EXIT_FAIL, InputError, PrivauditError, describe_value

RingArray: TypeAlias = npt.NDArray[np.unsignedinteger[Any]]

DEFAULT_SCALE: Final = 2.0**16
DEFAULT_BITS: Final = 32
RING_BITS: Final = (32, 64)

FIELD_PRIME: Final = 2**521 - 1
"""Shamir shares live in GF(2^521 - 1), a Mersenne prime above every 32-byte secret."""
SHARE_BYTES: Final = 66
SECRET_BYTES: Final = 32
KEY_BYTES: Final = 32
ID_BYTES: Final = 4
MAX_CLIENT_ID: Final = 2**32 - 2
"""Ids are sent as 4-byte integers; Shamir evaluates at ``id + 1``, which must not be 0."""

_NONCE_BYTES: Final = 12
_SHARE_PLAINTEXT_BYTES: Final = 2 * SHARE_BYTES
_LABEL: Final = b"privaudit-secagg/v1/"
# ChaCha20 in `cryptography` takes a 16-byte nonce: a 4-byte block counter, then 12 bytes. Each
# PRG seed is used for one stream only; the labels keep self-mask and pairwise streams apart
# even if two seeds were ever equal.
_SELF_MASK_NONCE: Final = bytes(4) + b"self-mask\0\0\0"
_PAIRWISE_NONCE: Final = bytes(4) + b"pairwise\0\0\0\0"


class SecureAggregationError(PrivauditError):
    """The secure-aggregation protocol cannot go on: too few clients, a share that fails
    authentication, a request an honest client must refuse, a message out of order."""

    exit_code = EXIT_FAIL


# --- randomness ---------------------------------------------------------------------------------


class RandomSource:
    """Where one party's keys, seeds, Shamir coefficients and nonces come from.

    ``RandomSource()`` reads the OS's cryptographic source. ``RandomSource(seed, stream)``
    derives every byte from ChaCha20 keyed by SHA-256 of the seed and the stream name: tests
    only, since anyone who knows the seed knows every key.
    """

    def __init__(self, seed: int | None = None, stream: str = "") -> None:
        self._encryptor = None
        if seed is not None:
            key = hashlib.sha256(_LABEL + f"test-seed/{seed}/{stream}".encode()).digest()
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


# --- parameters and fixed-point encoding --------------------------------------------------------


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
        _check_int("num_clients", self.num_clients, 2)
        _check_int("threshold", self.threshold, 2)
        if self.threshold > self.num_clients:
            raise InputError(
                "<argument>",
                "threshold",
                f"must be at most the number of clients ({self.num_clients});"
                f" found {self.threshold}",
            )
        _check_int("vector_length", self.vector_length, 1)
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


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("<argument>", name, f"must be an integer; found {value!r}")
    if value < minimum:
        raise InputError("<argument>", name, f"must be ≥ {minimum}; found {value}")


def encode_fixed_point(update: npt.ArrayLike, params: SecAggParams) -> RingArray:
    """``round(x · scale)`` (half to even) in two's complement mod ``2^bits``.

    Refuses a coordinate outside ``±value_bound`` (or NaN): the headroom rule counts on it.
    """
    values = np.asarray(update)
    if not np.issubdtype(values.dtype, np.number) or np.issubdtype(
        values.dtype, np.complexfloating
    ):
        raise InputError("<argument>", "update", f"must be real numbers; found {values.dtype}")
    if values.shape != (params.vector_length,):
        raise InputError(
            "<argument>",
            "update",
            f"must have shape ({params.vector_length},); found {values.shape}",
        )
    values = values.astype(np.float64)
    outside = ~(np.abs(values) <= params.value_bound)
    if outside.any():
        index = int(np.flatnonzero(outside)[0])
        raise InputError(
            "<argument>",
            "update",
            f"coordinate {index} is {describe_value(float(values[index]))}, outside the declared"
            f" value_bound ±{params.value_bound:g} ({int(outside.sum())} of {values.size}"
            " coordinates are); clip updates to the bound first: the ring headroom"
            f" num_clients · value_bound · scale < 2^{params.bits - 1} depends on it",
        )
    # int64 → uint wraps negatives to two's complement mod 2^bits.
    encoded: RingArray = np.rint(values * params.scale).astype(np.int64).astype(params.dtype)
    return encoded


def ring_to_signed(values: RingArray, bits: int) -> npt.NDArray[np.int64]:
    """Read ring elements as two's-complement integers in ``[-2^(bits-1), 2^(bits-1))``."""
    signed = np.dtype("<i4") if bits == 32 else np.dtype("<i8")
    return np.ascontiguousarray(values).view(signed).astype(np.int64)


def decode_fixed_point(values: RingArray, params: SecAggParams) -> npt.NDArray[np.float64]:
    """Inverse of :func:`encode_fixed_point` for one value or, within the headroom, a sum."""
    decoded: npt.NDArray[np.float64] = ring_to_signed(values, params.bits).astype(np.float64)
    return decoded / params.scale


# --- Shamir secret sharing (Shamir, CACM 1979; Bonawitz et al. 2017, Sec. 3) ----------------


def shamir_split(
    secret: bytes, threshold: int, holders: Iterable[int], random: RandomSource
) -> dict[int, bytes]:
    """``threshold``-of-n shares of ``secret``: holder ``h`` gets ``f(h + 1)`` for a random
    polynomial ``f`` over GF(2^521 - 1) of degree ``threshold - 1`` with ``f(0) = secret``."""
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [random.below(FIELD_PRIME) for _ in range(threshold - 1)]
    shares = {}
    for holder in holders:
        x = holder + 1
        y = 0
        for coefficient in reversed(coefficients):  # Horner
            y = (y * x + coefficient) % FIELD_PRIME
        shares[holder] = y.to_bytes(SHARE_BYTES, "big")
    return shares


def lagrange_at_zero(holders: Sequence[int]) -> list[int]:
    """Coefficients λ_h with ``f(0) = Σ λ_h f(h + 1)`` for any ``f`` of degree < len(holders).

    They depend on the holders only, so one set serves every secret rebuilt from those holders.
    """
    xs = [holder + 1 for holder in holders]
    coefficients = []
    for i, xi in enumerate(xs):
        numerator = 1
        denominator = 1
        for j, xj in enumerate(xs):
            if i != j:
                numerator = numerator * xj % FIELD_PRIME
                denominator = denominator * (xj - xi) % FIELD_PRIME
        coefficients.append(numerator * pow(denominator, -1, FIELD_PRIME) % FIELD_PRIME)
    return coefficients


def shamir_combine(shares: Mapping[int, bytes], *, lagrange: Sequence[int] | None = None) -> bytes:
    """The 32-byte secret behind ``shares`` (holder → share), by Lagrange interpolation at 0.

    Needs at least ``threshold`` shares; with fewer the result is a random field element and,
    when it does not fit 32 bytes, is refused. ``lagrange`` are precomputed coefficients for
    ``sorted(shares)``.
    """
    holders = sorted(shares)
    if lagrange is None:
        lagrange = lagrange_at_zero(holders)
    value = 0
    for holder, coefficient in zip(holders, lagrange, strict=True):
        value += coefficient * int.from_bytes(shares[holder], "big")
    value %= FIELD_PRIME
    if value >= 2 ** (8 * SECRET_BYTES):
        raise SecureAggregationError(
            f"Shamir shares from clients {holders} are inconsistent: the interpolated secret"
            f" does not fit {SECRET_BYTES} bytes"
        )
    return value.to_bytes(SECRET_BYTES, "big")


# --- key agreement, encryption and the PRG ------------------------------------------------------


def _ids(*client_ids: int) -> bytes:
    return struct.pack(f">{len(client_ids)}I", *client_ids)


def _agree(private_key: X25519PrivateKey, peer_public: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of the X25519 shared secret (RFC 7748): Sec. 3's KA.agree."""
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as error:
        # An all-zero shared secret: the peer sent a low-order point.
        raise SecureAggregationError(f"key agreement failed: {error}") from error
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL + info).derive(shared)


def _share_key(
    private_key: X25519PrivateKey, peer_public: bytes, sender: int, recipient: int
) -> bytes:
    # One key per direction: u → v and v → u never encrypt under the same key.
    return _agree(private_key, peer_public, b"share-encryption" + _ids(sender, recipient))


def _share_ad(sender: int, recipient: int) -> bytes:
    # Fig. 4 Round 1 encrypts u ‖ v ‖ shares; binding (u, v) as associated data makes the AEAD
    # reject a ciphertext the server re-routed to another recipient or relabelled.
    return _LABEL + b"share" + _ids(sender, recipient)


def _pairwise_seed(private_key: X25519PrivateKey, peer_public: bytes, u: int, v: int) -> bytes:
    # Symmetric in (u, v): both ends, and the server after rebuilding s_v^SK, derive one seed.
    return _agree(private_key, peer_public, b"pairwise-mask" + _ids(min(u, v), max(u, v)))


def prg(
    seed: bytes, length: int, dtype: np.dtype[np.unsignedinteger[Any]], nonce: bytes
) -> RingArray:
    """``length`` uniform ring elements: the ChaCha20 (RFC 8439) keystream of ``seed``, read as
    little-endian unsigned integers (Sec. 3's PRG). Each element is k/8 whole keystream
    bytes, so the elements are uniform on the ring, as the masks' hiding argument needs."""
    encryptor = Cipher(algorithms.ChaCha20(seed, nonce), mode=None).encryptor()
    stream = encryptor.update(bytes(length * dtype.itemsize))
    values: RingArray = np.frombuffer(stream, dtype=dtype)
    return values


# --- messages -----------------------------------------------------------------------------------


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


# --- the client ---------------------------------------------------------------------------------

_NEW, _ADVERTISED, _SHARED, _INPUT_SENT, _DONE = range(5)


class SecAggClient:
    """One client. Call the rounds in order; each returns the message to send the server."""

    def __init__(
        self, client_id: int, params: SecAggParams, *, random: RandomSource | None = None
    ) -> None:
        _check_client_id(client_id)
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
        self._directory = entries

        self_mask_seed = self._self_mask_seed = self._random.bytes(SECRET_BYTES)
        masking_secret = self._masking_key.private_bytes_raw()
        holders = sorted(entries)
        b_shares = shamir_split(self_mask_seed, params.threshold, holders, self._random)
        s_shares = shamir_split(masking_secret, params.threshold, holders, self._random)
        self._own_shares = (b_shares[self.client_id], s_shares[self.client_id])
        ciphertexts = []
        for peer in holders:
            if peer == self.client_id:
                continue
            key = _share_key(
                self._encryption_key, entries[peer].encryption_key, self.client_id, peer
            )
            nonce = self._random.bytes(_NONCE_BYTES)
            sealed = ChaCha20Poly1305(key).encrypt(
                nonce, b_shares[peer] + s_shares[peer], _share_ad(self.client_id, peer)
            )
            ciphertexts.append(EncryptedShare(self.client_id, peer, nonce + sealed))
        return ShareKeys(self.client_id, tuple(ciphertexts))

    def masked_input(self, delivery: ShareDelivery, update: npt.ArrayLike) -> MaskedInput:
        """Fig. 4 Round 2: ``y_u = x_u + PRG(b_u) + Σ_{v ∈ U2} p_{u,v}`` mod R."""
        encoded = encode_fixed_point(update, self.params)  # refuse before anything is sent
        self._advance(_SHARED, "send a masked input")
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

        dtype = self.params.dtype
        length = self.params.vector_length
        masked = encoded.copy()
        np.add(masked, prg(self._self_mask_seed, length, dtype, _SELF_MASK_NONCE), out=masked)
        for peer in self._peers:
            seed = _pairwise_seed(
                self._masking_key, self._directory[peer].masking_key, self.client_id, peer
            )
            mask = prg(seed, length, dtype, _PAIRWISE_NONCE)
            # Fig. 4 Round 2: p_{u,v} = +PRG(s_{u,v}) if u > v, −PRG(s_{u,v}) if u < v, so that
            # p_{u,v} + p_{v,u} = 0 (Sec. 4); unsigned arithmetic wraps mod 2^k.
            if self.client_id > peer:
                np.add(masked, mask, out=masked)
            else:
                np.subtract(masked, mask, out=masked)
        return MaskedInput(self.client_id, masked)

    def unmask(self, request: UnmaskingRequest) -> UnmaskingResponse:
        """Fig. 4 Round 4 (Unmasking): the share of ``b_v`` for each survivor ``v`` and of
        ``s_v^SK`` for each dropped ``v``; refuses any request that, with what this client
        already answered, would reveal both for one peer."""
        if self._stage not in (_INPUT_SENT, _DONE):
            raise self._error("asked to unmask before it sent its masked input")
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
        shares = self._decrypt_shares()
        b_shares = tuple((peer, shares[peer][0]) for peer in sorted(survivors))
        s_shares = tuple((peer, shares[peer][1]) for peer in sorted(dropped))
        for peer in survivors:
            self._revealed[peer] = "b"
        for peer in dropped:
            self._revealed[peer] = "s"
        self._stage = _DONE
        return UnmaskingResponse(self.client_id, b_shares, s_shares)

    def _advertisement(self) -> AdvertiseKeys:
        return AdvertiseKeys(
            self.client_id,
            self._encryption_key.public_key().public_bytes_raw(),
            self._masking_key.public_key().public_bytes_raw(),
        )

    def _decrypt_shares(self) -> dict[int, tuple[bytes, bytes]]:
        if not self._peer_shares:
            shares = {self.client_id: self._own_shares}
            for peer, ciphertext in self._ciphertexts.items():
                key = _share_key(
                    self._encryption_key, self._directory[peer].encryption_key, peer, self.client_id
                )
                nonce, sealed = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
                try:
                    plain = ChaCha20Poly1305(key).decrypt(
                        nonce, sealed, _share_ad(peer, self.client_id)
                    )
                except InvalidTag as error:
                    raise self._error(
                        f"the encrypted share from client {peer} fails authentication (tampered"
                        " with or misrouted); refusing to unmask"
                    ) from error
                if len(plain) != _SHARE_PLAINTEXT_BYTES:
                    raise self._error(f"the share from client {peer} has the wrong length")
                shares[peer] = (plain[:SHARE_BYTES], plain[SHARE_BYTES:])
            self._peer_shares = shares
        return self._peer_shares

    def _advance(self, expected: int, action: str) -> None:
        if self._stage != expected:
            raise self._error(f"cannot {action} now: the rounds must run in order, once each")
        self._stage = expected + 1

    def _error(self, problem: str) -> SecureAggregationError:
        return SecureAggregationError(f"secure aggregation, client {self.client_id}: {problem}")


def _check_client_id(client_id: object) -> None:
    if isinstance(client_id, bool) or not isinstance(client_id, int):
        raise InputError("<argument>", "client_id", f"must be an integer; found {client_id!r}")
    if not 0 <= client_id <= MAX_CLIENT_ID:
        raise InputError(
            "<argument>", "client_id", f"must be in 0..{MAX_CLIENT_ID}; found {client_id}"
        )


# --- the server ---------------------------------------------------------------------------------


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
        _check_client_id(message.client_id)
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
            np.subtract(
                total, prg(seed, params.vector_length, params.dtype, _SELF_MASK_NONCE), out=total
            )
        for gone in request.dropped:
            # Sec. 4: pairwise masks between a dropped client v and the survivors did not
            # cancel; recompute them from v's rebuilt s_v^SK and the survivors' s_u^PK.
            secret = shamir_combine({h: s_shares[h][gone] for h in holders}, lagrange=lagrange)
            masking_key = X25519PrivateKey.from_private_bytes(secret)
            if masking_key.public_key().public_bytes_raw() != self._advertised[gone].masking_key:
                raise self._error(
                    f"the rebuilt masking key of client {gone} does not match its advertised"
                    " public key: inconsistent shares"
                )
            for client in request.survivors:
                seed = _pairwise_seed(
                    masking_key, self._advertised[client].masking_key, client, gone
                )
                mask = prg(seed, params.vector_length, params.dtype, _PAIRWISE_NONCE)
                # Undo p_{client,gone}, which client added with sign + if client > gone.
                if client > gone:
                    np.subtract(total, mask, out=total)
                else:
                    np.add(total, mask, out=total)
        return total

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


# --- the driver ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SecureSumResult:
    """What :func:`secure_sum` returns.

    ``survivors`` (U3) are the clients whose input is in ``total``, those that dropped after
    sending it included; ``dropped`` the others; ``responders`` those that answered round 3.
    Byte counts are the messages' ``nbytes``: a client's are what it sent and received while
    online; the server's count each copy it sent, to clients that then dropped too.
    ``*_seconds`` are the wall time spent in each party's protocol calls.
    """

    total: npt.NDArray[np.float64]
    encoded_total: npt.NDArray[np.int64]
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    responders: tuple[int, ...]
    bytes_sent_per_client: dict[int, int]
    bytes_received_per_client: dict[int, int]
    bytes_server_received: int
    bytes_server_sent: int
    server_view: ServerView
    params: SecAggParams
    client_seconds: dict[int, float] = field(default_factory=dict)
    server_seconds: float = 0.0


def secure_sum(
    inputs: Mapping[int, npt.ArrayLike],
    *,
    threshold: int,
    value_bound: float,
    scale: float = DEFAULT_SCALE,
    bits: int = DEFAULT_BITS,
    drop_before_input: Collection[int] = (),
    drop_after_input: Collection[int] = (),
    rng_seed: int | None = None,
) -> SecureSumResult:
    """Run one secure aggregation of ``inputs`` (client id → update, all of one shape) in
    process, clients and server exchanging only messages.

    ``drop_before_input`` clients go offline after round 1 (their pairwise masks are removed
    through their rebuilt ``s^SK``; their input is not in the sum). ``drop_after_input``
    clients send their masked input, then go offline before round 3 (their input is in the
    sum). Raises :class:`SecureAggregationError` when fewer than ``threshold`` clients take part
    in any round; never returns a partial sum. ``rng_seed`` makes the run reproducible (and
    insecure): see :class:`RandomSource`.
    """
    if not isinstance(inputs, Mapping) or len(inputs) < 2:
        raise InputError("<argument>", "inputs", "must map at least 2 client ids to updates")
    updates = {}
    for client_id, update in inputs.items():
        _check_client_id(client_id)
        updates[client_id] = np.asarray(update)
    shape = next(iter(updates.values())).shape
    for client_id, update in updates.items():
        if update.shape != shape:
            raise InputError(
                "<argument>",
                f"inputs[{client_id}]",
                f"must have the shape of the others {shape}; found {update.shape}",
            )
    before = set(drop_before_input)
    after = set(drop_after_input)
    for name, chosen in (("drop_before_input", before), ("drop_after_input", after)):
        if not chosen <= set(updates):
            unknown = sorted(chosen - set(updates))
            raise InputError("<argument>", name, f"unknown client ids {unknown}")
    if before & after:
        raise InputError(
            "<argument>", "drop_after_input", f"clients {sorted(before & after)} drop twice"
        )
    length = int(np.prod(shape))
    params = SecAggParams(threshold, len(updates), length, value_bound, scale, bits)
    flat = {client_id: update.reshape(length) for client_id, update in updates.items()}
    for client_id, update in flat.items():
        try:
            encode_fixed_point(update, params)
        except InputError as error:
            raise InputError("<argument>", f"inputs[{client_id}]", error.problem) from error

    ids = sorted(updates)
    clients = {
        client_id: SecAggClient(
            client_id, params, random=RandomSource(rng_seed, f"client/{client_id}")
        )
        for client_id in ids
    }
    server = SecAggServer(params)
    sent = dict.fromkeys(ids, 0)
    received = dict.fromkeys(ids, 0)
    client_seconds = dict.fromkeys(ids, 0.0)
    server_seconds = 0.0
    server_sent = 0

    def on_client(client_id: int, began: float) -> None:
        client_seconds[client_id] += time.perf_counter() - began

    # Round 0: AdvertiseKeys.
    for client_id in ids:
        began = time.perf_counter()
        advertised = clients[client_id].advertise_keys()
        on_client(client_id, began)
        sent[client_id] += advertised.nbytes
        began = time.perf_counter()
        server.receive_advertised_keys(advertised)
        server_seconds += time.perf_counter() - began
    began = time.perf_counter()
    directory = server.key_directory()
    server_seconds += time.perf_counter() - began

    # Round 1: ShareKeys.
    for client_id in ids:
        received[client_id] += directory.nbytes
        server_sent += directory.nbytes
        began = time.perf_counter()
        shared = clients[client_id].share_keys(directory)
        on_client(client_id, began)
        sent[client_id] += shared.nbytes
        began = time.perf_counter()
        server.receive_shares(shared)
        server_seconds += time.perf_counter() - began
    began = time.perf_counter()
    deliveries = server.deliver_shares()
    server_seconds += time.perf_counter() - began

    # Round 2: MaskedInputCollection; drop_before_input clients are gone.
    for client_id in ids:
        server_sent += deliveries[client_id].nbytes
        if client_id in before:
            continue
        received[client_id] += deliveries[client_id].nbytes
        began = time.perf_counter()
        masked = clients[client_id].masked_input(deliveries[client_id], flat[client_id])
        on_client(client_id, began)
        sent[client_id] += masked.nbytes
        began = time.perf_counter()
        server.receive_masked_input(masked)
        server_seconds += time.perf_counter() - began
    began = time.perf_counter()
    request = server.unmasking_request()
    server_seconds += time.perf_counter() - began

    # Round 3: Unmasking; drop_after_input clients are gone too.
    for client_id in request.survivors:
        server_sent += request.nbytes
        if client_id in after:
            continue
        received[client_id] += request.nbytes
        began = time.perf_counter()
        response = clients[client_id].unmask(request)
        on_client(client_id, began)
        sent[client_id] += response.nbytes
        began = time.perf_counter()
        server.receive_unmasking(response)
        server_seconds += time.perf_counter() - began
    began = time.perf_counter()
    ring_total = server.aggregate()
    server_seconds += time.perf_counter() - began

    encoded_total = ring_to_signed(ring_total, bits)
    view = server.view
    return SecureSumResult(
        total=decode_fixed_point(ring_total, params).reshape(shape),
        encoded_total=encoded_total.reshape(shape),
        survivors=request.survivors,
        dropped=tuple(sorted(set(ids) - set(request.survivors))),
        responders=view.round_sets[3],
        bytes_sent_per_client=sent,
        bytes_received_per_client=received,
        bytes_server_received=sum(sent.values()),
        bytes_server_sent=server_sent,
        server_view=view,
        params=params,
        client_seconds=client_seconds,
        server_seconds=server_seconds,
    )
