"""One-run audits of real Opacus training through privaudit's hook: the correct trainer is
consistent, each planted bug is a violation, and the record names Opacus and its accountant.
Fast tests on the bundled digits (a small MLP, q = 0.1, 100 steps); one on real MNIST when
../shared/data holds it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip(
    "torch", reason="the [opacus] extra is not installed: pip install -e '.[opacus]'"
)
pytest.importorskip(
    "opacus", reason="the [opacus] extra is not installed: pip install -e '.[opacus]'"
)

from opacus import PrivacyEngine  # noqa: E402
from opacus import __version__ as opacus_version  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from privaudit.audit.planted import PLANTED_BUGS_CONSENT, PLANTED_BUGS_VARIABLE, PlantedBug  # noqa: E402
from privaudit.errors import InputError  # noqa: E402
from privaudit.integrations.opacus_audit import attach_audit, run_opacus_audit  # noqa: E402
from privaudit.records.audit import AuditRecord  # noqa: E402
from tests.integrations.opacus_training import digits_dataset  # noqa: E402

pytestmark = [
    # Opacus warns about its non-secure RNG and torch's deprecated hooks on every engine.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

DELTA = 1e-5
SIGMA = 2.249  # ε ≈ 2 at δ = 1e-5 for q = 0.1 over 100 steps (tests/audit/blobs.py)
MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def one_torch_thread() -> Any:
    # Small matrices on the shared 2-core machine: one thread is several times faster.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _audited_run(seed: int = 0, **options: Any) -> AuditRecord:
    torch.manual_seed(seed)
    data = digits_dataset()
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    engine = PrivacyEngine(accountant="rdp")
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        data_loader=DataLoader(data, batch_size=len(data) // 10),
        noise_multiplier=SIGMA,
        max_grad_norm=1.0,
        poisson_sampling=True,
    )
    steps = 10 * len(loader)
    audit = attach_audit(
        model, optimizer, loader, steps=steps, delta=DELTA, seed=seed, canaries=5_000, **options
    )
    for _ in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    return audit.finish(DataLoader(data, batch_size=512))


def test_the_correct_opacus_trainer_is_consistent_and_named() -> None:
    record = _audited_run()
    assert record.target == "opacus" and record.verdict == "consistent", record.reasons
    assert record.versions["opacus"] == opacus_version and "torch" in record.versions
    assert record.config["accountant"] == "rdp"
    assert 1.8 < record.epsilon_claimed <= 2.0 and record.steps == 110  # q = 1/11
    # Opacus' own ε for the same run (RDP, looser than PLD) is recorded beside the claim.
    assert record.config["opacus_epsilon"] > record.epsilon_claimed
    assert record.direct_checks.ok and record.ceiling is not None
    assert record.direct_checks.noise_std.claimed == pytest.approx(SIGMA)
    assert record.test_accuracy is not None and record.test_accuracy > 0.5


def test_the_canaries_leave_the_optimizer_as_they_found_it() -> None:
    torch.manual_seed(1)
    model = nn.Linear(64, 10)
    engine = PrivacyEngine()
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        data_loader=DataLoader(digits_dataset(), batch_size=100),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
    )
    groups = len(optimizer.param_groups)
    audit = attach_audit(model, optimizer, loader, steps=1, delta=DELTA, canaries=200)
    x, y = next(iter(loader))
    nn.functional.cross_entropy(model(x), y).backward()
    optimizer.step()
    audit.finish()
    assert len(optimizer.param_groups) == groups
    assert "pre_step" not in vars(optimizer) and "add_noise" not in vars(optimizer)


def test_a_run_shorter_than_planned_is_refused() -> None:
    torch.manual_seed(2)
    model = nn.Linear(64, 10)
    model, optimizer, loader = PrivacyEngine().make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        data_loader=DataLoader(digits_dataset(), batch_size=100),
        noise_multiplier=1.0,
        max_grad_norm=1.0,
    )
    audit = attach_audit(model, optimizer, loader, steps=5, delta=DELTA, canaries=200)
    with pytest.raises(InputError, match="planned 5 steps"):
        audit.finish()


@pytest.mark.parametrize("bug", list(PlantedBug))
def test_each_planted_bug_is_a_violation(bug: PlantedBug, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PLANTED_BUGS_VARIABLE, PLANTED_BUGS_CONSENT)
    record = _audited_run(planted_bug=bug)
    assert record.verdict == "violation" and record.planted_bug == bug.value
    checks = record.direct_checks
    assert checks.noise_std.ok is (bug is not PlantedBug.NOISE_DIV_10)
    assert checks.sampling_rate.ok is (bug is not PlantedBug.SAMPLING_X4)
    assert checks.contribution is not None
    assert checks.contribution.ok is (bug is not PlantedBug.NO_CLIPPING)
    assert record.epsilon_lower_bound > record.epsilon_claimed


@pytest.mark.skipif(
    not (MNIST / "mnist").is_dir(), reason="real MNIST is not in ../shared/data (CI has no data)"
)
def test_opacus_on_mnist_is_consistent() -> None:
    # privaudit audit opacus --data mnist: q = 0.01, 500 steps, Opacus' default accountant.
    record = run_opacus_audit(
        "mnist", MNIST, epsilon=2.0, delta=DELTA, canaries=5_000, seed=0, method="auto"
    )
    assert record.verdict == "consistent", record.reasons
    assert record.config["accountant"] == "prv" and record.steps == 500
    assert math.isclose(record.config["sampling_rate"], 0.01)
    assert record.test_accuracy is not None and record.test_accuracy > 0.8


def test_the_cli_audits_its_opacus_trainer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from privaudit.cli import main
    from privaudit.records.audit import read_audit_record

    out = tmp_path / "audit.json"
    code = main(["audit", "opacus", "--canaries", "2000", "--out", str(out)])
    printed = capsys.readouterr().out
    record = read_audit_record(out)
    assert code == 0 and record.target == "opacus" and record.verdict == "consistent"
    assert "ceiling" in printed and record.config["accountant"] == "prv"
