"""Other frameworks' own ε (ledger ``meta.framework``) beside privaudit's certified figures:
what is compared, the finding when the framework's figure is lower, and unreadable figures."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privaudit.accounting.accountant import Method, account
from privaudit.assess import DatasetAssessment, FrameworkComparison, Severity, Status, assess
from privaudit.ledger import Ledger, append_entry, read_ledger
from privaudit.mechanisms import Mechanism, parse_mechanism
from privaudit.policy import Policy, parse_policy

DELTA = 1e-6
"""The tier's δ."""
FRAMEWORK_DELTA = 1e-5
"""The δ the frameworks report at (deliberately not the tier's)."""
EPOCH = {
    "type": "dpsgd",
    "noise_multiplier": 1.1,
    "sampling_rate": 256 / 60000,
    "steps": 235,
    "sampling": "poisson",
}
"""One epoch of MNIST DP-SGD: what one ledger entry of a guarded Opacus run holds."""


# --- helpers -------------------------------------------------------------------------------


def framework(epsilon: float | None, **changes: Any) -> dict[str, Any]:
    """A ``meta`` holding a well-formed ``framework`` object (``changes`` override its keys)."""
    figure = {
        "name": "opacus",
        "version": "1.5.2",
        "accountant": "gdp",
        "epsilon": epsilon,
        "delta": FRAMEWORK_DELTA,
        "how": "PrivacyEngine.get_epsilon(delta) after each epoch",
        "via": "guard",
        **changes,
    }
    return {"framework": figure}


def write_ledger(tmp_path: Path, *entries: dict[str, Any]) -> Ledger:
    """A ledger on dataset ``mnist`` of ``entries`` (append_entry keywords; one epoch unless a
    ``mechanism`` is given), read back."""
    path = tmp_path / "ledger.jsonl"
    for entry in entries:
        append_entry(path, **{"dataset": "mnist", "mechanism": EPOCH, **entry})
    return read_ledger(path)


def policy(accountant: str = "pld", epsilon: float = 100.0) -> Policy:
    return parse_policy(
        {
            "tiers": {"t": {"epsilon": epsilon, "delta": DELTA, "accountant": accountant}},
            "datasets": {"mnist": {"tier": "t", "size": 60_000}},
        },
        "<test policy>",
    )


def mnist(ledger: Ledger, governing: Policy | None = None) -> DatasetAssessment:
    (found,) = assess(ledger, governing or policy()).datasets
    return found


def only(ds: DatasetAssessment) -> FrameworkComparison:
    (comparison,) = ds.frameworks
    return comparison


def codes(ds: DatasetAssessment) -> list[str]:
    return [f.code for f in ds.findings]


def epochs(count: int) -> list[Mechanism]:
    return [parse_mechanism(EPOCH)] * count


def certified(count: int, delta: float = FRAMEWORK_DELTA) -> float:
    """privaudit's certified PLD ε of ``count`` epochs, by an independent call."""
    return account(epochs(count), delta, Method.PLD).pld.epsilon


# --- what is compared ----------------------------------------------------------------------


def test_privaudit_figures_are_account_of_the_runs_entries_at_the_frameworks_delta(
    tmp_path: Path,
) -> None:
    ledger = write_ledger(
        tmp_path,
        {"run": "opacus-1", "meta": framework(0.4)},
        {"run": "other", "mechanism": {"type": "gaussian", "noise_multiplier": 3.0}},
        {"run": "opacus-1", "meta": framework(0.6)},
    )
    comparison = only(mnist(ledger))

    expected = account(epochs(2), FRAMEWORK_DELTA, Method.PLD)
    assert comparison.run == "opacus-1"
    assert comparison.delta == FRAMEWORK_DELTA
    assert comparison.epsilon_pld == expected.pld.epsilon
    assert comparison.epsilon_rdp == expected.rdp.epsilon
    assert comparison.epsilon_certified == expected.pld.epsilon
    assert comparison.method is Method.PLD
    assert comparison.entries == 2


def test_the_latest_entry_with_a_framework_epsilon_is_compared_up_to_itself(
    tmp_path: Path,
) -> None:
    # An import's figure sits on one entry only; later entries of the run are not in it.
    ledger = write_ledger(
        tmp_path,
        {"run": "r", "meta": framework(None)},
        {"run": "r", "meta": framework(0.9)},
        {"run": "r", "meta": framework(None)},
    )
    comparison = only(mnist(ledger))

    assert comparison.framework_epsilon == 0.9
    assert comparison.seq == 2
    assert comparison.entries == 2
    assert comparison.epsilon_pld == certified(2)


