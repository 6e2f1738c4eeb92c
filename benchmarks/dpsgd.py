"""Time one DP-SGD epoch on the MNIST MLP: privaudit's numpy step loop beside Opacus on CPU.

The model is a multi-layer perceptron on the raw 784 pixels, 784 → hidden → 10 with ReLU
(``ModelSpec(hidden=(128,))`` in privaudit; ``nn.Sequential(Linear, ReLU, Linear)`` in torch),
trained with DP-SGD at expected batch 256 under Poisson sampling, clip norm C = 1.0, noise
multiplier σ = 1.1, plain SGD with learning rate 0.1 (float32 throughout). Rows:

- privaudit DP-SGD: the step loop of ``train_dpsgd`` run directly with the functions it uses
  (``poisson_sample``, ``private_gradient``, the SGD update), ``round(n / b)`` steps an epoch,
  without the per-epoch test evaluation;
- privaudit non-private: the same loop with the mean-loss ``Mlp.gradient`` (no clipping, no noise);
- Opacus DP-SGD (the optional ``anchors`` extra): ``PrivacyEngine().make_private`` with
  ``poisson_sampling=True`` over a ``DataLoader(TensorDataset, batch_size=b)``, one pass of its
  data loader (forward, backward with per-sample gradient hooks, clipped noisy step). This is
  the ratio's denominator: Opacus's default ``grad_sample_mode="hooks"`` materialises every
  example's gradient (b × n_params floats a step);
- Opacus DP-SGD with ghost clipping (``grad_sample_mode="ghost"``, the loss wrapped by
  ``make_private``): per-example norms without per-example gradients and a second backward
  pass for the clipped sum (Li et al., ICLR 2022) — the same trick privaudit's
  ``Mlp.clipped_gradient_sum`` uses, so the like-for-like algorithmic comparison;
- torch non-private: the same torch model, a shuffled ``DataLoader`` and ``torch.optim.SGD``.

Every row counts its data loading (numpy fancy indexing, or the torch ``DataLoader``) and runs a
few untimed warm-up steps first. Examples per second is n / (median epoch seconds), n = 60,000;
the ratio column divides each row's examples/s by that of Opacus's default (hooks) row. Test
accuracy after the timed epochs (untimed, on the 10,000 test images) is printed as a sanity check
that every row trained the same model; the initialisations differ (privaudit: He-uniform, zero
biases; torch: its defaults).

Data: MNIST from ``<repo>/../shared/data`` (``--data-dir``) via
``privaudit.data.loaders.load_mnist``; when it is absent, random data of MNIST's shape (the timings
do not depend on the pixel values, the accuracies become meaningless) and the output says so.

Usage: ``python benchmarks/dpsgd.py [--epochs-to-time 1] [--batch-size 256] [--hidden 128]
[--skip-opacus] [--data-dir DIR]``. Progress goes to stderr, the table to stdout. Not a test:
nothing is asserted and the exit code is 0 whatever is measured.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from privaudit.data.loaders import load_mnist
from privaudit.errors import InputError
from privaudit.train.dpsgd import DpSgdConfig, make_generator, poisson_sample, private_gradient
from privaudit.train.models import ModelSpec

CLIP_NORM = 1.0
NOISE_MULTIPLIER = 1.1
LEARNING_RATE = 0.1
MNIST_SHAPE = (60_000, 10_000, 784, 10)  # train, test, features, classes
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@dataclass(frozen=True)
class Data:
    x_train: np.ndarray[Any, Any]
    y_train: np.ndarray[Any, Any]
    x_test: np.ndarray[Any, Any]
    y_test: np.ndarray[Any, Any]
    source: str


@dataclass(frozen=True)
class Row:
    label: str
    seconds: list[float]
    """Wall time of each timed epoch."""
    steps: int
    """Steps in one epoch."""
    examples: int
    """Examples sampled over all timed epochs."""
    accuracy: float
    """Test accuracy after the timed epochs."""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def mean_batch(self) -> float:
        return self.examples / (self.steps * len(self.seconds))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_data(data_dir: Path, seed: int) -> Data:
    """MNIST flattened to (n, 784) float32 in [0, 1]; random data of that shape if absent."""
    try:
        split = load_mnist(data_dir)
    except (InputError, OSError) as error:
        log(f"MNIST not available under {data_dir}: {error}")
        n_train, n_test, features, classes = MNIST_SHAPE
        rng = np.random.default_rng(seed)
        return Data(
            x_train=rng.random((n_train, features), dtype=np.float32),
            y_train=rng.integers(0, classes, n_train, dtype=np.int64),
            x_test=rng.random((n_test, features), dtype=np.float32),
            y_test=rng.integers(0, classes, n_test, dtype=np.int64),
            source=(
                f"RANDOM data of MNIST's shape ({n_train:,} + {n_test:,} × {features}, "
                f"{classes} classes): MNIST not found under {data_dir}; accuracies meaningless"
            ),
        )
    train, test = split
    # Writable copies: the Dataset arrays are read-only views, which torch.from_numpy warns about.
    return Data(
        x_train=np.array(train.x.reshape(len(train), -1)),
        y_train=np.array(train.y),
        x_test=np.array(test.x.reshape(len(test), -1)),
        y_test=np.array(test.y),
        source=f"MNIST from {data_dir / 'mnist'} ({len(train):,} train, {len(test):,} test)",
    )


# --- privaudit -----------------------------------------------------------------------------------


def time_privaudit(
    data: Data, config: DpSgdConfig, *, private: bool, epochs: int, warmup: int
) -> Row:
    """The step loop of ``train_dpsgd`` (Poisson sampling, SGD without momentum), timed per
    epoch; ``private=False`` replaces the private gradient by the mean-loss gradient."""
    x, y = data.x_train, data.y_train
    n = len(x)
    q = config.sampling_rate(n)
    steps = config.steps_per_epoch(n)
    expected_batch = float(config.batch_size)
    model = config.model.build(x.shape[1], MNIST_SHAPE[3])
    rng = make_generator(config.seed)
    params = model.init(rng, np.float32)

    def step() -> int:
        index = poisson_sample(n, q, rng)
        if private:
            gradient = private_gradient(
                model,
                params,
                x[index],
                y[index],
                clip_norm=config.clip_norm,
                noise_multiplier=config.noise_multiplier,
                expected_batch_size=expected_batch,
                rng=rng,
            ).gradient
        else:
            gradient = model.gradient(params, x[index], y[index])
        params[...] -= config.learning_rate * gradient
        return len(index)

    for _ in range(warmup):
        step()
    seconds = []
    examples = 0
    for _ in range(epochs):
        began = time.perf_counter()
        for _ in range(steps):
            examples += step()
        seconds.append(time.perf_counter() - began)
    accuracy = model.accuracy(params, data.x_test, data.y_test)
    label = "privaudit DP-SGD (numpy)" if private else "privaudit non-private (numpy)"
    return Row(label, seconds, steps, examples, accuracy)


# --- torch / Opacus ------------------------------------------------------------------------------


def torch_model(torch: Any, features: int, hidden: int, classes: int, seed: int) -> Any:
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes))


def time_torch(
    torch: Any,
    label: str,
    model: Any,
    optimizer: Any,
    loss_fn: Any,
    loader: Any,
    data: Data,
    *,
    epochs: int,
    warmup: int,
) -> Row:
    """One pass of ``loader`` per timed epoch: forward, cross-entropy, backward, step."""

    def step(xb: Any, yb: Any) -> int:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()
        return len(yb)

    for count, (xb, yb) in enumerate(loader, start=1):
        step(xb, yb)
        if count >= warmup:
            break
    seconds = []
    examples = 0
    steps = 0
    for _ in range(epochs):
        steps = 0
        began = time.perf_counter()
        for xb, yb in loader:
            examples += step(xb, yb)
            steps += 1
        seconds.append(time.perf_counter() - began)
    with torch.no_grad():
        logits = model(torch.from_numpy(data.x_test))
        accuracy = float((logits.argmax(dim=1) == torch.from_numpy(data.y_test)).float().mean())
    return Row(label, seconds, steps, examples, accuracy)


def time_opacus(
    torch: Any, opacus: Any, data: Data, args: argparse.Namespace, *, mode: str, label: str
) -> Row:
    """Opacus DP-SGD: ``make_private`` with Poisson sampling over a ``DataLoader`` of a
    ``TensorDataset``; ``mode`` is Opacus's ``grad_sample_mode`` ("hooks", its default, or
    "ghost", which also wraps the loss)."""
    from torch.utils.data import DataLoader, TensorDataset

    log(f"timing {label} ({args.warmup_steps} warm-up steps)")
    features, classes = data.x_train.shape[1], MNIST_SHAPE[3]
    model = torch_model(torch, features, args.hidden, classes, args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    dataset = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    loader = DataLoader(dataset, batch_size=args.batch_size)
    loss_fn = torch.nn.CrossEntropyLoss()
    settings: dict[str, Any] = {
        "noise_multiplier": NOISE_MULTIPLIER,
        "max_grad_norm": CLIP_NORM,
        "poisson_sampling": True,
    }
    with warnings.catch_warnings():
        # "Secure RNG turned off": expected for a benchmark (privaudit uses PCG64 too).
        warnings.filterwarnings("ignore", message=".*[Ss]ecure RNG.*")
        engine = opacus.PrivacyEngine()
        if mode == "hooks":
            model, optimizer, loader = engine.make_private(
                module=model, optimizer=optimizer, data_loader=loader, **settings
            )
        else:
            model, optimizer, loss_fn, loader = engine.make_private(
                module=model,
                optimizer=optimizer,
                data_loader=loader,
                criterion=loss_fn,
                grad_sample_mode=mode,
                **settings,
            )
    with warnings.catch_warnings():
        # Opacus's hooks on the first layer, whose input needs no gradient: harmless.
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        return time_torch(
            torch,
            label,
            model,
            optimizer,
            loss_fn,
            loader,
            data,
            epochs=args.epochs_to_time,
            warmup=args.warmup_steps,
        )


def time_torch_plain(torch: Any, data: Data, args: argparse.Namespace) -> Row:
    """The same model without privacy: a shuffled ``DataLoader`` and ``torch.optim.SGD``."""
    from torch.utils.data import DataLoader, TensorDataset

    log(f"timing torch non-private ({args.warmup_steps} warm-up steps)")
    features, classes = data.x_train.shape[1], MNIST_SHAPE[3]
    model = torch_model(torch, features, args.hidden, classes, args.seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
    dataset = TensorDataset(torch.from_numpy(data.x_train), torch.from_numpy(data.y_train))
    generator = torch.Generator().manual_seed(args.seed)
    loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, generator=generator)
    return time_torch(
        torch,
        "torch non-private",
        model,
        optimizer,
        torch.nn.CrossEntropyLoss(),
        loader,
        data,
        epochs=args.epochs_to_time,
        warmup=args.warmup_steps,
    )


def import_optional(module: str) -> tuple[Any, str | None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(module), None
    except ImportError as error:
        return None, f"not installed ({error.name}); pip install -e '.[anchors]'"


# --- report --------------------------------------------------------------------------------------


def version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def blas_threads() -> str:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    pools = [
        f"{pool['internal_api']} {pool['num_threads']} ({Path(pool['filepath']).name})"
        for pool in threadpoolctl.threadpool_info()
    ]
    return "; ".join(pools) or "none loaded"


def load_average() -> float | None:
    """The 1-minute load average (runnable processes), where the OS reports one."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def print_table(rows: list[Row], opacus: Row | None, n: int, epochs: int) -> None:
    header = (
        f"{'implementation':<30} {'steps':>5} {'mean batch':>10} {'epoch s':>8} {'best s':>8}"
        f" {'examples/s':>11} {'÷ Opacus':>9} {'test acc':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        rate = n / row.median
        ratio = "—" if opacus is None else f"{rate / (n / opacus.median):.2f}x"
        print(
            f"{row.label:<30} {row.steps:>5} {row.mean_batch:>10.1f} {row.median:>8.2f}"
            f" {row.best:>8.2f} {rate:>11,.0f} {ratio:>9} {row.accuracy:>8.2%}"
        )
    print(
        f"(epoch s: median over {epochs} timed epoch{'s' if epochs != 1 else ''}; "
        f"examples/s = {n:,} / epoch s; ÷ Opacus: examples/s over Opacus's default"
        " per-sample-gradient mode, the first Opacus row)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--epochs-to-time", type=int, default=1, help="timed epochs per implementation (default 1)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="expected batch size (default 256)"
    )
    parser.add_argument("--hidden", type=int, default=128, help="hidden width (default 128)")
    parser.add_argument("--skip-opacus", action="store_true", help="do not time Opacus")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="folder holding mnist/ (default <repo>/../shared/data)",
    )
    parser.add_argument(
        "--warmup-steps", type=int, default=5, help="untimed steps before timing (default 5)"
    )
    parser.add_argument(
        "--torch-threads", type=int, default=2, help="torch.set_num_threads (default 2)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of every generator (default 0)")
    args = parser.parse_args(argv)
    if min(args.epochs_to_time, args.batch_size, args.hidden, args.torch_threads) < 1:
        parser.error(
            "--epochs-to-time, --batch-size, --hidden and --torch-threads must be at least 1"
        )
    if args.warmup_steps < 0 or args.seed < 0:
        parser.error("--warmup-steps and --seed must be at least 0")

    torch, torch_missing = import_optional("torch")
    if torch is not None:
        torch.set_num_threads(args.torch_threads)
    opacus: Any
    opacus_missing: str | None
    if args.skip_opacus:
        opacus, opacus_missing = None, "--skip-opacus"
    elif torch is None:
        opacus, opacus_missing = None, torch_missing
    else:
        opacus, opacus_missing = import_optional("opacus")

    log(f"loading data from {args.data_dir}")
    data = load_data(args.data_dir, args.seed)
    n = len(data.x_train)
    if args.batch_size > n:
        parser.error(f"--batch-size must be at most {n}")
    config = DpSgdConfig(
        noise_multiplier=NOISE_MULTIPLIER,
        clip_norm=CLIP_NORM,
        batch_size=args.batch_size,
        epochs=args.epochs_to_time,
        learning_rate=LEARNING_RATE,
        seed=args.seed,
        model=ModelSpec(hidden=(args.hidden,), activation="relu"),
    )

    load_before = load_average()
    rows: list[Row] = []
    timers: list[tuple[str, Callable[[], Row]]] = [
        (
            "privaudit DP-SGD",
            lambda: time_privaudit(
                data, config, private=True, epochs=args.epochs_to_time, warmup=args.warmup_steps
            ),
        ),
        (
            "privaudit non-private",
            lambda: time_privaudit(
                data, config, private=False, epochs=args.epochs_to_time, warmup=args.warmup_steps
            ),
        ),
    ]
    for label, timer in timers:
        log(f"timing {label} ({args.warmup_steps} warm-up steps)")
        rows.append(timer())
    plain: Row | None = None
    private: Row | None = None
    ghost: Row | None = None
    if opacus is not None:
        private = time_opacus(
            torch, opacus, data, args, mode="hooks", label="Opacus DP-SGD (torch)"
        )
        ghost = time_opacus(
            torch, opacus, data, args, mode="ghost", label="Opacus DP-SGD, ghost clipping"
        )
    if torch is not None:
        plain = time_torch_plain(torch, data, args)
    rows.extend(row for row in (private, ghost, plain) if row is not None)

    load_after = load_average()

    layers = f"{data.x_train.shape[1]} → {args.hidden} → {MNIST_SHAPE[3]} (ReLU)"
    print(f"data: {data.source}")
    print(
        f"model: MLP {layers}; DP-SGD: expected batch {args.batch_size} (Poisson sampling,"
        f" q = {config.sampling_rate(n):.5f}), C = {CLIP_NORM:g}, σ = {NOISE_MULTIPLIER:g},"
        f" SGD lr {LEARNING_RATE:g}, float32; {args.warmup_steps} untimed warm-up steps"
    )
    print()
    print_table(rows, private, n, args.epochs_to_time)
    if private is None:
        print(f"Opacus DP-SGD: skipped ({opacus_missing})")
    if torch is None:
        print(f"torch non-private: skipped ({torch_missing})")
    print()
    dp = rows[0]
    if private is not None:
        ratio = (n / dp.median) / (n / private.median)
        print(
            f"privaudit / Opacus (DP-SGD examples/s): {ratio:.2f}x"
            f" ({n / dp.median:,.0f} vs {n / private.median:,.0f} examples/s)"
        )
    if ghost is not None:
        print(
            f"privaudit / Opacus ghost clipping (DP-SGD examples/s):"
            f" {ghost.median / dp.median:.2f}x"
            f" ({n / dp.median:,.0f} vs {n / ghost.median:,.0f} examples/s)"
        )
    print(f"privaudit DP-SGD / privaudit non-private: {rows[1].median / dp.median:.2f}x the speed")
    if plain is not None and private is not None:
        print(f"Opacus DP-SGD / torch non-private: {plain.median / private.median:.2f}x the speed")
    print()
    print(
        f"versions: python {platform.python_version()}, privaudit {version('privaudit')},"
        f" numpy {np.__version__}, torch {version('torch')}, opacus {version('opacus')}"
    )
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} logical cores"
        f" ({affinity} usable by this process); the rows run one after another, each free to"
        f" use every core"
    )
    if load_before is not None and load_after is not None:
        busy = max(load_before, load_after) > (os.cpu_count() or 1) + 0.5
        print(
            f"load average (1 min) before / after timing: {load_before:.2f} / {load_after:.2f}"
            + (
                " — above the core count: other processes competed for the cores, so the"
                " timings are inflated (multi-threaded kernels, torch's most, suffer most)"
                if busy
                else ""
            )
        )
    torch_threads = (
        "torch not installed"
        if torch is None
        else f"torch intra-op {torch.get_num_threads()}, inter-op {torch.get_num_interop_threads()}"
    )
    print(f"threads: {torch_threads}; numpy BLAS: {blas_threads()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
