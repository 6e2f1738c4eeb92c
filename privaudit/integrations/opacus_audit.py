"""Opacus → a one-run empirical privacy audit: white-box Dirac gradient canaries that go through
Opacus' own per-sample clipping, noise and accountant hook, in the user's training loop.

::

    model, optimizer, train_loader = privacy_engine.make_private(...)   # Poisson sampling
    audit = privaudit.integrations.opacus_audit.attach_audit(
        model, optimizer, train_loader, steps=epochs * len(train_loader), delta=1e-5)
    for epoch in range(epochs):
        for x, y in train_loader:
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()
    record = audit.finish(test_loader)          # an AuditRecord (privaudit.records.audit)
    write_audit_record(record, Path("runs/audit-opacus.json"))

How (Steinke, Nasr & Jagielski 2023, §6 white box; the method, bound and ceiling as in
:mod:`privaudit.audit.session`): :func:`attach_audit` adds one parameter of m + u coordinates to
the optimizer (learning rate 0, outside the model: nothing the model computes depends on it) and
wraps the ``DPOptimizer``'s ``pre_step`` and ``add_noise``. Each step, before Opacus clips, the
included canaries join the batch as extra examples, each sampled at the rate q the accountant
is told: every parameter's ``grad_sample`` gets one row per sampled canary (zero on the model's
parameters, the Dirac vector G·e_{c_j} = 10·C on the canary parameter) and the model's real rows
get zero on the canary parameter. Opacus then does what it always does — per-sample norms over
all parameters, clipping to ``max_grad_norm``, the sum, Gaussian noise of std σ·C on every
coordinate, its accountant's step hook — and the auditor reads the noisy sum on the canary and
untouched coordinates. The claim is privaudit's PLD ε of ``DpSgd(σ, q, steps)`` for the σ, C and
q Opacus uses (q as its accountant hook is told); Opacus' own ε and accountant are recorded
beside it. The cost of a step grows with the batch times m + u (the canary parameter's per-sample
rows), so the default m is 20,000, not the million of ``audit dpsgd``.

Planted bugs (consent as in :mod:`privaudit.audit.planted`): ``no_clipping`` lifts
``max_grad_norm`` to ∞ while Opacus clips (the noise keeps σ·C), ``noise_div_10`` lets Opacus
noise with σ/10 while its accountant is told σ, ``sampling_x4`` samples the canaries at 4q.

Supported: a ``DPOptimizer`` over a Poisson ``DPDataLoader`` without virtual steps; anything else
is refused. This module imports torch and Opacus (``pip install 'privaudit[opacus]'``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import torch
from opacus import __version__ as opacus_version
from opacus.accountants import IAccountant
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag

from privaudit.accounting.accountant import account
from privaudit.accounting.calibrate import dpsgd_mechanism
from privaudit.audit.planted import PlantedBug
from privaudit.audit.session import AuditedRun, AuditSession
from privaudit.audit.settings import AuditSettings
from privaudit.errors import InputError
from privaudit.integrations.opacus import sampling_of
from privaudit.mechanisms import Sampling, mechanism_to_json
from privaudit.records.audit import AuditRecord
from privaudit.train.dpsgd import poisson_sample

__all__ = ["OPACUS_CANARIES", "OpacusAudit", "attach_audit", "run_opacus_audit"]

OPACUS_CANARIES: Final = 20_000
"""Default m: each step holds (batch + sampled canaries) × (m + u) per-sample gradient rows."""

ARGUMENT: Final = "<argument>"


def attach_audit(
    model: torch.nn.Module,
    optimizer: DPOptimizer,
    data_loader: Iterable[Any],
    *,
    steps: int,
    delta: float,
    seed: int = 0,
    canaries: int = OPACUS_CANARIES,
    accountant: IAccountant | None = None,
    planted_bug: PlantedBug | None = None,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> OpacusAudit:
    """Audit the Opacus run of ``model``/``optimizer``/``data_loader`` over its next ``steps``
    optimizer steps; call :meth:`OpacusAudit.finish` after the last one. ``accountant`` names
    Opacus' accountant in the record (found from the optimizer's step hook when not given);
    ``options`` are further :class:`~privaudit.audit.settings.AuditSettings` (``beta``,
    ``method``, ``score``, ``name``, ``data``, ...)."""
    return OpacusAudit(
        model,
        optimizer,
        data_loader,
        steps=steps,
        delta=delta,
        seed=seed,
        canaries=canaries,
        accountant=accountant,
        planted_bug=planted_bug,
        progress=progress,
        options=options,
    )


class OpacusAudit:
    """The canaries of one audited Opacus run (see the module docstring)."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: DPOptimizer,
        data_loader: Iterable[Any],
        *,
        steps: int,
        delta: float,
        seed: int,
        canaries: int,
        accountant: IAccountant | None,
        planted_bug: PlantedBug | None,
        progress: Callable[[str], None] | None,
        options: Mapping[str, Any],
    ) -> None:
        started = time.perf_counter()
        if not isinstance(optimizer, DPOptimizer):
            raise InputError(ARGUMENT, "optimizer", "expected Opacus' DPOptimizer (make_private)")
        if sampling_of(data_loader)[0] is not Sampling.POISSON:  # type: ignore[arg-type]
            raise InputError(
                ARGUMENT, "data_loader", "the one-run audit covers Poisson sampling (DPDataLoader)"
            )
        if not (isinstance(steps, int) and steps >= 1):
            raise InputError(ARGUMENT, "steps", f"expected an integer >= 1; found {steps!r}")
        self.model = model
        self.optimizer = optimizer
        self.accountant, told_rate = _accountant_of(optimizer, accountant)
        rate = told_rate if told_rate is not None else float(data_loader.sample_rate)  # type: ignore[attr-defined]
        self.sigma = float(optimizer.noise_multiplier)
        self.clip = float(optimizer.max_grad_norm)
        self.planned = steps
        self.mechanism = dpsgd_mechanism(self.sigma, rate, steps)
        self.delta = delta
        claimed = account([self.mechanism], delta).epsilon
        settings = AuditSettings(
            epsilon_claimed=claimed,
            delta=delta,
            seed=seed,
            canaries=canaries,
            planted_bug=planted_bug,
            progress=progress,
            **{"name": "audit-opacus", **options},
        )
        parameters = sum(p.numel() for p in model.parameters())
        self.session = AuditSession(
            settings,
            target="opacus",
            base_features=max(1, parameters),
            clip_norm=self.clip,
            noise_multiplier=self.sigma,
            sampling_rate=rate,
            steps=steps,
            mechanism=self.mechanism,
            started=started,
        )
        self.rate = rate
        trainer = self.session.trainer
        self.trainer_rate = trainer.sampling_rate
        self.trainer_sigma = trainer.noise_multiplier
        self.clips = trainer.clips
        self.included = self.session.canaries.included_indices
        self.m = self.session.canaries.count
        self.gradient_norm = self.session.canaries.gradient_norm
        reference = next(iter(model.parameters()))
        self.canary = torch.zeros(
            self.session.canaries.extra_features,
            dtype=reference.dtype,
            device=reference.device,
            requires_grad=True,
        )
        # What DPOptimizer sets on each of its parameters when it is made (zero_grad resets both).
        self.canary.grad_sample = None  # type: ignore[attr-defined]
        self.canary.summed_grad = None  # type: ignore[attr-defined]
        # Learning rate 0: Opacus clips and noises the canary coordinates, nothing moves them.
        optimizer.original_optimizer.add_param_group({"params": [self.canary], "lr": 0.0})
        self.group = optimizer.original_optimizer.param_groups[-1]
        self.original_add_noise = optimizer.add_noise
        self.original_pre_step = optimizer.pre_step
        optimizer.pre_step = self._pre_step
        optimizer.add_noise = self._add_noise
        self.steps = 0
        self.sampled = 0
        self.report = self.session.reporter(steps, "step")
        self.finished = False

    # -- inside Opacus' step ----------------------------------------------------------------------

    def _pre_step(self, closure: Callable[[], float] | None = None) -> bool | None:
        """Add this step's sampled canaries as extra examples, then Opacus' own pre-step."""
        if self.steps >= self.planned:
            raise InputError(
                ARGUMENT, "steps", f"the audit planned {self.planned} steps; a step more was taken"
            )
        rng = self.session.trainer_rng
        # Included canaries are examples like the others: each joins the batch independently.
        chosen = self.included[poisson_sample(len(self.included), self.trainer_rate, rng)]
        self.sampled += len(chosen)
        extra = len(chosen)
        batch = 0
        for p in self.optimizer.params:
            if p is self.canary:
                continue
            _check_processed_flag(p.grad_sample)
            flat = self.optimizer._get_flat_grad_sample(p)
            batch = len(flat)
            p.grad_sample = torch.cat([flat, flat.new_zeros((extra, *flat.shape[1:]))])
        rows = torch.zeros(
            (batch + extra, len(self.canary)), dtype=self.canary.dtype, device=self.canary.device
        )
        if extra:
            rows[torch.arange(batch, batch + extra), torch.as_tensor(chosen)] = self.gradient_norm
        self.canary.grad_sample = rows  # type: ignore[attr-defined]
        if self.clips:
            return self.original_pre_step(closure)  # type: ignore[no-any-return]
        told = self.optimizer.max_grad_norm
        original_clip = self.optimizer.clip_and_accumulate

        def unclipped() -> None:
            # The planted bug: Opacus' clipping with an infinite bound clips nothing.
            self.optimizer.max_grad_norm = math.inf
            try:
                original_clip()
            finally:
                self.optimizer.max_grad_norm = told

        self.optimizer.clip_and_accumulate = unclipped
        try:
            return self.original_pre_step(closure)  # type: ignore[no-any-return]
        finally:
            del self.optimizer.clip_and_accumulate

    def _add_noise(self) -> None:
        """Opacus' noise (σ/10 under the planted bug), then the auditor's view of the sum."""
        told = self.optimizer.noise_multiplier
        self.optimizer.noise_multiplier = self.trainer_sigma
        try:
            self.original_add_noise()
        finally:
            self.optimizer.noise_multiplier = told
        assert self.canary.grad is not None
        noisy = self.canary.grad.detach().to("cpu", torch.float64).numpy()
        self.session.observer.observe(noisy[: self.m], noisy[self.m :])
        self.steps += 1
        self.report(self.steps)

    # -- after training ---------------------------------------------------------------------------

    def finish(self, test_loader: Iterable[Any] | None = None) -> AuditRecord:
        """Detach the canaries from the optimizer and return the audit record."""
        if self.finished:
            raise InputError(ARGUMENT, "audit", "finish() was already called")
        self.finished = True
        del self.optimizer.pre_step
        del self.optimizer.add_noise
        groups = self.optimizer.original_optimizer.param_groups
        groups[:] = [g for g in groups if g is not self.group]
        self.optimizer.original_optimizer.state.pop(self.canary, None)
        if self.steps != self.planned:
            raise InputError(
                ARGUMENT,
                "steps",
                f"the audit planned {self.planned} steps (its claimed ε is for them); the run"
                f" took {self.steps}",
            )
        accuracy = None if test_loader is None else _accuracy(self.model, test_loader)
        opacus_epsilon = None
        if self.accountant is not None:
            opacus_epsilon = float(self.accountant.get_epsilon(self.delta))
        config = {
            "framework": "opacus",
            "noise_multiplier": self.sigma,
            "clip_norm": self.clip,
            "sampling": "poisson",
            "sampling_rate": self.rate,
            "steps": self.planned,
            "expected_batch_size": self.optimizer.expected_batch_size,
            "optimizer": type(self.optimizer.original_optimizer).__name__,
            "accountant": None if self.accountant is None else self.accountant.mechanism(),
            "opacus_epsilon": opacus_epsilon,
        }
        record = self.session.record(
            data={"parameters": sum(p.numel() for p in self.model.parameters())},
            config=config,
            mechanism=self.mechanism,
            run=AuditedRun(self.steps, self.sampled, accuracy),
        )
        versions = {**record.versions, "opacus": opacus_version, "torch": torch.__version__}
        assert record.mechanism == mechanism_to_json(self.mechanism)
        return record.model_copy(update={"versions": versions})


