"""Opacus accountant state (JSON or YAML) → ledger-ready DP-SGD blocks and Opacus' own ε.

Reads what ``json.dump(privacy_engine.accountant.state_dict(), file)`` writes::

    {"history": [[noise_multiplier, sample_rate, steps], ...], "mechanism": "rdp" | "prv" | "gdp"}

or the bare ``accountant.history`` list. privaudit adds optional keys a user writes beside them:
``sampling`` ("poisson" for ``make_private(poisson_sampling=True)``, Opacus' default; "shuffle"
for a plain DataLoader), and ``epsilon`` with ``delta``: the figure Opacus printed. The history
does not say how batches were formed, so ``sampling`` must come from the file or the caller:
privaudit never assumes amplification.

Opacus' own figure, when the file does not carry one, is recomputed the way its accountant does:
- ``rdp``: the sampled Gaussian's RDP (Mironov, Talwar & Zhang 2019) at Opacus' default orders
  ``[1 + x/10 for x in 1..99] + [12..63]`` converted by Balle et al. 2020, Thm. 21 (Opacus'
  ``get_privacy_spent``; privaudit's conversion adds only a float-rounding margin);
- ``gdp``: μ = q·√T·√(exp(σ⁻²) − 1) (Bu, Dong, Long & Su 2020, "Deep learning with Gaussian
  differential privacy", Thm. 5, Poisson CLT) for the *last* history block only, as Opacus does,
  then ε from δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Dong, Roth & Su 2019, Cor. 2.13);
- ``prv``: not recomputed (it needs Opacus' PRV code); add the printed ``epsilon`` and ``delta``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import optimize, stats

from privaudit.accounting import rdp as rdp_engine
from privaudit.accounting.accountant import rdp_of
from privaudit.accounting.dp_events import NeighbouringRelation, flatten
from privaudit.errors import InputError, describe_value
from privaudit.imports.common import (
    Format,
    FrameworkFigure,
    ImportedRun,
    read_structured,
    refuse_unknown,
    require_number,
    require_row,
)
from privaudit.mechanisms import DpSgd, Mechanism, Sampling

OPACUS_ALPHAS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
)
"""``opacus.accountants.RDPAccountant.DEFAULT_ALPHAS``."""

_ACCOUNTANTS = ("rdp", "prv", "gdp")
_KEYS = {"history", "mechanism", "sampling", "epsilon", "delta"}


def read_opacus(
    path: str | Path, *, sampling: Sampling | None = None, delta: float | None = None
) -> ImportedRun:
    """Read an exported Opacus accountant. ``sampling`` is used when the file has none (and must
    agree with it otherwise); ``delta`` is where Opacus' figure is recomputed when the file does
    not give one."""
    source = str(path)
    data, _ = read_structured(path, Format.OPACUS)
    if isinstance(data, list):
        data = {"history": data}
    if not isinstance(data, dict):
        raise InputError(
            source,
            None,
            "expected an Opacus accountant state: an object with `history` (and `mechanism`),"
            f" or the history list; found {describe_value(data)}",
        )
    refuse_unknown(data, _KEYS, source)
    history = _history(data, source)
    # A bare history does not name its accountant (Opacus' default is "prv" since 1.4).
    accountant = data.get("mechanism", "unknown")
    if accountant != "unknown" and accountant not in _ACCOUNTANTS:
        raise InputError(
            source,
            "mechanism",
            f"expected one of {', '.join(_ACCOUNTANTS)} (Opacus' accountants);"
            f" found {describe_value(accountant)}",
        )
    how_batched = _sampling(data, sampling, source)
    mechanisms = tuple(
        DpSgd(noise_multiplier=z, sampling_rate=q, steps=steps, sampling=how_batched)
        for z, q, steps in history
    )
    figure = _figure(data, history, str(accountant), delta, source)
    notes = []
    if how_batched is Sampling.SHUFFLE:
        notes.append(
            "batches were a plain DataLoader's: accounted without amplification by sampling,"
            " although Opacus' figure assumes Poisson sampling"
        )
    return ImportedRun(
        mechanisms=mechanisms,
        framework=figure,
        config={
            "history": [list(block) for block in history],
            "mechanism": accountant,
            "sampling": how_batched.value,
        },
        privacy_unit="example",
        notes=tuple(notes),
    )


def _history(data: dict[str, Any], source: str) -> list[tuple[float, float, int]]:
    raw = data.get("history")
    if not isinstance(raw, list) or not raw:
        raise InputError(
            source,
            "history",
            "expected a non-empty list of [noise_multiplier, sample_rate, steps];"
            f" found {describe_value(raw)}",
        )
    blocks = []
    for index, block in enumerate(raw):
        where = f"history[{index}]"
        fields = require_row(block, ("noise_multiplier", "sample_rate", "steps"), source, where)
        z = require_number(fields, "noise_multiplier", source, above=0, prefix=f"{where}.")
        q = require_number(fields, "sample_rate", source, above=0, maximum=1, prefix=f"{where}.")
        steps = int(
            require_number(fields, "steps", source, minimum=1, integer=True, prefix=f"{where}.")
        )
        blocks.append((z, q, steps))
    return blocks


def _sampling(data: dict[str, Any], given: Sampling | None, source: str) -> Sampling:
    allowed = (Sampling.POISSON.value, Sampling.SHUFFLE.value)
    in_file = data.get("sampling")
    if in_file is not None and in_file not in allowed:
        raise InputError(
            source,
            "sampling",
            f"expected one of {', '.join(allowed)}; found {describe_value(in_file)}",
        )
    if given is not None and given.value not in allowed:
        raise InputError(
            "--sampling", None, f"expected one of {', '.join(allowed)}; found {given.value}"
        )
    if in_file is not None and given is not None and in_file != given.value:
        raise InputError(
            source,
            "sampling",
            f"the file says {in_file!r} but --sampling says {given.value!r}; they must agree",
        )
    chosen = in_file or (given.value if given is not None else None)
    if chosen is None:
        raise InputError(
            source,
            "sampling",
            "an Opacus history does not say how batches were formed: give --sampling poisson"
            " (make_private(poisson_sampling=True), Opacus' default) or --sampling shuffle"
            " (a plain DataLoader), or a `sampling` key in the file",
        )
    return Sampling(chosen)


def _figure(
    data: dict[str, Any],
    history: list[tuple[float, float, int]],
    accountant: str,
    delta: float | None,
    source: str,
) -> FrameworkFigure:
    name, version = "opacus", None
    if "epsilon" in data or "delta" in data:
        epsilon = require_number(data, "epsilon", source, minimum=0)
        given = require_number(data, "delta", source, above=0, maximum=1)
        return FrameworkFigure(name, version, accountant, epsilon, given, "reported in the file")
    if delta is None:
        return FrameworkFigure(name, version, accountant, None, None, "no δ to recompute it at")
    if accountant == "rdp":
        epsilon = opacus_rdp_epsilon(history, delta)
        how = "recomputed as Opacus' RDPAccountant does (its default orders)"
    elif accountant == "gdp":
        epsilon = opacus_gdp_epsilon(history[-1], delta)
        how = "recomputed as Opacus' GaussianAccountant does (CLT, last block only)"
    else:
        what = "PRV figure" if accountant == "prv" else "figure (the file names no accountant)"
        return FrameworkFigure(
            name,
            version,
            accountant,
            None,
            delta,
            f"Opacus' {what} is not recomputed here; add the printed epsilon and delta",
        )
    return FrameworkFigure(name, version, accountant, epsilon, delta, how)


def opacus_rdp_epsilon(history: list[tuple[float, float, int]], delta: float) -> float:
    """ε of Opacus' RDPAccountant for ``history`` at ``delta`` (see the module docstring)."""
    mechanisms: list[Mechanism] = [
        DpSgd(noise_multiplier=z, sampling_rate=q, steps=steps) for z, q, steps in history
    ]
    total = np.zeros(len(OPACUS_ALPHAS))
    for base, times in flatten(mechanisms).items():
        total = total + rdp_of(base, times, NeighbouringRelation.ADD_OR_REMOVE_ONE, OPACUS_ALPHAS)
    return float(rdp_engine.epsilon_from_rdp(total, OPACUS_ALPHAS, delta)[0])


def opacus_gdp_epsilon(block: tuple[float, float, int], delta: float) -> float:
    """ε of Opacus' GaussianAccountant (Poisson) for one history block at ``delta``."""
    z, q, steps = block
    mu = math.sqrt(math.expm1(z**-2)) * math.sqrt(steps) * q

    def excess(eps: float) -> float:
        return (
            float(
                stats.norm.cdf(-eps / mu + mu / 2)
                - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2)
            )
            - delta
        )

    return float(optimize.root_scalar(excess, bracket=[0, 500], method="brentq").root)