def test_a_guarded_runs_cumulative_figure_is_taken_from_its_last_entry(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, *({"run": "r", "meta": framework(e)} for e in (1, 2, 3)))
    comparison = only(mnist(ledger))

    assert (comparison.framework_epsilon, comparison.seq, comparison.entries) == (3.0, 3, 3)


def test_the_frameworks_identity_is_kept(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(5.0)})
    comparison = only(mnist(ledger))

    assert (comparison.framework, comparison.version, comparison.accountant) == (
        "opacus",
        "1.5.2",
        "gdp",
    )
    assert comparison.via == "guard"
    assert comparison.how == "PrivacyEngine.get_epsilon(delta) after each epoch"
    assert comparison.label == "Opacus gdp"


def test_a_run_without_any_framework_epsilon_is_listed_without_one(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path, {"run": "r", "meta": framework(None)}, {"run": "r", "meta": framework(None)}
    )
    ds = mnist(ledger)
    comparison = only(ds)

    assert comparison.framework_epsilon is None
    assert comparison.entries == 2
    assert comparison.epsilon_pld == certified(2)
    assert "framework_epsilon_below_certified" not in codes(ds)


def test_without_a_framework_delta_the_datasets_delta_is_used(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(5.0, delta=None)})
    comparison = only(mnist(ledger))

    assert comparison.delta == DELTA
    assert comparison.epsilon_pld == certified(1, DELTA)


def test_the_certified_figure_is_the_tiers_method(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(5.0)})
    comparison = only(mnist(ledger, policy(accountant="rdp")))

    assert comparison.method is Method.RDP
    assert comparison.epsilon_certified == comparison.epsilon_rdp
    assert comparison.epsilon_certified == account(epochs(1), FRAMEWORK_DELTA, Method.RDP).epsilon


def test_runs_without_meta_framework_give_no_comparison(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "plain"}, {"run": "plain", "meta": {"epoch": 2}}, {})
    ds = mnist(ledger)

    assert ds.frameworks == ()
    assert not [c for c in codes(ds) if c.startswith("framework_")]


def test_each_framework_run_is_listed_in_ledger_order(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"run": "zeta", "meta": framework(5.0)},
        {"run": "alpha", "meta": framework(5.0, name="tf-privacy", accountant="rdp")},
        {"run": "plain"},
    )
    ds = mnist(ledger)

    assert [(c.run, c.label) for c in ds.frameworks] == [
        ("zeta", "Opacus gdp"),
        ("alpha", "TF Privacy rdp"),
    ]


# --- the finding ---------------------------------------------------------------------------


def test_a_framework_epsilon_below_the_certified_bound_is_a_warning(tmp_path: Path) -> None:
    half = certified(2) / 2  # as Opacus' gdp estimate can be, far into a run
    ledger = write_ledger(
        tmp_path,
        {"run": "opacus-1", "meta": framework(None)},
        {"run": "opacus-1", "meta": framework(half)},
    )
    ds = mnist(ledger)

    (warning,) = [f for f in ds.findings if f.code == "framework_epsilon_below_certified"]
    assert warning.severity is Severity.WARN
    assert "'opacus-1'" in warning.message
    assert "Opacus gdp" in warning.message
    assert "δ = 1e-5" in warning.message
    assert "the verdict uses privaudit's certified bound" in warning.message


def test_the_findings_figures_are_rounded_up(tmp_path: Path) -> None:
    framework_epsilon = 0.123412
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(framework_epsilon)})
    ds = mnist(ledger)
    (warning,) = [f for f in ds.findings if f.code == "framework_epsilon_below_certified"]

    bound = only(ds).epsilon_certified
    assert "ε = 0.1235 at" in warning.message  # up, never to 0.1234
    shown_bound = warning.message.split("certified bound ε = ")[1].split(" ")[0]
    assert Decimal(shown_bound) >= Decimal(repr(bound))
    assert len(shown_bound.replace("0.", "").lstrip("0")) <= 4


def test_a_framework_epsilon_above_the_certified_bound_is_no_finding(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(2 * certified(1))})
    ds = mnist(ledger)

    assert not only(ds).below_certified
    assert "framework_epsilon_below_certified" not in codes(ds)


