"""Opacus → the ledger, with a live budget guard: one call on a ``PrivacyEngine``.

::

    model, optimizer, train_loader = privacy_engine.make_private(...)
    guard = privaudit.integrations.opacus.attach(
        privacy_engine, data_loader=train_loader,
        ledger="privacy.ledger", dataset="mnist", policy="policy.yaml", run="cnn-1")
    with guard:
        for epoch in range(epochs):
            for x, y in train_loader:
                ...
                optimizer.step()   # raises BudgetExceededError before a step that does not fit

What it records is what Opacus accounts: the guard wraps the engine's accountant, whose ``step``
Opacus' optimizer calls after noising a batch and before applying it, with the noise multiplier
and the sampling rate it really used. Before a step is applied the guard (i) asks
:class:`~privaudit.budget.guard.BudgetGuard`, which holds every earlier entry of the dataset,
whether it fits the policy, and raises :class:`~privaudit.errors.BudgetExceededError` (the
update is not applied, Opacus' accountant does not count it) when it does not; (ii) writes it to
the crash journal. Blocks of identical steps become one ``dpsgd`` ledger entry per epoch and at
close, each carrying Opacus' own ε (``meta.framework``) so ``account``, ``check`` and the report
show it beside privaudit's certified figures.

Sampling is read off the data loader, never assumed: Opacus' ``DPDataLoader`` (Poisson, the
amplification DP-SGD proofs assume) is ``sampling: poisson``; a plain ``DataLoader`` of disjoint
batches (shuffled or not, ``make_private(poisson_sampling=False)``) is ``sampling: shuffle``,
accounted without amplification (one Gaussian release per example per epoch) although Opacus'
own figure assumes Poisson sampling; any other batch sampler is refused. To count epochs exactly
the guard marks the loader's batch sampler, so each pass over the loader starts a new block.

This module imports torch and Opacus; install them with ``pip install 'privaudit[opacus]'``.
"""

from __future__ import annotations

import atexit
import math
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from opacus import PrivacyEngine
from opacus import __version__ as opacus_version
from opacus.data_loader import DPDataLoader
from opacus.optimizers import DPOptimizer
from opacus.utils.uniform_sampler import (
    DistributedUniformWithReplacementSampler,
    UniformWithReplacementSampler,
)
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler

from privaudit.budget.guard import BudgetGuard, BudgetLimits, policy_limits
from privaudit.budget.journal import recover
from privaudit.budget.recorder import StepRecorder
from privaudit.errors import BudgetExceededError, InputError
from privaudit.imports.common import FrameworkFigure
from privaudit.ledger import Ledger, LedgerEntry, read_ledger
from privaudit.mechanisms import Sampling
from privaudit.policy import Policy, load_policy

__all__ = ["OpacusGuard", "attach", "sampling_of"]


def attach(
    target: PrivacyEngine | DPOptimizer,
    *,
    data_loader: DataLoader[Any],
    ledger: str | Path,
    dataset: str,
    policy: Policy | str | Path,
    run: str | None = None,
    partition: str | None = None,
    privacy_unit: str = "example",
    epsilon_limit: float | None = None,
    accountant: Any = None,
) -> OpacusGuard:
    """Guard and record the DP-SGD steps of an Opacus training run.

    ``target`` is the ``PrivacyEngine`` (before or after ``make_private``) or the
    ``DPOptimizer`` it returned (then pass ``accountant=privacy_engine.accountant`` to have
    Opacus' own ε recorded). ``data_loader`` is the loader the run iterates (the one
    ``make_private`` returned). ``epsilon_limit`` may only tighten the policy's limit.
    Crash journals that runs which died left beside ``ledger`` are recovered into it first.
    """
    if isinstance(policy, Policy):
        loaded, source = policy, "<policy>"
    else:
        loaded, source = load_policy(policy), str(policy)
    limits = policy_limits(
        loaded, dataset, epsilon_limit=epsilon_limit, privacy_unit=privacy_unit, source=source
    )
    if isinstance(target, PrivacyEngine):
        engine_accountant = target.accountant
    elif isinstance(target, DPOptimizer):
        engine_accountant = accountant
    else:
        raise InputError(
            "<argument>",
            "target",
            f"expected an Opacus PrivacyEngine or DPOptimizer; found {type(target).__name__}",
        )
    if engine_accountant is not None and len(engine_accountant.history) > 0:
        raise InputError(
            "<argument>",
            "target",
            f"the engine's accountant already holds {len(engine_accountant)} steps that this"
            " guard did not see; attach before training (import earlier steps with"
            " `privaudit ledger import --from opacus`)",
        )
    sampling, how_sampled = sampling_of(data_loader)
    recover(ledger)
    known = read_ledger(ledger, allow_missing=True)
    guard = BudgetGuard.from_entries(known.entries, limits, run, source=str(ledger))
    return OpacusGuard(
        target,
        guard=guard,
        seen=len(known.entries),
        limits=limits,
        recorder=StepRecorder(
            ledger,
            dataset=dataset,
            sampling=sampling,
            run=run,
            partition=partition,
            privacy_unit=privacy_unit,
        ),
        data_loader=data_loader,
        accountant=engine_accountant,
        sampling_note=how_sampled,
    )


