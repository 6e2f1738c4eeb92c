"""The live budget guard's cost per optimizer step, against the same Opacus step unguarded.

Workload: the MNIST model of the DP-SGD issue (a 784-256-10 MLP, batch 256 of 60,000, Poisson
sampling, σ = 1.1, clip 1.0) trained with Opacus' PrivacyEngine on the CPU. Two arms, each a
fresh model, engine and loader with the same seed, alternating in one process:

- unguarded: ``optimizer.step()`` as Opacus runs it (per-sample clipping, noise, accountant);
- guarded: the same, after ``privaudit.integrations.opacus.attach(engine, ...)`` — every step is
  admitted by the streaming budget guard before it is applied, recorded into the ledger's block
  of identical steps, journalled for crash recovery, and flushed to the ledger once per epoch.

Timed: the wall time of each arm's ``--steps`` steps (forward, backward and ``optimizer.step``;
data loading excluded by pre-fetching the batches' indices with the same sampler), median of
``--repeats`` alternating repeats. Printed: both medians per step and the ratio guarded ÷
unguarded; the goal is an overhead under 5 %. A policy limit of ε = 8 (well above what the run
spends) keeps the guard on its fast path, as in a real run; ``--limit`` moves it nearer.

Data: MNIST from ``<repo>/../shared/data`` (``--data-dir``); without it the script says so and
stops (exit 0): random images would time the same arithmetic but not the MNIST model.

Usage: ``python benchmarks/opacus_guard.py [--steps 200] [--repeats 5] [--data-dir DIR]``.
Needs the [opacus] extra. Not a test: the exit code is 0 whatever the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[opacus_guard] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--limit", type=float, default=8.0, help="the policy's ε limit")
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    try:
        import opacus
        import torch
    except ImportError:
        log("needs the [opacus] extra: pip install -e '.[opacus]'; nothing measured")
        return
    from privaudit.data.loaders import load_mnist
    from privaudit.errors import InputError

    try:
        split = load_mnist(args.data_dir)
    except InputError as error:
        log(f"MNIST not available ({error}); nothing measured")
        return
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    x = torch.tensor(split.train.x.reshape(len(split.train.x), -1))
    y = torch.tensor(split.train.y)
    log(f"MNIST {len(x):,} training images; opacus {opacus.__version__}, torch {torch.__version__}")
    unguarded: list[float] = []
    guarded: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            for arm, times in (("unguarded", unguarded), ("guarded", guarded)):
                ledger = Path(folder) / f"ledger-{repeat}.jsonl"
                seconds = run_arm(x, y, args, guard=arm == "guarded", ledger=ledger)
                times.append(seconds / args.steps)
                log(f"repeat {repeat + 1}/{args.repeats} {arm}: {1e3 * times[-1]:.3f} ms/step")
    base, ours = statistics.median(unguarded), statistics.median(guarded)
    ratio = ours / base
    print(f"workload: MNIST MLP 784-256-10, batch 256/60000 Poisson, σ 1.1, {args.steps} steps")
    print(f"{'arm':<12}{'median ms/step':>16}{'best ms/step':>14}")
    print(f"{'unguarded':<12}{1e3 * base:>16.3f}{1e3 * min(unguarded):>14.3f}")
    print(f"{'guarded':<12}{1e3 * ours:>16.3f}{1e3 * min(guarded):>14.3f}")
    print(f"guarded ÷ unguarded: {ratio:.4f} (overhead {100 * (ratio - 1):+.2f} %)")
    print(f"{'PASS' if ratio < 1.05 else 'MISS'}: guard overhead under 5 % per optimizer step")


def run_arm(x: object, y: object, args: argparse.Namespace, *, guard: bool, ledger: Path) -> float:
    import torch
    from opacus import PrivacyEngine
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    data = TensorDataset(x, y)  # type: ignore[arg-type]
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    engine = PrivacyEngine(accountant="rdp")
    model, optimizer, loader = engine.make_private(
        module=model,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        data_loader=DataLoader(data, batch_size=256),
        noise_multiplier=1.1,
        max_grad_norm=1.0,
        poisson_sampling=True,
    )
    batches = []
    for batch in loader:
        batches.append(batch)
        if len(batches) == args.steps:
            break
    attached = None
    if guard:
        from privaudit.integrations.opacus import attach

        policy = ledger.with_suffix(".policy.yaml")
        policy.write_text(
            "tiers:\n  bench:\n"
            f"    epsilon: {args.limit}\n    delta: 1.0e-5\n    privacy_unit: example\n"
            "datasets:\n  mnist:\n    tier: bench\n    size: 60000\n",
            encoding="utf-8",
        )
        attached = attach(engine, data_loader=loader, ledger=ledger, dataset="mnist", policy=policy)
    start = time.perf_counter()
    for inputs, labels in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    if attached is not None:
        attached.close()
    return seconds


if __name__ == "__main__":
    main()
