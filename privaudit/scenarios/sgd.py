"""The DP-SGD settings a scenario's silo variants share, as distributed and local configs.

Built from one set of settings, a scenario's variants differ only in what the comparison is
about (where the noise is added, σ, the sampling rate), never by a setting copied wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from privaudit.federated import DistributedDpSgdConfig, LocalDpSgdConfig
    from privaudit.train.models import ModelSpec


@dataclass(frozen=True)
class Sgd:
    rounds: int
    """Federated rounds; one DP-SGD step a round."""
    sampling_rate: float
    clip_norm: float
    learning_rate: float
    momentum: float
    model: ModelSpec

    def distributed(self, noise_multiplier: float, seed: int | None) -> DistributedDpSgdConfig:
        """Each silo adds its share of the noise to its clipped-gradient sum; only the secure
        sum is revealed."""
        from privaudit.federated import DistributedDpSgdConfig

        return DistributedDpSgdConfig(
            rounds=self.rounds,
            noise_multiplier=noise_multiplier,
            clip_norm=self.clip_norm,
            sampling_rate=self.sampling_rate,
            learning_rate=self.learning_rate,
            momentum=self.momentum,
            model=self.model,
            seed=seed,
        )

    def local(self, noise_multiplier: float, seed: int | None) -> LocalDpSgdConfig:
        """Each silo runs DP-SGD with its own full noise; the server averages the updates."""
        from privaudit.federated import LocalDpSgdConfig

        # One local step a round: each silo's release per round is one DP-SGD step, and the
        # server's size-weighted mean of the deltas is that step on the noisier mean gradient.
        return LocalDpSgdConfig(
            rounds=self.rounds,
            noise_multiplier=noise_multiplier,
            clip_norm=self.clip_norm,
            sampling_rate=self.sampling_rate,
            learning_rate=self.learning_rate,
            local_steps=1,
            momentum=self.momentum,
            weighting="size",
            model=self.model,
            seed=seed,
        )
