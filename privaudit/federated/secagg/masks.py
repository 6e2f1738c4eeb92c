"""The double masking of Bonawitz et al. 2017, Sec. 4: one home for each mask's expansion and
sign, so that what a client adds is exactly what the server takes off."""

from __future__ import annotations

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from privaudit.federated.secagg.crypto import PAIRWISE_NONCE, SELF_MASK_NONCE, pairwise_seed, prg
from privaudit.federated.secagg.params import RingArray


def add_self_mask(total: RingArray, seed: bytes, *, remove: bool = False) -> None:
    """Add ``PRG(b_u)`` to ``total`` in place (mod 2^k), or take it off with ``remove``."""
    mask = prg(seed, total.size, total.dtype, SELF_MASK_NONCE)
    if remove:
        np.subtract(total, mask, out=total)
    else:
        np.add(total, mask, out=total)


def add_pairwise_mask(
    total: RingArray,
    private_key: X25519PrivateKey,
    peer_public: bytes,
    u: int,
    v: int,
    *,
    remove: bool = False,
) -> None:
    """Add ``p_{u,v}`` to ``total`` in place (mod 2^k), or take it off with ``remove``; the seed
    is agreed from either end's private key and the other end's public one."""
    mask = prg(
        pairwise_seed(private_key, peer_public, u, v), total.size, total.dtype, PAIRWISE_NONCE
    )
    # Fig. 4 Round 2: p_{u,v} = +PRG(s_{u,v}) if u > v, −PRG(s_{u,v}) if u < v, so that
    # p_{u,v} + p_{v,u} = 0 (Sec. 4); unsigned arithmetic wraps mod 2^k.
    if (u > v) != remove:
        np.add(total, mask, out=total)
    else:
        np.subtract(total, mask, out=total)
