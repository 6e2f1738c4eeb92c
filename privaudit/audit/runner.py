"""What ``privaudit audit dpsgd|fedavg`` runs: data, the audited configuration, the claim.

The claim is what the accountant says for the configuration the trainer is given: σ is
calibrated for the requested ε over the run's steps (:func:`calibrate_noise`, never
overshooting) and ``epsilon_claimed`` is the certified PLD ε of the resulting mechanism, so the
audit tests the trainer against exactly the number a ledger entry would carry.

Configurations (chosen so one audit takes about half a minute on MNIST on 2 cores):
- DP-SGD on MNIST: the pixel MLP (784 → 64 tanh → 10), Poisson sampling q = 0.1, 40 epochs
  (400 steps), C = 1; on the bundled digits: the same shape on 8×8 pixels.
- DP-FedAvg: the data split IID over ``clients`` real clients, client sampling q = 0.1, one
  local epoch, fixed clipping, 100 rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Final, NotRequired, TypedDict, Unpack

from privaudit.audit.planted import PlantedBug, planted_bug_named
from privaudit.errors import InputError
from privaudit.mechanisms import DpFedAvg, Mechanism
from privaudit.records.audit import AuditRecord
from privaudit.rounding import up_fixed

__all__ = ["AuditRequest", "run_dpsgd_audit", "run_fedavg_audit"]

SAMPLING_RATE: Final = 0.1
DPSGD_EPOCHS: Final = 40
FEDAVG_ROUNDS: Final = 100

Progress = Callable[[str], None]


class AuditRequest(TypedDict):
    """What ``privaudit audit`` asks of either runner (their keyword arguments)."""

    epsilon: float
    """The target ε: σ is calibrated for it; the accountant's ε of the result is the claim."""
    delta: float
    canaries: int
    seed: int
    method: str
    planted_bug: NotRequired[str | None]
    """A :class:`~privaudit.audit.planted.PlantedBug` value, refused before any work unless the
    environment consents."""
    progress: NotRequired[Progress | None]


def run_dpsgd_audit(
    data: str, data_dir: Path | None, **request: Unpack[AuditRequest]
) -> AuditRecord:
    """Audit the DP-SGD trainer on ``data``: the pixel MLP, q = 0.1, 40 epochs, C = 1."""
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.audit.dpsgd import audit_dpsgd
    from privaudit.train.dpsgd import DpSgdConfig
    from privaudit.train.models import ModelSpec

    bug = _planted_bug(request)
    split = _Data.load(data, data_dir)
    n = len(split.x)
    untuned = DpSgdConfig(
        noise_multiplier=0.0,
        clip_norm=1.0,
        batch_size=max(1, round(SAMPLING_RATE * n)),
        epochs=DPSGD_EPOCHS,
        learning_rate=1.0,
        momentum=0.9,
        seed=request["seed"],
        model=ModelSpec(hidden=(64,), activation="tanh"),
    )
    q, steps = untuned.sampling_rate(n), untuned.planned_steps(n)
    sigma = calibrate_noise(request["epsilon"], request["delta"], q, steps).value
    config = replace(untuned, noise_multiplier=sigma)
    audited = _Audited(
        mechanism=config.mechanism(n, steps),
        description=f"DP-SGD on {data} with {request['canaries']} canaries, σ = {sigma:.4f},"
        f" q = {q:.4f}, {steps} steps",
        audit=partial(audit_dpsgd, split.x, split.y, split.x_test, split.y_test, config),
        name=f"audit-dpsgd-{data}-eps{request['epsilon']:g}",
        data=split.info,
    )
    return _run(audited, request, bug)