def _accountant_of(
    optimizer: DPOptimizer, given: IAccountant | None
) -> tuple[IAccountant | None, float | None]:
    """Opacus' accountant and the sampling rate its step hook is told (from the hook's closure:
    ``IAccountant.get_optimizer_hook_fn`` binds both)."""
    found: IAccountant | None = None
    rate: float | None = None
    hook = getattr(optimizer, "step_hook", None)
    for cell in getattr(hook, "__closure__", None) or ():
        value = cell.cell_contents
        if isinstance(value, IAccountant):
            found = value
        elif isinstance(value, float):
            rate = value
    return (given if given is not None else found), rate


def _accuracy(model: torch.nn.Module, loader: Iterable[Any]) -> float:
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += int((model(x).argmax(dim=1) == y).sum())
            total += len(y)
    return correct / total if total else 0.0


# --- privaudit audit opacus: a small Opacus trainer audited through the hook --------------------

STEPS_PER_EPOCH: Final = 100
"""Batches of about n/100 records: q = 0.01, as Opacus' DPDataLoader derives it."""
EPOCHS: Final = 5


def run_opacus_audit(
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
    """Train a pixel MLP (d → 32 tanh → 10) on ``data`` with Opacus' ``PrivacyEngine`` (its
    default accountant, Poisson sampling at q = 0.01, 5 epochs, C = 1, σ calibrated by
    privaudit for ``epsilon``) and audit it through :func:`attach_audit`."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from privaudit.accounting.calibrate import calibrate_noise
    from privaudit.audit.planted import planted_bug_named
    from privaudit.rounding import up_fixed
    from privaudit.train.features import FeatureSpec
    from privaudit.train.runs import load

    bug = planted_bug_named(planted_bug)
    say = progress or (lambda _line: None)
    split = load(data, data_dir)
    pixels = FeatureSpec(kind="pixels")
    x = torch.tensor(pixels.transform(split.train.x), dtype=torch.float32)
    y = torch.tensor(split.train.y, dtype=torch.int64)
    x_test = torch.tensor(pixels.transform(split.test.x), dtype=torch.float32)
    y_test = torch.tensor(split.test.y, dtype=torch.int64)
    n, d = x.shape
    batch = max(1, math.ceil(n / STEPS_PER_EPOCH))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices on a shared machine: one thread is faster
    try:
        torch.manual_seed(seed)
        loader = DataLoader(TensorDataset(x, y), batch_size=batch)
        steps = EPOCHS * len(loader)
        sigma = calibrate_noise(epsilon, delta, 1 / len(loader), steps).value
        model = torch.nn.Sequential(
            torch.nn.Linear(d, 32), torch.nn.Tanh(), torch.nn.Linear(32, int(y.max()) + 1)
        )
        engine = PrivacyEngine()
        model, optimizer, private_loader = engine.make_private(
            module=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9),
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=1.0,
            poisson_sampling=True,
        )
        say(
            f"audit: Opacus {opacus_version} DP-SGD on {data} with {canaries} canaries,"
            f" σ = {sigma:.4f}, q = {1 / len(loader):.4f}, {steps} steps"
        )
        audit = attach_audit(
            model,
            optimizer,
            private_loader,
            steps=steps,
            delta=delta,
            seed=seed,
            canaries=canaries,
            accountant=engine.accountant,
            planted_bug=bug,
            progress=say,
            method=method,
            name=f"audit-opacus-{data}-eps{epsilon:g}",
            data={"name": data, "train": n, "test": len(x_test), "features": d},
        )
        claimed = audit.session.settings.epsilon_claimed
        say(f"audit: claimed ε = {up_fixed(claimed)} at δ = {delta:g}")
        loss = torch.nn.CrossEntropyLoss()
        for _ in range(EPOCHS):
            for xb, yb in private_loader:
                optimizer.zero_grad()
                loss(model(xb), yb).backward()
                optimizer.step()
        test = DataLoader(TensorDataset(x_test, y_test), batch_size=4096)
        return audit.finish(test)
    finally:
        torch.set_num_threads(threads)
