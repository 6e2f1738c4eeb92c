"""Any Flower DP-FedAvg strategy → the ledger, with a live budget guard: one call around it.

::

    from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg
    from privaudit.integrations.flower import attach

    dp = DifferentialPrivacyClientSideFixedClipping(
        FedAvg(fraction_train=1.0), noise_multiplier=1.0, clipping_norm=0.5,
        num_sampled_clients=10)
    strategy = attach(dp, ledger="privacy.ledger", dataset="keyboard", policy="policy.yaml",
                      run="fl-1", min_replies=8)
    result = strategy.start(grid, initial_arrays, num_rounds=100)
    if strategy.stopped: ...   # the budget ended the run; the ledger says at which round

The wrapped strategy is one of Flower's fixed-clipping DP wrappers around FedAvg's mean; their
parameters (noise multiplier z, clipping norm C, the M clients the noise is sized for) are read
off it, never restated. Per round the wrapper

- before the round: admits it only if, with the fewest replies it will aggregate
  (``min_replies``), the dataset stays within the policy; otherwise it sends nothing, now and
  in every later round, and :attr:`GuardedStrategy.stopped` says why;
- after the replies: drops the failed ones (a node that died, a ClientApp that raised), refuses
  to aggregate fewer than ``min_replies`` (nothing is released, nothing charged), accounts the
  release that is about to happen with the clients that really contributed, admits it again,
  lets Flower aggregate and noise it, and writes one ledger entry (``gaussian`` with the
  effective multiplier, the round's sampling and survivors in ``meta``).

Why an effective multiplier: Flower adds N(0, (zC/M)²) to the weighted mean Σwᵢxᵢ/W of the k
updates that arrived. Scaling by the public W/w_max (post-processing) gives a sum with one
client's weight-1 contribution bounded by C and noise of standard deviation z·C·W/(M·w_max);
so the release is a Gaussian mechanism with multiplier z_eff = z·W/(M·w_max), = z·k/M for equal
weights (McMahan et al. 2018, §3, with the denominator the number actually averaged). A round
where 2 of 10 sampled clients drop out has z_eff = 0.8z, a loss Flower's own wrappers neither
report nor, without their accountant, prevent. Weights and who replied are treated as public
(the server sees them); clients are sampled by Flower without replacement, a fixed number per
round, so no amplification by sampling is claimed.

This module imports Flower; install it with ``pip install 'privaudit[flower]'``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from logging import INFO, WARNING
from pathlib import Path
from typing import Any

from flwr import __version__ as flwr_version
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord
from flwr.serverapp import Grid
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
    Result,
    Strategy,
)
from flwr.supercore import log

from privaudit.errors import BudgetExceededError, InputError
from privaudit.imports.common import FrameworkFigure
from privaudit.integrations.flower.admission import Admission
from privaudit.ledger import NewEntry, append_entries
from privaudit.mechanisms import Gaussian

_FIXED = (DifferentialPrivacyClientSideFixedClipping, DifferentialPrivacyServerSideFixedClipping)
_ADAPTIVE = (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
)


def effective_noise_multiplier(
    noise_multiplier: float, sized_for: int, weights: Sequence[float]
) -> float:
    """z·W/(M·w_max): the Gaussian multiplier of Flower's noised weighted mean of the updates
    with ``weights`` when the noise was sized for ``sized_for`` (M) clients (module docstring)."""
    if not weights or sized_for < 1:
        raise InputError("<argument>", "weights", "expected at least one weight and M >= 1")
    if any(not math.isfinite(w) or w <= 0 for w in weights):
        raise InputError("<argument>", "weights", f"expected finite weights > 0; found {weights}")
    return noise_multiplier * math.fsum(weights) / (sized_for * max(weights))


def attach(
    strategy: Strategy,
    *,
    ledger: str | Path,
    dataset: str,
    run: str = "flower",
    policy: str | Path | None = None,
    epsilon_limit: float | None = None,
    privacy_unit: str = "client",
    min_replies: int | None = None,
) -> GuardedStrategy:
    """``strategy`` (a Flower fixed-clipping DP wrapper around FedAvg) with every round
    admitted against ``policy`` and written to ``ledger``; see :class:`GuardedStrategy`."""
    return GuardedStrategy(
        strategy,
        ledger=ledger,
        dataset=dataset,
        run=run,
        policy=policy,
        epsilon_limit=epsilon_limit,
        privacy_unit=privacy_unit,
        min_replies=min_replies,
    )


class GuardedStrategy(Strategy):
    """A Flower strategy that accounts, guards and records the DP strategy it wraps.

    ``min_replies`` (default: the M clients Flower's noise is sized for) is the fewest replies a
    round is aggregated with; fewer, and the round releases nothing. Lower it to let rounds
    survive dropouts: each is charged with the clients that really contributed.
    ``epsilon_limit`` tightens the policy's limit, never loosens it (refused).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        ledger: str | Path,
        dataset: str,
        run: str = "flower",
        policy: str | Path | None = None,
        epsilon_limit: float | None = None,
        privacy_unit: str = "client",
        min_replies: int | None = None,
    ) -> None:
        super().__init__()
        _check_strategy(strategy)
        assert isinstance(strategy, _FIXED)
        self.strategy = strategy
        self.noise_multiplier = float(strategy.noise_multiplier)
        self.clipping_norm = float(strategy.clipping_norm)
        self.sized_for = int(strategy.num_sampled_clients)
        if min_replies is None:
            min_replies = self.sized_for
        if isinstance(min_replies, bool) or not isinstance(min_replies, int) or min_replies < 1:
            raise InputError(
                "<argument>", "min_replies", f"expected an integer >= 1; found {min_replies!r}"
            )
        self.min_replies = min_replies
        self.ledger = Path(ledger)
        self.dataset = dataset
        self.run = run
        self.privacy_unit = privacy_unit
        self.admission = Admission(
            self.ledger,
            dataset,
            run,
            policy=policy,
            epsilon_limit=epsilon_limit,
            privacy_unit=privacy_unit,
        )
        self.num_rounds: int | None = None
        self.stopped: str | None = None
        """Why the run stopped early (the budget), or None."""
        self.last_round: int | None = None
        """The last round that trained before :attr:`stopped`."""
        self._sampled: dict[int, tuple[list[int], int]] = {}

    # -- Flower's Strategy ----------------------------------------------------------------

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
    ) -> Result:
        # The planned rounds let the last entry that fits say that the run ends with it.
        self.num_rounds = num_rounds
        return super().start(
            grid,
            initial_arrays,
            num_rounds,
            timeout,
            train_config,
            evaluate_config,
            evaluate_fn,
        )

    def configure_train(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        if self.stopped is not None:
            return []
        worst = Gaussian(noise_multiplier=self._worst_multiplier())
        refusal = self.admission.refusal(worst, f"round {server_round}")
        if refusal is not None:
            self._stop(server_round - 1, refusal)
            return []
        messages = list(self.strategy.configure_train(server_round, arrays, config, grid))
        population = len(list(grid.get_node_ids()))
        self._sampled[server_round] = ([m.metadata.dst_node_id for m in messages], population)
        return messages

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        sampled, population = self._sampled.pop(server_round, ([], 0))
        replies = list(replies)
        if not sampled:
            return None, None
        arrived = [m for m in replies if not m.has_error()]
        failed = sorted(set(sampled) - {m.metadata.src_node_id for m in arrived})
        if len(arrived) < self.min_replies:
            log(
                WARNING,
                "privaudit: round %s: %s of %s replies, fewer than min_replies %s; nothing"
                " aggregated, nothing released",
                server_round,
                len(arrived),
                len(sampled),
                self.min_replies,
            )
            return None, None
        weights = self._weights(arrived)
        if weights is None:
            return None, None
        release = Gaussian(
            noise_multiplier=effective_noise_multiplier(
                self.noise_multiplier, self.sized_for, weights
            )
        )
        # Unequal weights can make the release worse than the round was admitted with; it is
        # admitted again before anything leaves the server.
        refusal = self.admission.refusal(release, f"round {server_round}")
        if refusal is not None:
            self._stop(server_round - 1, refusal)
            return None, None
        arrays, metrics = self.strategy.aggregate_train(server_round, arrived)
        if arrays is None:
            return None, metrics
        ahead = None
        if self.num_rounds is not None and server_round < self.num_rounds:
            ahead = self.admission.refusal(
                Gaussian(noise_multiplier=self._worst_multiplier()),
                f"round {server_round + 1}",
                [release],
            )
        # The aggregate leaves the server only when its entry is written, and it is written only
        # if it still fits, asked under the ledger's lock: another run's rounds cannot slip in
        # between the check above and this write.
        entry = NewEntry(
            dataset=self.dataset,
            mechanism=release,
            privacy_unit=self.privacy_unit,
            run=self.run,
            meta=self._meta(server_round, sampled, population, arrived, failed, weights, ahead),
        )
        try:
            append_entries(
                self.ledger, [entry], admit=self.admission.admit(f"round {server_round}")
            )
        except BudgetExceededError as refused:
            self._stop(server_round - 1, str(refused))
            return None, None
        log(
            INFO,
            "privaudit: round %s charged to %s: %s of %s sampled clients contributed,"
            " effective noise multiplier %.4f",
            server_round,
            self.ledger,
            len(arrived),
            len(sampled),
            release.noise_multiplier,
        )
        if ahead is not None:
            self._stop(server_round, ahead)
        return arrays, metrics

    def configure_evaluate(
        self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid
    ) -> Iterable[Message]:
        # The model stops changing after the last round that trained: evaluating it again in
        # every remaining round would only cost the clients.
        if self.last_round is not None and server_round > self.last_round:
            return []
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(
        self, server_round: int, replies: Iterable[Message]
    ) -> MetricRecord | None:
        return self.strategy.aggregate_evaluate(server_round, replies)

    def summary(self) -> None:
        log(INFO, "\t├──> privaudit: ledger %s, dataset %s", self.ledger, self.dataset)
        log(INFO, "\t│\t├── limit: %s", self.admission.describe())
        log(INFO, "\t│\t└── a round aggregates at least %s replies", self.min_replies)
        self.strategy.summary()

    # -- helpers ---------------------------------------------------------------------------

    def _worst_multiplier(self) -> float:
        # The fewest replies that are aggregated, with equal weights.
        return self.noise_multiplier * self.min_replies / self.sized_for

    def _weights(self, replies: Sequence[Message]) -> list[float] | None:
        inner = self.strategy.strategy
        assert isinstance(inner, FedAvg)
        weights = []
        for reply in replies:
            records = list(reply.content.metric_records.values())
            value = records[0].get(inner.weighted_by_key) if len(records) == 1 else None
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value <= 0
            ):
                log(
                    WARNING,
                    "privaudit: node %s replied without a finite weight %r > 0 in one"
                    " MetricRecord; nothing aggregated, nothing released",
                    reply.metadata.src_node_id,
                    inner.weighted_by_key,
                )
                return None
            weights.append(float(value))
        return weights

    def _meta(
        self,
        server_round: int,
        sampled: list[int],
        population: int,
        arrived: Sequence[Message],
        failed: list[int],
        weights: list[float],
        ahead: str | None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "round": server_round,
            "engine": "flower",
            "strategy": f"{type(self.strategy).__name__}({type(self.strategy.strategy).__name__})",
            "noise_multiplier": self.noise_multiplier,
            "clipping_norm": self.clipping_norm,
            "noise_sized_for": self.sized_for,
            "sampled": len(sampled),
            "population": population,
            "sampling_rate": len(sampled) / population if population else None,
            "contributed": len(arrived),
            "survived": sorted(m.metadata.src_node_id for m in arrived),
            "dropped": failed,
            "weights": weights,
            "amplification": "none: a fixed number of clients sampled without replacement",
        }
        if self.num_rounds is not None:
            meta["planned_rounds"] = self.num_rounds
        figure = self._flower_figure()
        if figure is not None:
            meta["framework"] = figure.to_meta("flower-strategy")
        if ahead is not None:
            meta.update(stopped="budget", last_round_that_fits=server_round, reason=ahead)
        return meta

    def _flower_figure(self) -> FrameworkFigure | None:
        # Flower's own accountant, when the wrapped strategy has one (after this release).
        spent = self.strategy.privacy_spent()
        if spent is None:
            return None
        return FrameworkFigure(
            name="flower",
            version=flwr_version,
            accountant="rdp",
            epsilon=float(spent.epsilon),
            delta=float(spent.delta),
            how="Flower's PrivacyAccountant on the DP strategy (no amplification)",
        )

    def _stop(self, last_round: int, reason: str) -> None:
        self.stopped, self.last_round = reason, last_round
        log(WARNING, "privaudit: the run stops after round %s: %s", last_round, reason)


def _check_strategy(strategy: Strategy) -> None:
    """Refuse, naming what was found, a strategy whose releases cannot be accounted here."""
    name = type(strategy).__name__
    if isinstance(strategy, _ADAPTIVE):
        raise InputError(
            "<argument>",
            "strategy",
            f"expected fixed clipping; found {name}: adaptive clipping also spends budget on the"
            " clipped-count query and changes the update noise each round",
        )
    if not isinstance(strategy, _FIXED):
        raise InputError(
            "<argument>",
            "strategy",
            f"expected Flower's DifferentialPrivacyClientSideFixedClipping or"
            f" DifferentialPrivacyServerSideFixedClipping; found {name}, which adds no noise"
            " privaudit can account",
        )
    inner = strategy.strategy
    if not isinstance(inner, FedAvg) or type(inner).aggregate_train is not FedAvg.aggregate_train:
        raise InputError(
            "<argument>",
            "strategy",
            f"expected the DP wrapper around FedAvg's weighted mean; found"
            f" {type(inner).__name__}, whose aggregate the noise is not sized for",
        )
    if not strategy.noise_multiplier > 0:
        raise InputError(
            "<argument>",
            "noise_multiplier",
            f"must be > 0; found {strategy.noise_multiplier}",
        )