def run_fedavg_audit(
    data: str, data_dir: Path | None, *, clients: int, **request: Unpack[AuditRequest]
) -> AuditRecord:
    """Audit DP-FedAvg on ``data`` split IID over ``clients`` real clients: q = 0.1, fixed
    clipping at C = 1, 100 rounds."""
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.audit.fedavg import audit_fedavg
    from privaudit.data.partition import iid
    from privaudit.federated import DpFedAvgConfig

    bug = _planted_bug(request)
    split = _Data.load(data, data_dir)
    if clients > len(split.x):
        raise InputError("--clients", None, f"must be <= {len(split.x)} records; found {clients}")
    parts = iid(len(split.x), clients, seed=request["seed"])
    # Canary clients join the population the sampling rate applies to.
    epsilon, delta = request["epsilon"], request["delta"]
    sigma = calibrate_noise(epsilon, delta, SAMPLING_RATE, FEDAVG_ROUNDS).value
    # Local training as DpFedAvgConfig's defaults: one epoch in batches of 32 at rate 0.1, the
    # softmax model.
    config = DpFedAvgConfig(
        rounds=FEDAVG_ROUNDS,
        client_sampling_rate=SAMPLING_RATE,
        noise_multiplier=sigma,
        clip_norm=1.0,
        seed=request["seed"],
    )
    audited = _Audited(
        mechanism=DpFedAvg(
            noise_multiplier=sigma, client_sampling_rate=SAMPLING_RATE, rounds=FEDAVG_ROUNDS
        ),
        description=f"DP-FedAvg on {data} over {clients} clients with {request['canaries']}"
        f" canary clients, z = {sigma:.4f}, q = {SAMPLING_RATE}, {FEDAVG_ROUNDS} rounds",
        audit=partial(audit_fedavg, split.x, split.y, parts, split.x_test, split.y_test, config),
        name=f"audit-fedavg-{data}-eps{epsilon:g}",
        data={**split.info, "clients": clients},
    )
    return _run(audited, request, bug)


def _planted_bug(request: AuditRequest) -> PlantedBug | None:
    """The request's planted bug, checked (with the request's keywords) before any work."""
    known = AuditRequest.__required_keys__ | AuditRequest.__optional_keys__
    unknown = sorted(set(request) - known)
    if unknown:
        # As Python refuses an unexpected keyword argument: a typo must not pass unnoticed.
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")
    return planted_bug_named(request.get("planted_bug"))


@dataclass(frozen=True)
class _Data:
    """An audit's data set, as pixel features (public code, no statistic of the data)."""

    x: Any
    y: Any
    x_test: Any
    y_test: Any
    info: dict[str, Any]

    @classmethod
    def load(cls, name: str, data_dir: Path | None) -> _Data:
        from privaudit.train.features import FeatureSpec
        from privaudit.train.runs import load

        split = load(name, data_dir)
        pixels = FeatureSpec(kind="pixels")
        info = {
            "name": name,
            "train": len(split.train.x),
            "test": len(split.test.x),
            "features": "pixels",
            "provenance": {**split.train.provenance, **split.test.provenance},
        }
        return cls(
            pixels.transform(split.train.x),
            split.train.y,
            pixels.transform(split.test.x),
            split.test.y,
            info,
        )


@dataclass(frozen=True)
class _Audited:
    """One trainer configured for an audit: the mechanism the accountant is told, how the
    audit is described, and the audit function with its data and configuration bound."""

    mechanism: Mechanism
    description: str
    audit: Callable[..., AuditRecord]
    name: str
    data: dict[str, Any]


def _run(audited: _Audited, request: AuditRequest, bug: PlantedBug | None) -> AuditRecord:
    """Account the claim, announce it, and audit the trainer against it."""
    from privaudit.accounting.accountant import account
    from privaudit.audit.session import one_blas_thread

    say = request.get("progress") or (lambda _line: None)
    delta = request["delta"]
    claimed = account([audited.mechanism], delta).epsilon
    say(f"audit: {audited.description}; claimed ε = {up_fixed(claimed)} at δ = {delta:g}")
    with one_blas_thread():
        record: AuditRecord = audited.audit(
            epsilon_claimed=claimed,
            delta=delta,
            canaries=request["canaries"],
            seed=request["seed"],
            method=request["method"],
            name=audited.name,
            data=audited.data,
            planted_bug=bug,
            progress=say,
        )
    return record
