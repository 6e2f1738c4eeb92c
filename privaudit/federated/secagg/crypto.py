"""The cryptographic primitives of Bonawitz et al. 2017, Sec. 3: key agreement (X25519 and
HKDF), authenticated encryption of shares (ChaCha20-Poly1305) and the PRG (ChaCha20)."""

from __future__ import annotations

import struct
from typing import Any, Final

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from privaudit.federated.secagg.errors import SecureAggregationError
from privaudit.federated.secagg.params import RingArray

KEY_BYTES: Final = 32
NONCE_BYTES: Final = 12
LABEL: Final = b"privaudit-secagg/v1/"
# ChaCha20 in `cryptography` takes a 16-byte nonce: a 4-byte block counter, then 12 bytes. Each
# PRG seed is used for one stream only; the labels keep self-mask and pairwise streams apart
# even if two seeds were ever equal.
SELF_MASK_NONCE: Final = bytes(4) + b"self-mask\0\0\0"
PAIRWISE_NONCE: Final = bytes(4) + b"pairwise\0\0\0\0"


def _ids(*client_ids: int) -> bytes:
    return struct.pack(f">{len(client_ids)}I", *client_ids)


def _agree(private_key: X25519PrivateKey, peer_public: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 (RFC 5869) of the X25519 shared secret (RFC 7748): Sec. 3's KA.agree."""
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(peer_public))
    except ValueError as error:
        # An all-zero shared secret: the peer sent a low-order point.
        raise SecureAggregationError(f"key agreement failed: {error}") from error
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL + info).derive(shared)


def _share_key(
    private_key: X25519PrivateKey, peer_public: bytes, sender: int, recipient: int
) -> bytes:
    # One key per direction: u → v and v → u never encrypt under the same key.
    return _agree(private_key, peer_public, b"share-encryption" + _ids(sender, recipient))


def _share_ad(sender: int, recipient: int) -> bytes:
    # Fig. 4 Round 1 encrypts u ‖ v ‖ shares; binding (u, v) as associated data makes the AEAD
    # reject a ciphertext the server re-routed to another recipient or relabelled.
    return LABEL + b"share" + _ids(sender, recipient)


def seal_share(
    private_key: X25519PrivateKey,
    peer_public: bytes,
    sender: int,
    recipient: int,
    nonce: bytes,
    plaintext: bytes,
) -> bytes:
    """``nonce`` ‖ ChaCha20-Poly1305 of ``plaintext`` from ``sender`` to ``recipient``, under
    the key the two agree from the sender's private and the recipient's public key."""
    key = _share_key(private_key, peer_public, sender, recipient)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, _share_ad(sender, recipient))


def open_share(
    private_key: X25519PrivateKey, peer_public: bytes, sender: int, recipient: int, sealed: bytes
) -> bytes:
    """The plaintext of :func:`seal_share`'s output, opened by the recipient. Raises
    :class:`~cryptography.exceptions.InvalidTag` when it fails authentication (tampered with,
    or meant for another pair)."""
    key = _share_key(private_key, peer_public, sender, recipient)
    nonce, ciphertext = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
    return ChaCha20Poly1305(key).decrypt(nonce, ciphertext, _share_ad(sender, recipient))


def pairwise_seed(private_key: X25519PrivateKey, peer_public: bytes, u: int, v: int) -> bytes:
    """The seed ``s_{u,v}`` of the pairwise mask between ``u`` and ``v``."""
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
