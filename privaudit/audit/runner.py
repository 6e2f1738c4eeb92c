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
from pathlib import Path
from typing import Any, Final

from privaudit.errors import InputError
from privaudit.records.audit import AuditRecord

__all__ = ["run_dpsgd_audit", "run_fedavg_audit"]

SAMPLING_RATE: Final = 0.1
DPSGD_EPOCHS: Final = 40
FEDAVG_ROUNDS: Final = 100


def _data(name: str, data_dir: Path | None) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    from privaudit.data.loaders import load_digits, load_mnist
    from privaudit.train.features import FeatureSpec

    if name == "mnist":
        if data_dir is None:
            raise InputError("--data-dir", None, "mnist needs --data-dir (a folder with mnist/)")
        split = load_mnist(data_dir)
    elif name == "digits":
        split = load_digits()
    else:
        raise InputError("--data", None, f"expected mnist or digits; found {name!r}")
    pixels = FeatureSpec(kind="pixels")
    info = {
        "name": name,
        "train": len(split.train.x),
        "test": len(split.test.x),
        "features": "pixels",
        "provenance": {**split.train.provenance, **split.test.provenance},
    }
    return (
        pixels.transform(split.train.x),
        split.train.y,
        pixels.transform(split.test.x),
        split.test.y,
        info,
    )


def run_dpsgd_audit(
    data: str,
    data_dir: Path | None,
    *,
    epsilon: float,
    delta: float,
    canaries: int,
    seed: int,
    method: str,
    planted_bug: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditRecord:
    from threadpoolctl import threadpool_limits

    from privaudit.accounting.accountant import account
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.audit.trainer import PlantedBug, audit_dpsgd
    from privaudit.train.dpsgd import DpSgdConfig
    from privaudit.train.models import ModelSpec

    say = progress or (lambda _line: None)
    bug = _bug(planted_bug, PlantedBug)
    x, y, x_test, y_test, info = _data(data, data_dir)
    n = len(x)
    shape = DpSgdConfig(
        noise_multiplier=0.0,
        clip_norm=1.0,
        batch_size=max(1, round(SAMPLING_RATE * n)),
        epochs=DPSGD_EPOCHS,
        learning_rate=1.0,
    )
    sigma = calibrate_noise(epsilon, delta, shape.sampling_rate(n), shape.planned_steps(n)).value
    config = DpSgdConfig(
        noise_multiplier=sigma,
        clip_norm=1.0,
        batch_size=shape.batch_size,
        epochs=DPSGD_EPOCHS,
        learning_rate=1.0,
        momentum=0.9,
        seed=seed,
        model=ModelSpec(hidden=(64,), activation="tanh"),
    )
    mechanism = config.mechanism(n, config.planned_steps(n))
    claimed = account([mechanism], delta).epsilon
    say(
        f"audit: DP-SGD on {data} with {canaries} canaries, σ = {sigma:.4f}, q ="
        f" {config.sampling_rate(n):.4f}, {config.planned_steps(n)} steps; claimed ε ="
        f" {claimed:.4f} at δ = {delta:g}"
    )
    with threadpool_limits(limits=1, user_api="blas"):
        return audit_dpsgd(
            x,
            y,
            x_test,
            y_test,
            config,
            epsilon_claimed=claimed,
            delta=delta,
            canaries=canaries,
            seed=seed,
            method=method,
            name=f"audit-dpsgd-{data}-eps{epsilon:g}",
            data=info,
            planted_bug=bug,
            progress=say,
        )


def run_fedavg_audit(
    data: str,
    data_dir: Path | None,
    *,
    epsilon: float,
    delta: float,
    canaries: int,
    clients: int,
    seed: int,
    method: str,
    planted_bug: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditRecord:
    from threadpoolctl import threadpool_limits

    from privaudit.accounting.accountant import account
    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.audit.trainer import PlantedBug, audit_fedavg
    from privaudit.data.partition import iid
    from privaudit.federated import DpFedAvgConfig
    from privaudit.mechanisms import DpFedAvg
    from privaudit.train.models import ModelSpec

    say = progress or (lambda _line: None)
    bug = _bug(planted_bug, PlantedBug)
    x, y, x_test, y_test, info = _data(data, data_dir)
    if clients > len(x):
        raise InputError("--clients", None, f"must be <= {len(x)} records; found {clients}")
    parts = iid(len(x), clients, seed=seed)
    # Canary clients join the population the sampling rate applies to.
    sigma = calibrate_noise(epsilon, delta, SAMPLING_RATE, FEDAVG_ROUNDS).value
    config = DpFedAvgConfig(
        rounds=FEDAVG_ROUNDS,
        client_sampling_rate=SAMPLING_RATE,
        noise_multiplier=sigma,
        clip_norm=1.0,
        local_epochs=1,
        local_batch_size=32,
        local_learning_rate=0.1,
        model=ModelSpec(),
        seed=seed,
    )
    mechanism = DpFedAvg(
        noise_multiplier=sigma, client_sampling_rate=SAMPLING_RATE, rounds=FEDAVG_ROUNDS
    )
    claimed = account([mechanism], delta).epsilon
    say(
        f"audit: DP-FedAvg on {data} over {clients} clients with {canaries} canary clients,"
        f" z = {sigma:.4f}, q = {SAMPLING_RATE}, {FEDAVG_ROUNDS} rounds; claimed ε ="
        f" {claimed:.4f} at δ = {delta:g}"
    )
    with threadpool_limits(limits=1, user_api="blas"):
        return audit_fedavg(
            x,
            y,
            parts,
            x_test,
            y_test,
            config,
            epsilon_claimed=claimed,
            delta=delta,
            canaries=canaries,
            seed=seed,
            method=method,
            name=f"audit-fedavg-{data}-eps{epsilon:g}",
            data={**info, "clients": clients},
            planted_bug=bug,
            progress=say,
        )


def _bug(name: str | None, kind: Any) -> Any:
    """The planted bug, refused (before any work) unless the environment consents."""
    from privaudit.audit.trainer import _planted_bug

    if name is None:
        return None
    try:
        bug = kind(name)
    except ValueError:
        known = ", ".join(b.value for b in kind)
        raise InputError("--plant-bug", None, f"expected one of {known}; found {name!r}") from None
    return _planted_bug(bug)