def test_a_framework_epsilon_equal_to_the_certified_bound_is_no_finding(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(certified(1))})

    assert "framework_epsilon_below_certified" not in codes(mnist(ledger))


def test_the_verdict_changes_only_through_the_warning(tmp_path: Path) -> None:
    def run_with(meta: dict[str, Any], folder: str) -> DatasetAssessment:
        (tmp_path / folder).mkdir()
        return mnist(write_ledger(tmp_path / folder, {"run": "r", "meta": meta}))

    plain = run_with({}, "plain")
    below = run_with(framework(1e-3), "below")
    above = run_with(framework(1e3), "above")

    assert plain.epsilon == below.epsilon == above.epsilon
    assert (plain.status, above.status, below.status) == (Status.PASS, Status.PASS, Status.WARN)
    assert [f for f in below.findings if f.code != "framework_epsilon_below_certified"] == list(
        plain.findings
    )


# --- unreadable figures --------------------------------------------------------------------

MALFORMED: dict[str, object] = {
    "not an object": "opacus said 0.5",
    "a list": [0.5, 1e-5],
    "no name": {"accountant": "rdp", "epsilon": 0.5, "delta": 1e-5},
    "empty name": {"name": " ", "epsilon": 0.5},
    "name not text": {"name": 7, "epsilon": 0.5},
    "epsilon text": {"name": "opacus", "epsilon": "0.5"},
    "epsilon a boolean": {"name": "opacus", "epsilon": True},
    "epsilon negative": {"name": "opacus", "epsilon": -1.0},
    "delta zero": {"name": "opacus", "epsilon": 0.5, "delta": 0},
    "delta one": {"name": "opacus", "epsilon": 0.5, "delta": 1},
    "delta an object": {"name": "opacus", "epsilon": 0.5, "delta": {"value": 1e-5}},
    "version a number": {"name": "opacus", "version": 1.5, "epsilon": 0.5},
    "accountant a list": {"name": "opacus", "accountant": ["rdp"], "epsilon": 0.5},
}


@pytest.mark.parametrize("value", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_framework_figure_is_an_info_finding_not_a_crash(
    tmp_path: Path, value: object
) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": {"framework": value}})
    ds = mnist(ledger)

    assert ds.frameworks == ()
    (note,) = [f for f in ds.findings if f.code == "framework_figure_unreadable"]
    assert note.severity is Severity.INFO
    assert "'r'" in note.message
    assert "entry 1" in note.message
    assert ds.status is Status.PASS
    assert ds.epsilon == account(epochs(1), DELTA).epsilon


def test_readable_figures_of_a_run_are_compared_beside_an_unreadable_one(tmp_path: Path) -> None:
    ledger = write_ledger(
        tmp_path,
        {"run": "r", "meta": framework(5.0)},
        {"run": "r", "meta": {"framework": {"name": "opacus", "epsilon": "lots"}}},
    )
    ds = mnist(ledger)

    assert only(ds).seq == 1
    assert "framework_figure_unreadable" in codes(ds)


def test_unknown_keys_of_a_framework_figure_are_ignored(tmp_path: Path) -> None:
    ledger = write_ledger(tmp_path, {"run": "r", "meta": framework(5.0, steps=235, extra={})})
    ds = mnist(ledger)

    assert only(ds).framework_epsilon == 5.0
    assert "framework_figure_unreadable" not in codes(ds)


def test_a_shuffled_run_is_compared_on_privaudits_unamplified_bound(tmp_path: Path) -> None:
    shuffled = {**EPOCH, "sampling": "shuffle"}
    ledger = write_ledger(tmp_path, {"run": "r", "mechanism": shuffled, "meta": framework(1.0)})
    comparison = only(mnist(ledger))

    independent = account([parse_mechanism(shuffled)], FRAMEWORK_DELTA)
    assert comparison.epsilon_pld == independent.pld.epsilon
    assert comparison.below_certified  # 1.0 is what Poisson amplification would allow


# --- rounding ------------------------------------------------------------------------------


@given(st.floats(min_value=1e-300, max_value=1e12, allow_nan=False))
def test_a_figure_in_a_message_is_never_rounded_down(value: float) -> None:
    from privaudit.rounding import up

    assert Decimal(up(value)) >= Decimal(repr(value))
