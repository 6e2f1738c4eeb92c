"""One-run audits of DP-SGD and DP-FedAvg: a correct trainer passes, planted bugs are caught."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from privaudit import federated
from privaudit.accounting.accountant import account
from privaudit.audit.trainer import (
    PLANTED_BUGS_CONSENT,
    PLANTED_BUGS_VARIABLE,
    PlantedBug,
    PlantedBugRefusedError,
    audit_dpsgd,
    audit_fedavg,
)
from privaudit.errors import InputError, PrivauditError
from privaudit.federated import AdaptiveClipping, DpFedAvgConfig
from privaudit.mechanisms import DpFedAvg, Sampling, mechanism_to_json
from privaudit.records.audit import AuditRecord, read_audit_record, write_audit_record
from privaudit.train import runs
from privaudit.train.dpsgd import DpSgdConfig, train_dpsgd

DELTA = 1e-5
N, D = 2000, 20

# Calibrated (calibrate_noise) for ε = 2 at δ = 1e-5: DP-SGD with q = 0.1 over 100 steps, and
# DP-FedAvg with q = 0.1 over 100 rounds. The claim itself comes from the accountant below.
SIGMA_EPS2 = 2.249
DPSGD = DpSgdConfig(
    noise_multiplier=SIGMA_EPS2, clip_norm=1.0, batch_size=200, epochs=10, learning_rate=0.5
)
FEDAVG = DpFedAvgConfig(
    rounds=100,
    client_sampling_rate=0.1,
    noise_multiplier=SIGMA_EPS2,
    clip_norm=0.5,
    local_batch_size=10,
)

Blobs = tuple[np.ndarray[Any, Any], ...]


@pytest.fixture(scope="module")
def blobs() -> Blobs:
    """Two Gaussian blobs in 20 dimensions: 2,000 training and 500 test points."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, D))
    y = rng.integers(0, 2, N)
    y_test = rng.integers(0, 2, 500)
    x = (centres[y] + rng.normal(size=(N, D))).astype(np.float32)
    x_test = (centres[y_test] + rng.normal(size=(500, D))).astype(np.float32)
    return x, y, x_test, y_test


def _claimed(config: DpSgdConfig) -> float:
    return account([config.mechanism(N, config.planned_steps(N))], DELTA).epsilon


def _fedavg_claimed(config: DpFedAvgConfig) -> float:
    mechanism = DpFedAvg(
        noise_multiplier=config.noise_multiplier,
        client_sampling_rate=config.client_sampling_rate,
        rounds=config.rounds,
    )
    return account([mechanism], DELTA).epsilon


def _audit(blobs: Blobs, config: DpSgdConfig = DPSGD, **options: Any) -> AuditRecord:
    x, y, x_test, y_test = blobs
    settings: dict[str, Any] = {"delta": DELTA, "seed": 0, **options}
    if "epsilon_claimed" not in settings:
        settings["epsilon_claimed"] = _claimed(config)
    return audit_dpsgd(x, y, x_test, y_test, config, **settings)


def _fedavg(blobs: Blobs, config: DpFedAvgConfig = FEDAVG, **options: Any) -> AuditRecord:
    x, y, x_test, y_test = blobs
    parts = np.array_split(np.arange(N), 100)
    settings: dict[str, Any] = {"delta": DELTA, "seed": 0, **options}
    if "epsilon_claimed" not in settings:
        settings["epsilon_claimed"] = _fedavg_claimed(config)
    return audit_fedavg(x, y, parts, x_test, y_test, config, **settings)


@pytest.fixture
def allow_bugs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, PLANTED_BUGS_CONSENT)


# --- a correct trainer ---------------------------------------------------------------------------


def test_the_claim_is_eps_2(blobs: Blobs) -> None:
    assert 1.99 < _claimed(DPSGD) <= 2.0
    assert 1.99 < _fedavg_claimed(FEDAVG) <= 2.0


@pytest.mark.parametrize("method", ["one_run", "one_run_fdp"])
def test_correct_dpsgd_is_consistent_over_seeds(blobs: Blobs, method: str) -> None:
    records = [_audit(blobs, seed=seed, method=method) for seed in range(10)]
    for record in records:
        assert record.verdict == "consistent", record.reasons
        assert record.reasons == () and record.planted_bug is None
        assert 0 <= record.epsilon_lower_bound < record.epsilon_claimed
        assert record.direct_checks.ok and record.direct_checks.contribution is not None
        assert record.test_accuracy is not None and record.test_accuracy > 0.9
    # The audit has power: on average it recovers a good part of the claimed ε.
    recovered = np.mean([r.epsilon_lower_bound / r.epsilon_claimed for r in records])
    assert recovered > (0.2 if method == "one_run" else 0.3)


