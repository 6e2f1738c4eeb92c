"""Real Opacus runs for the integration tests (imported by them, so that without the [opacus]
extra they skip, saying why): a small MLP on the bundled digits (8×8 images,
1,438 training examples), trained on the CPU with Opacus' own PrivacyEngine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from privaudit.data.loaders import load_digits  # noqa: E402
from privaudit.errors import BudgetExceededError  # noqa: E402

BATCH = 64
DELTA = 1e-5


@dataclass
class Training:
    engine: Any
    model: Any
    optimizer: Any
    loader: Any
    dataset_size: int


def digits_dataset() -> TensorDataset:
    train = load_digits().train
    x = torch.tensor(train.x.reshape(len(train.x), -1), dtype=torch.float32)
    return TensorDataset(x, torch.tensor(train.y))


def make_training() -> Callable[..., Training]:
    def make(
        noise_multiplier: float = 1.5,
        accountant: str = "rdp",
        poisson_sampling: bool = True,
        seed: int = 0,
    ) -> Training:
        torch.manual_seed(seed)
        data = digits_dataset()
        model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        engine = PrivacyEngine(accountant=accountant)
        model, optimizer, loader = engine.make_private(
            module=model,
            optimizer=optimizer,
            data_loader=DataLoader(data, batch_size=BATCH, shuffle=not poisson_sampling),
            noise_multiplier=noise_multiplier,
            max_grad_norm=1.0,
            poisson_sampling=poisson_sampling,
        )
        return Training(engine, model, optimizer, loader, len(data))

    return make


def train(training: Training, epochs: int, *, most_steps: int | None = None) -> tuple[int, bool]:
    """Train; return (steps whose update was applied, whether the guard stopped the run)."""
    taken = 0
    try:
        for _ in range(epochs):
            for x, y in training.loader:
                if most_steps is not None and taken >= most_steps:
                    return taken, False
                training.optimizer.zero_grad()
                nn.functional.cross_entropy(training.model(x), y).backward()
                training.optimizer.step()
                taken += 1
    except BudgetExceededError:
        return taken, True
    return taken, False


def write_policy(folder: Path, epsilon: float, size: int) -> Path:
    path = folder / "policy.yaml"
    path.write_text(
        "tiers:\n"
        "  medical:\n"
        f"    epsilon: {epsilon}\n"
        f"    delta: {DELTA}\n"
        "    privacy_unit: example\n"
        "datasets:\n"
        "  digits:\n"
        "    tier: medical\n"
        f"    size: {size}\n",
        encoding="utf-8",
    )
    return path
