"""The ε, δ and warning line a ``privaudit plan`` is for: from ``--epsilon``/``--delta``, or from
a tier of a policy file (or of the shipped tiers), with the options overriding the tier."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privaudit.errors import InputError
from privaudit.policy import Tier, default_tiers, load_policy


@dataclass(frozen=True)
class PlanTarget:
    """ε, δ and the warning line a plan is for, and where they came from."""

    epsilon: float
    delta: float
    label: str
    tier: str | None = None
    source: str | None = None
    warn_at: float | None = None
    privacy_unit: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "epsilon": self.epsilon,
            "delta": self.delta,
            "tier": self.tier,
            "policy": self.source,
            "warn_at": self.warn_at,
            "warn_epsilon": None if self.warn_at is None else self.warn_at * self.epsilon,
            "limit_label": self.label,
            "privacy_unit": self.privacy_unit,
        }


def plan_target(
    tier_name: str | None, policy_path: Path | None, epsilon: float | None, delta: float | None
) -> PlanTarget:
    if epsilon is not None and not (0 < epsilon < math.inf):
        raise InputError("--epsilon", None, f"expected a finite number > 0; found {epsilon!r}")
    if delta is not None and not (0 < delta < 1):
        raise InputError("--delta", None, f"expected a number in (0, 1); found {delta!r}")
    if tier_name is None:
        if policy_path is not None:
            raise InputError("--policy", None, "expected --tier to choose one of its tiers")
        for option, value in (("--epsilon", epsilon), ("--delta", delta)):
            if value is None:
                raise InputError(option, None, "expected a value (or --tier); found none")
        assert epsilon is not None and delta is not None
        return PlanTarget(epsilon, delta, label=f"target ε = {epsilon:g}")
    source = str(policy_path) if policy_path is not None else "privaudit default tiers"
    tier = _tier(tier_name, policy_path, source)
    # One training run is one run: a tier's per-run cap, where it has one, is the binding limit.
    cap, kind = tier.epsilon, "limit"
    if tier.per_run_epsilon is not None and tier.per_run_epsilon < cap:
        cap, kind = tier.per_run_epsilon, "per-run limit"
    label = (
        f"tier {tier_name} {kind}: ε ≤ {cap:g}"
        if epsilon is None
        else f"target ε = {epsilon:g} (tier {tier_name} {kind} {cap:g})"
    )
    return PlanTarget(
        cap if epsilon is None else epsilon,
        tier.delta if delta is None else delta,
        label,
        tier=tier_name,
        source=source,
        warn_at=tier.warn_at,
        privacy_unit=tier.privacy_unit,
    )


def _tier(name: str, policy_path: Path | None, source: str) -> Tier:
    """The tier ``name`` of the policy file, else of the shipped tiers; a typo gets a hint."""
    tiers = load_policy(policy_path) if policy_path is not None else default_tiers()
    tier = tiers.tiers.get(name)
    if tier is None:
        known = ", ".join(tiers.tiers)
        close = difflib.get_close_matches(name, list(tiers.tiers), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InputError(
            "--tier",
            None,
            f"expected one of the tiers in {source} ({known}); found {name!r}{hint}",
        )
    return tier
