"""Mechanism descriptions → dp_accounting ``DpEvent`` trees, under a stated neighbouring relation.

privaudit's noise multipliers are relative to one privacy unit's contribution bound C, the
sensitivity under add-or-remove-one. Under replace-one, swapping one unit moves a sum by up to 2C,
so the RDP backend receives z/2 (Gaussian) and b/2 (Laplace). dp_accounting's RDP code takes the
multiplier relative to the sensitivity of whatever relation it runs under (its
``_compute_rdp_sample_wor_gaussian`` follows Wang, Balle & Kasiviswanathan 2019, Thm. 9, whose
base Gaussian has RDP α/(2z²) for that sensitivity), hence the halving. Only RDP is used under
replace-one here: dp_accounting's PLD has no sampling-without-replacement support, and its
Gaussian already models the doubled shift under REPLACE_ONE, so mixing conventions is avoided.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

from privaudit.mechanisms import (
    Composed,
    Gaussian,
    Laplace,
    Mechanism,
    NonPrivate,
    PoissonSampled,
    RandomizedResponse,
    SampledWithoutReplacement,
    SelfComposed,
    Tuning,
)

if TYPE_CHECKING:
    # Only for the annotation: importing dp_accounting loads scipy.stats/signal/optimize
    # (~0.6 s), so to_dp_event imports it when it is called.
    from dp_accounting import dp_event


class NeighbouringRelation(StrEnum):
    """Which datasets count as neighbours; ε is meaningless without it."""

    ADD_OR_REMOVE_ONE = "add_or_remove_one"
    REPLACE_ONE = "replace_one"


def flatten(mechanisms: Iterable[Mechanism]) -> Counter[Mechanism]:
    """Multiset of base releases with repeat counts, identical releases merged.

    Sequential composition is commutative, so ``self_composed(X, a)`` then ``X`` b times is X
    composed a + b times; accounting each distinct X once with its total count is what lets a
    1,000-entry ledger with 10 distinct mechanisms cost 10 compositions.
    """
    counts: Counter[Mechanism] = Counter()
    # A ledger repeats a handful of releases: expand each distinct one once.
    stack: list[tuple[Mechanism, int]] = [
        (m.expand(), times) for m, times in Counter(mechanisms).items()
    ]
    while stack:
        node, times = stack.pop()
        if isinstance(node, SelfComposed):
            stack.append((node.event.expand(), times * node.count))
        elif isinstance(node, Composed):
            stack.extend((event.expand(), times) for event in node.events)
        else:
            counts[_expand_inner(node)] += times
    return counts


def _expand_inner(node: Mechanism) -> Mechanism:
    # Sugar may sit inside wrappers; normalise it so equal releases compare equal.
    if isinstance(node, PoissonSampled):
        return node.model_copy(update={"event": _expand_deep(node.event)})
    if isinstance(node, SampledWithoutReplacement | Tuning):
        return node.model_copy(update={"event": _expand_deep(node.event)})
    return node


def contains_tuning(node: Mechanism) -> bool:
    """True when a tuning node sits anywhere in ``node`` (no PLD is known for one)."""
    node = node.expand()
    if isinstance(node, Tuning):
        return True
    if isinstance(node, PoissonSampled | SampledWithoutReplacement | SelfComposed):
        return contains_tuning(node.event)
    if isinstance(node, Composed):
        return any(contains_tuning(e) for e in node.events)
    return False


def _expand_deep(node: Mechanism) -> Mechanism:
    node = node.expand()
    if isinstance(node, SelfComposed):
        return node.model_copy(update={"event": _expand_deep(node.event)})
    if isinstance(node, Composed):
        return node.model_copy(update={"events": tuple(_expand_deep(e) for e in node.events)})
    return _expand_inner(node)


def required_relation(mechanisms: Iterable[Mechanism]) -> NeighbouringRelation:
    """Add-or-remove-one unless a release is only defined under replace-one (fixed-size
    sampling, randomized response)."""
    for mechanism in mechanisms:
        if _needs_replace_one(mechanism.expand()):
            return NeighbouringRelation.REPLACE_ONE
    return NeighbouringRelation.ADD_OR_REMOVE_ONE


def _needs_replace_one(node: Mechanism) -> bool:
    node = node.expand()
    if isinstance(node, SampledWithoutReplacement | RandomizedResponse):
        return True
    if isinstance(node, PoissonSampled | SelfComposed | Tuning):
        return _needs_replace_one(node.event)
    if isinstance(node, Composed):
        return any(_needs_replace_one(e) for e in node.events)
    return False


def to_dp_event(
    mechanism: Mechanism, relation: NeighbouringRelation = NeighbouringRelation.ADD_OR_REMOVE_ONE
) -> dp_event.DpEvent:
    """The dp_accounting event for ``mechanism`` with multipliers scaled to ``relation``."""
    from dp_accounting import dp_event

    node = mechanism.expand()
    factor = 2.0 if relation is NeighbouringRelation.REPLACE_ONE else 1.0
    if isinstance(node, Gaussian):
        return dp_event.GaussianDpEvent(node.noise_multiplier / factor)
    if isinstance(node, Laplace):
        return dp_event.LaplaceDpEvent(node.scale / factor)
    if isinstance(node, RandomizedResponse):
        return dp_event.RandomizedResponseDpEvent(node.noise_parameter, node.num_buckets)
    if isinstance(node, NonPrivate):
        return dp_event.NonPrivateDpEvent()
    if isinstance(node, PoissonSampled):
        return dp_event.PoissonSampledDpEvent(node.sampling_rate, to_dp_event(node.event, relation))
    if isinstance(node, SampledWithoutReplacement):
        return dp_event.SampledWithoutReplacementDpEvent(
            node.source_size, node.sample_size, to_dp_event(node.event, relation)
        )
    if isinstance(node, SelfComposed):
        return dp_event.SelfComposedDpEvent(to_dp_event(node.event, relation), node.count)
    if isinstance(node, Composed):
        return dp_event.ComposedDpEvent([to_dp_event(e, relation) for e in node.events])
    if isinstance(node, Tuning):
        shape = math.inf if node.shape is None else node.shape
        return dp_event.RepeatAndSelectDpEvent(to_dp_event(node.event, relation), node.mean, shape)
    raise TypeError(f"unexpanded mechanism {node!r}")  # expand() always yields a core node