@pytest.mark.parametrize(
    ("sigma", "steps"),
    [
        (None, 100),  # the configuration these tests audit
        (4.122, 400),  # privaudit audit dpsgd: q = 0.1, 40 epochs, ε = 2 at δ = 1e-5
    ],
)
def test_fdp_verdicts_are_sound_for_the_audited_claim(sigma: float | None, steps: int) -> None:
    # one_run_fdp refutes Gaussian curves: its "violation" is only a proof if the claimed
    # mechanism's trade-off curve lies above G_μ* for the μ* with the claimed ε at δ. Check it
    # for the configuration audited here, from dp_accounting's PLD, over ε of both signs.
    from dp_accounting.pld import privacy_loss_distribution
    from scipy import stats

    from privaudit.audit.bounds import _gdp_epsilon

    pld = privacy_loss_distribution.from_gaussian_mechanism(
        SIGMA_EPS2 if sigma is None else sigma,
        sampling_prob=0.1,
        value_discretization_interval=1e-3,
    ).self_compose(steps)
    epsilon = pld.get_epsilon_for_delta(DELTA)
    low, high = 0.0, 5.0
    for _ in range(50):  # bisect for μ* with ε_μ*(δ) = the claimed ε
        middle = (low + high) / 2
        if _gdp_epsilon(middle, DELTA) < epsilon:
            low = middle
        else:
            high = middle
    epsilons = np.linspace(-10, 10, 4001)
    deltas = np.asarray(pld.get_delta_for_epsilon(epsilons))
    alphas = np.logspace(-6, np.log10(0.5), 200)
    # f(α) = sup_ε 1 − δ(ε) − e^ε·α (Kairouz, Oh & Viswanath 2015), against G_μ*(α).
    curve = np.max(1 - deltas[None, :] - np.exp(epsilons)[None, :] * alphas[:, None], axis=1)
    gaussian = stats.norm.cdf(stats.norm.ppf(1 - alphas) - high)
    assert np.all(curve >= gaussian - 1e-4)


def test_correct_fedavg_is_consistent_over_seeds(blobs: Blobs) -> None:
    for seed in range(3):
        record = _fedavg(blobs, seed=seed)
        assert record.verdict == "consistent", record.reasons
        assert record.target == "fedavg" and record.epsilon_lower_bound > 0


def test_record_describes_the_run(blobs: Blobs) -> None:
    record = _audit(blobs, data={"name": "blobs"})
    steps = DPSGD.planned_steps(N)
    assert record.kind == "audit" and record.target == "dpsgd" and record.steps == steps == 100
    assert record.mechanism == mechanism_to_json(DPSGD.mechanism(N, steps))
    assert record.data == {"train": N, "test": 500, "features": D, "name": "blobs"}
    assert record.config["sampling_rate"] == 0.1 and record.config["steps"] == steps
    assert record.canaries == 1000 and record.untouched == 200
    assert record.canary_gradient_norm == 10 * DPSGD.clip_norm
    assert record.guess_rule == "design" and record.candidates == 1
    assert record.expected_lower_bound is not None and record.expected_lower_bound > 0
    noise = record.direct_checks.noise_std
    assert noise.claimed == pytest.approx(SIGMA_EPS2) and noise.observations == 200 * steps
    sampling = record.direct_checks.sampling_rate
    assert sampling.claimed == 0.1 and sampling.trials % steps == 0
    assert record.confidence == 0.95 and record.seed == 0 and "numpy" in record.versions


def test_same_seed_same_audit(blobs: Blobs) -> None:
    first, again = _audit(blobs, seed=4), _audit(blobs, seed=4)
    ignore = {"created", "wall_seconds"}
    assert first.model_dump(exclude=ignore) == again.model_dump(exclude=ignore)


def test_canary_statistics_do_not_depend_on_the_real_records(blobs: Blobs) -> None:
    # Real records never touch the canary or untouched coordinates: replacing every record by
    # other values changes the model, not one canary statistic.
    x, y, x_test, y_test = blobs
    other = (np.random.default_rng(9).normal(size=x.shape).astype(np.float32), 1 - y)
    first = _audit(blobs)
    second = _audit((other[0], other[1], x_test, y_test))
    for field in ("epsilon_lower_bound", "correct", "guesses", "direct_checks"):
        assert getattr(first, field) == getattr(second, field)
    assert first.test_accuracy != second.test_accuracy