def sampling_of(data_loader: DataLoader[Any]) -> tuple[Sampling, str]:
    """How ``data_loader`` forms batches, and a one-line reason; refuses what it cannot tell."""
    batches = getattr(data_loader, "batch_sampler", None)
    if isinstance(data_loader, DPDataLoader) or isinstance(
        batches, UniformWithReplacementSampler | DistributedUniformWithReplacementSampler
    ):
        return Sampling.POISSON, "Opacus' Poisson sampler (DPDataLoader)"
    if isinstance(batches, BatchSampler):
        inner = batches.sampler
        disjoint = isinstance(inner, SequentialSampler) or (
            isinstance(inner, RandomSampler)
            and not inner.replacement
            and inner.num_samples == len(inner.data_source)
        )
        if disjoint:
            return (
                Sampling.SHUFFLE,
                f"a DataLoader of disjoint batches ({type(inner).__name__}): no amplification"
                " by sampling is claimed",
            )
        what = type(inner).__name__
    else:
        what = type(batches).__name__
    raise InputError(
        "<argument>",
        "data_loader",
        "cannot tell how this loader forms batches (its sampler is"
        f" {what}); expected Opacus' DPDataLoader (Poisson) or a DataLoader over a"
        " SequentialSampler or a RandomSampler without replacement",
    )