def test_guess_rules(blobs: Blobs) -> None:
    searched = _audit(blobs, guesses="search")
    assert searched.guess_rule == "search" and searched.candidates == 7
    assert searched.expected_lower_bound is None
    fixed = _audit(blobs, guesses=200)
    assert fixed.guess_rule == "fixed" and fixed.guesses == 200 and fixed.candidates == 1
    with pytest.raises(InputError, match="guesses"):
        _audit(blobs, guesses=1001)


def test_likelihood_ratio_score(blobs: Blobs) -> None:
    record = _audit(blobs, score="likelihood_ratio", method="one_run_fdp")
    assert record.score == "likelihood_ratio" and record.verdict == "consistent"
    assert record.epsilon_lower_bound > 0


def test_progress_lines(blobs: Blobs) -> None:
    lines: list[str] = []
    _audit(blobs, progress=lines.append)
    assert lines[-1].startswith("step 100/100") and len(lines) == 10


# --- planted bugs --------------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_bugs")
@pytest.mark.parametrize("bug", list(PlantedBug))
def test_each_planted_bug_is_a_violation(blobs: Blobs, bug: PlantedBug) -> None:
    for method in ("one_run", "one_run_fdp"):
        record = _audit(blobs, planted_bug=bug, method=method)
        assert record.verdict == "violation" and record.planted_bug == bug.value
        # Each breaks the claim by far: the bound alone exceeds the claimed ε = 2.
        assert record.epsilon_lower_bound > record.epsilon_claimed
        checks = record.direct_checks
        assert checks.noise_std.ok is (bug is not PlantedBug.NOISE_DIV_10)
        assert checks.sampling_rate.ok is (bug is not PlantedBug.SAMPLING_X4)
        assert checks.contribution is not None
        assert checks.contribution.ok is (bug is not PlantedBug.NO_CLIPPING)


@pytest.mark.usefixtures("allow_bugs")
def test_direct_checks_measure_the_planted_bugs(blobs: Blobs) -> None:
    noise = _audit(blobs, planted_bug=PlantedBug.NOISE_DIV_10).direct_checks.noise_std
    assert noise.observed == pytest.approx(SIGMA_EPS2 / 10, rel=0.02) and noise.high < noise.claimed
    sampling = _audit(blobs, planted_bug=PlantedBug.SAMPLING_X4).direct_checks.sampling_rate
    assert sampling.observed == pytest.approx(0.4, rel=0.05) and sampling.p_value < 1e-100
    contribution = _audit(blobs, planted_bug=PlantedBug.NO_CLIPPING).direct_checks.contribution
    assert contribution is not None and contribution.low > 9 * contribution.claimed


@pytest.mark.usefixtures("allow_bugs")
def test_skipped_clipping_is_caught_where_the_bound_cannot_reach(blobs: Blobs) -> None:
    # Claimed ε = 8: with 1,000 canaries the one-run bound stays below it even for a trainer
    # that does not clip; the clipping check does not depend on ε.
    config = replace(DPSGD, noise_multiplier=0.936)  # ε = 8 at δ = 1e-5
    record = _audit(blobs, config, planted_bug=PlantedBug.NO_CLIPPING)
    assert 7.9 < record.epsilon_claimed <= 8.0
    assert record.epsilon_lower_bound < record.epsilon_claimed
    assert record.verdict == "violation" and len(record.reasons) == 1
    assert "clip norm" in record.reasons[0]


@pytest.mark.usefixtures("allow_bugs")
@pytest.mark.parametrize("bug", list(PlantedBug))
def test_each_planted_bug_is_a_violation_in_fedavg(blobs: Blobs, bug: PlantedBug) -> None:
    record = _fedavg(blobs, planted_bug=bug)
    assert record.verdict == "violation" and record.planted_bug == bug.value
    assert record.epsilon_lower_bound > record.epsilon_claimed


def test_planted_bugs_refuse_without_consent(blobs: Blobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PLANTED_BUGS_VARIABLE, raising=False)
    for bug in PlantedBug:
        with pytest.raises(PlantedBugRefusedError, match=PLANTED_BUGS_VARIABLE):
            _audit(blobs, planted_bug=bug)
        with pytest.raises(PlantedBugRefusedError):
            _fedavg(blobs, planted_bug=bug)
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, "yes")
    with pytest.raises(PrivauditError, match="refused"):
        _audit(blobs, planted_bug=PlantedBug.NO_CLIPPING)