class OpacusGuard:
    """The live guard of one Opacus run; a context manager. See :func:`attach`."""

    def __init__(
        self,
        target: PrivacyEngine | DPOptimizer,
        *,
        guard: BudgetGuard,
        seen: int = 0,
        limits: BudgetLimits,
        recorder: StepRecorder,
        data_loader: DataLoader[Any],
        accountant: Any,
        sampling_note: str,
    ) -> None:
        self.guard = guard
        self._seen = seen  # entries of the ledger the guard has counted (the first `seen`)
        self.limits = limits
        self.recorder = recorder
        self.sampling_note = sampling_note
        self.stopped: BudgetExceededError | None = None
        """The refusal that stopped the run, if one did."""
        self._accountant = accountant
        self._steps_per_epoch = max(1, len(data_loader))
        self._epoch_marks = [0]
        self._seen_mark = 0
        self._in_block = 0
        self._closed = False
        self._mark_epochs(data_loader)
        self._figure = FrameworkFigure(
            name="opacus",
            version=opacus_version,
            accountant=accountant.mechanism() if accountant is not None else "unknown",
            epsilon=None,
            delta=limits.delta,
            how=(
                f"Opacus {accountant.mechanism()} accountant, get_epsilon(δ) at run time"
                if accountant is not None
                else "not recorded: the guard was attached to the optimizer without accountant="
            ),
        )
        if isinstance(target, PrivacyEngine):
            self._wrap_accountant(target.accountant)
        else:
            self._wrap_hook(target, 1.0 / self._steps_per_epoch)
        atexit.register(self.close)

    # -- what a user calls ---------------------------------------------------------------------

    @property
    def steps(self) -> int:
        """Steps recorded (each admitted before it was applied)."""
        return self.recorder.steps

    def epsilon(self) -> float:
        """The dataset's certified ε now (everything in the ledger plus this run's steps)."""
        return self.guard.epsilon()

    def flush(self) -> None:
        """Write the steps taken since the last write to the ledger now."""
        self._note(self.recorder.flush(self._framework_meta(), admit=self._count_others))
        self._in_block = 0

    def close(self) -> None:
        """Write what is pending and remove the crash journal. Idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        self._note(self.recorder.close(self._framework_meta(), admit=self._count_others))

    def _count_others(self, ledger: Ledger, new: tuple[LedgerEntry, ...]) -> str | None:
        """Asked under the ledger's lock as this run's steps are written: the guard counts what
        other jobs appended since it last looked, so two runs on one dataset see each other's
        releases from then on. The steps being written are never refused: they were taken,
        and a ledger that left them out would understate the privacy loss."""
        others = [e for e in ledger.entries[self._seen :] if e.dataset == self.limits.dataset]
        run = self.recorder.run
        self.guard.count_others(
            [e.mechanism for e in others],
            [e.mechanism for e in others if run is not None and e.run == run],
        )
        self._seen = len(ledger.entries)
        return None

    def _note(self, written: list[LedgerEntry]) -> None:
        if written:
            self._seen = written[-1].seq

    def __enter__(self) -> OpacusGuard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- the step ------------------------------------------------------------------------------

    def _before(self, noise_multiplier: float, sampling_rate: float) -> None:
        """Runs before Opacus applies a noised step: admit and journal it, or refuse it."""
        if self._closed:
            raise BudgetExceededError(
                f"the privaudit guard of run {self.recorder.run!r} is closed; no step is"
                " recorded after close, so none may be taken"
            )
        if not (
            isinstance(noise_multiplier, int | float)
            and math.isfinite(noise_multiplier)
            and noise_multiplier > 0
        ):
            raise InputError(
                "opacus",
                "noise_multiplier",
                f"expected a finite number > 0; found {noise_multiplier!r} (a step without"
                " noise has no DP guarantee)",
            )
        if self._epoch_marks[0] != self._seen_mark or self._in_block >= self._steps_per_epoch:
            self._seen_mark = self._epoch_marks[0]
            if self.recorder.pending_steps:
                self.flush()
        cost = self.recorder.cost_of_step(noise_multiplier, sampling_rate)
        try:
            self.guard.charge(cost, f"step {self.steps + 1} of run {self.recorder.run!r}")
        except BudgetExceededError as refusal:
            self.stopped = refusal
            self.flush()
            raise
        self.recorder.step(
            noise_multiplier,
            sampling_rate,
            {"framework": self._figure.to_meta("guard"), "opacus": self._run_meta()},
        )
        self._in_block += 1

    def _framework_meta(self) -> dict[str, Any]:
        epsilon, how = None, self._figure.how
        if self._accountant is not None and len(self._accountant) > 0:
            try:
                epsilon = float(self._accountant.get_epsilon(self.limits.delta))
            except Exception as error:  # Opacus' own figure is context, never the verdict
                how = f"Opacus {self._figure.accountant} accountant failed: {error}"
        figure = FrameworkFigure(
            self._figure.name,
            self._figure.version,
            self._figure.accountant,
            epsilon,
            self._figure.delta,
            how,
        )
        return {"framework": figure.to_meta("guard", epsilon), "opacus": self._run_meta()}

    def _run_meta(self) -> dict[str, Any]:
        return {
            "steps_in_run": self.steps,
            "sampling": self.sampling_note,
            "limit": self.limits.describe(),
        }

    # -- wiring into Opacus ---------------------------------------------------------------------

    def _wrap_accountant(self, accountant: Any) -> None:
        original: Callable[..., None] = accountant.step

        def step(*, noise_multiplier: float, sample_rate: float) -> None:
            self._before(noise_multiplier, sample_rate)
            original(noise_multiplier=noise_multiplier, sample_rate=sample_rate)

        accountant.step = step

    def _wrap_hook(self, optimizer: DPOptimizer, sample_rate: float) -> None:
        original = optimizer.step_hook

        def hook(optim: DPOptimizer) -> None:
            try:
                self._before(optim.noise_multiplier, sample_rate * optim.accumulated_iterations)
            except BudgetExceededError:
                for param in optim.params:
                    param.grad = None  # the refused step's noised gradient is discarded
                raise
            if original is not None:
                original(optim)

        optimizer.attach_step_hook(hook)

    def _mark_epochs(self, data_loader: DataLoader[Any]) -> None:
        """Count passes over the loader: each iteration of its batch sampler is an epoch."""
        batches: Any = data_loader.batch_sampler
        marks = self._epoch_marks
        base = type(batches)
        plain_iter = base.__iter__

        def counted(sampler: Any) -> Any:
            marks[0] += 1
            return plain_iter(sampler)

        batches.__class__ = type(base.__name__, (base,), {"__iter__": counted})