@pytest.mark.usefixtures("allow_bugs")
def test_planted_bugs_only_as_the_enum(blobs: Blobs) -> None:
    with pytest.raises(InputError, match="PlantedBug"):
        _audit(blobs, planted_bug="no_clipping")


def test_training_apis_cannot_plant_bugs() -> None:
    for function in (
        train_dpsgd,
        runs.run_dpsgd,
        federated.run_dp_fedavg,
        federated.run_local_dpsgd,
        federated.run_distributed_dpsgd,
        federated.simulate,
    ):
        assert "planted_bug" not in inspect.signature(function).parameters


# --- refused configurations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier"),
        ({"sampling": Sampling.FIXED_BATCH}, "sampling"),
    ],
)
def test_refused_dpsgd_configurations(blobs: Blobs, changes: dict[str, Any], field: str) -> None:
    config = replace(DPSGD, **changes)
    with pytest.raises(InputError, match=field):
        _audit(blobs, config, epsilon_claimed=2.0)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"epsilon_claimed": float("inf")}, "epsilon_claimed"),
        ({"delta": 0.0}, "delta"),
        ({"method": "clopper_pearson"}, "method"),
        ({"score": "max"}, "score"),
        ({"seed": -1}, "seed"),
        ({"canaries": 1}, "canaries"),
        ({"untouched": 10}, "untouched"),
        ({"canary_norm_ratio": 1.0}, "canary_norm_ratio"),
    ],
)
def test_refused_audit_options(blobs: Blobs, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError, match=field):
        _audit(blobs, **options)


def test_refused_fedavg_configurations(blobs: Blobs) -> None:
    adaptive = replace(FEDAVG, adaptive_clipping=AdaptiveClipping())
    with pytest.raises(InputError, match="fixed clipping"):
        _fedavg(blobs, adaptive, epsilon_claimed=2.0)
    x, y, x_test, y_test = blobs
    with pytest.raises(InputError, match=r"parts\[0\]"):
        audit_fedavg(
            x, y, [np.array([N])], x_test, y_test, FEDAVG, epsilon_claimed=2.0, delta=DELTA, seed=0
        )


# --- the record on disk --------------------------------------------------------------------------


@pytest.mark.usefixtures("allow_bugs")
def test_record_round_trips_through_json(blobs: Blobs, tmp_path: Path) -> None:
    for record in (_audit(blobs), _audit(blobs, planted_bug=PlantedBug.SAMPLING_X4)):
        path = tmp_path / "audit.json"
        write_audit_record(record, path)
        assert read_audit_record(path) == record
        json.loads(path.read_text(encoding="utf-8"))  # plain JSON


def _written(blobs: Blobs, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "audit.json"
    write_audit_record(_audit(blobs), path)
    return path, json.loads(path.read_text(encoding="utf-8"))


def _one_line_error(path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as error:
        read_audit_record(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_an_edited_verdict_is_refused(blobs: Blobs, tmp_path: Path) -> None:
    path, data = _written(blobs, tmp_path)
    data["epsilon_lower_bound"] = data["epsilon_claimed"] + 1  # still says "consistent"
    path.write_text(json.dumps(data), encoding="utf-8")
    _one_line_error(path, "verdict")


def test_bad_record_files_are_one_line_errors(blobs: Blobs, tmp_path: Path) -> None:
    path, data = _written(blobs, tmp_path)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"kind": "audit"', '"kind": "audit", "kind": "audit"'))
    _one_line_error(path, "twice")
    path.write_text(text.replace('"delta": 1e-05', '"delta": NaN'))
    _one_line_error(path, "NaN")
    path.write_text(json.dumps({**data, "extra": 1}), encoding="utf-8")
    _one_line_error(path, "unknown field")
    path.write_text(json.dumps({**data, "mechanism": {"type": "nope"}}), encoding="utf-8")
    _one_line_error(path, "mechanism")
    path.write_text("[]", encoding="utf-8")
    _one_line_error(path, "JSON object")
    path.write_bytes(b"\xff\xfe")
    _one_line_error(path, "cannot read")
    _one_line_error(tmp_path / "missing.json", "cannot read")
