"""A federated-learning simulator in Flower's shape, with client-level and example-level DP.

Shape
-----
Clients ``fit`` (and ``evaluate``) a model they are sent; a server *strategy* configures each
round (whom to ask, with what) and aggregates what comes back, as in Flower's ``Strategy``
(``configure_fit`` / ``aggregate_fit``). Server and clients are separate objects that exchange
only immutable messages — :class:`ModelMessage` down, :class:`UpdateMessage` up,
:class:`AggregateMessage` from an aggregator — whose arrays are read-only copies, so neither side
can reach into the other's state. The :class:`Server` logs every message it receives
(:attr:`Server.received`): the log is exactly the server's view, which is what the privacy
analysis is about. Clipping, noise, quantisation, sparsification, averaging and aggregation are
plain functions that do not care who calls them, so a Flower strategy can reuse them unchanged.

Layout
------
One module a job; this package re-exports the public names of all of them.

- :mod:`~privaudit.federated.messages`: the immutable messages (model down, update up,
  aggregate, evaluation) — the only contact between server and clients.
- :mod:`~privaudit.federated.compression`: payloads as sent (dense, top-k, quantised).
- :mod:`~privaudit.federated.config`: the three modes' configurations;
  :mod:`~privaudit.federated.heterogeneity`: who drops out or straggles.
- :mod:`~privaudit.federated.updates`: what a client computes (clipping, local SGD and DP-SGD,
  noise shares); :mod:`~privaudit.federated.adaptive_clipping`: the server's clip-norm update;
  :mod:`~privaudit.federated.averaging`: weighted and uniform means.
- :mod:`~privaudit.federated.aggregation`: how inputs reach the server as one sum (plain,
  ideal secure sum, or the protocol of :mod:`privaudit.federated.secagg`, imported only when
  :func:`secure_aggregator` is called, so this package works without ``cryptography``).
- :mod:`~privaudit.federated.clients`, :mod:`~privaudit.federated.strategies`,
  :mod:`~privaudit.federated.server`: the parties; :mod:`~privaudit.federated.simulation`:
  the round loop; :mod:`~privaudit.federated.runs`: one-call runs of each mode.
- :mod:`~privaudit.federated.results`: what a run returns; :mod:`~privaudit.federated.evaluation`:
  test metrics; :mod:`~privaudit.federated.ledger`: writing a run's releases to the ledger.
- :mod:`~privaudit.federated.arrays`: the read-only arrays that keep messages immutable.

Imports inside the package point one way: messages, configuration and results at the bottom;
the plain functions (updates, compression, averaging, aggregation, evaluation) above them; then
clients and strategies, the server, the round loop, and the one-call runs on top. Nothing
below the facade imports the facade.

Privacy modes
-------------
1. **Client-level DP-FedAvg** (cross-device; McMahan, Ramage, Talwar & Zhang, "Learning
   differentially private recurrent language models", ICLR 2018, Alg. 1). Each round the server
   Poisson-samples clients at rate q; each sampled client runs E epochs of ordinary SGD from the
   global model and returns its model delta clipped to L2 norm C. The server adds N(0, (zC)²) to
   the sum and divides by the *expected* number of clients q·N (the fixed-denominator estimator
   f̃_f of McMahan et al. §2: the realised count would be released un-noised). Optionally C adapts
   (Andrew, Thakkar, McMahan & Ramaswamy, "Differentially private learning with adaptive
   clipping", NeurIPS 2021, Alg. 1): clients also report whether ‖Δ‖ ≤ C, the server estimates
   that fraction with noise σ_b and moves C geometrically toward the target quantile; the deltas'
   noise is raised so the pair of releases is one Gaussian mechanism with the stated z (their
   Thm. 1). Ledger: ``DpFedAvg(z, q, rounds=1)`` per round, privacy unit "client".
2. **Example-level DP across silos** (cross-silo; each silo's records are a ledger partition).

   a. *Local DP-SGD*: each silo runs DP-SGD steps on its own records (Poisson sampling within the
      silo, per-example clipping, its own noise σ·C; Abadi et al., CCS 2016, Alg. 1) and sends
      its noisy model delta; the server averages them, weighted by silo size or uniformly.
      Ledger: ``DpSgd(σ, q, steps)`` per silo per round, on that silo's partition (parallel
      composition across silos).
   b. *Distributed DP*: DP-SGD over secure aggregation (the "distributed Gaussian" of Kairouz,
      Liu & Steinke, "The distributed discrete Gaussian mechanism for federated learning with
      secure aggregation", ICML 2021, in its continuous form). Each round is one step: every
      silo Poisson-samples its records at rate q, sums their clipped gradients and adds a noise
      *share* N(0, σ²C²/m) (m = silos asked this round); the shares meet only in the aggregator,
      so the server sees Σ clipped + N(0, σ²C²·k/m) where k silos survived. Ledger:
      ``DistributedGaussian(σ, clients=m, survivors=k, sampling_rate=q)`` per round, partition
      None, with the *real* k (effective multiplier σ·√(k/m)). When the aggregator reveals each
      input to the server (:func:`plain_sum`, the default), the server sees each silo's share
      with only σC/√m of noise, and the ledger says so: ``DpSgd(σ/√m, q, 1)`` per surviving
      silo per round, on its partition. This mode offers no compression: quantising a noisy
      share would have to happen inside the secure sum, before the shares meet, with an
      analysis of the rounding (Kairouz et al. 2021 §4); otherwise the revealed sum is no
      longer the Gaussian the ledger describes.

What the accounting covers: the releases in the ledger. The per-round records (who was sampled,
who dropped, bytes) and local evaluation metrics are computed without noise — operator
diagnostics, not covered by ε, not to be published. Silo sizes are treated as public (they set
the normaliser q·n and the weights), as the dataset size n is in DP-SGD.

Heterogeneity
-------------
Selected clients may be offline (a per-round dropout probability, or an explicit schedule such
as "silo 2 is gone from round 30 on": they never receive the model) or straggle (they receive
the model but miss the round's deadline; their update is discarded unsent). Both reduce the
survivors of the round and never the accounting's conservatism: an absent client adds nothing.

Communication is counted in payload bytes (arrays as sent; headers and framing not counted):
down, the model to every client that received it plus any aggregation-protocol traffic to
clients; up, every update that arrived (or every byte the aggregation protocol uploaded).

Randomness: one ``numpy.random.SeedSequence`` per run (from the seed, or 128 bits from the OS's
cryptographic source) spawns independent generators for the server, the environment (dropouts),
the model's initialisation and each client. No global state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privaudit.federated.adaptive_clipping import (
        geometric_clip_update,
        noisy_unclipped_fraction,
        update_noise_multiplier,
    )
    from privaudit.federated.aggregation import (
        AggregateResult,
        Aggregator,
        ideal_secure_sum,
        plain_sum,
        secure_aggregator,
    )
    from privaudit.federated.averaging import average, weighted_average
    from privaudit.federated.clients import (
        DistributedDpSgdSilo,
        DpFedAvgClient,
        FitClient,
        LocalDpSgdSilo,
    )
    from privaudit.federated.compression import (
        QSGD_8BIT,
        Compression,
        Payload,
        Quantised,
        dequantise,
        encode,
        quantise,
        top_k,
    )
    from privaudit.federated.config import (
        AdaptiveClipping,
        DistributedDpSgdConfig,
        DpFedAvgConfig,
        LocalDpSgdConfig,
    )
    from privaudit.federated.evaluation import evaluate
    from privaudit.federated.heterogeneity import Absence, Heterogeneity
    from privaudit.federated.ledger import coalesce_entries, write_ledger
    from privaudit.federated.messages import (
        AggregateMessage,
        EvaluateMessage,
        ModelMessage,
        UpdateMessage,
    )
    from privaudit.federated.results import FederatedResult, FitOutcome, LedgerItem, RoundRecord
    from privaudit.federated.runs import (
        RunOptions,
        run_distributed_dpsgd,
        run_dp_fedavg,
        run_local_dpsgd,
    )
    from privaudit.federated.server import Server
    from privaudit.federated.simulation import simulate
    from privaudit.federated.strategies import (
        DistributedDpSgdStrategy,
        DpFedAvgStrategy,
        LocalDpSgdStrategy,
        Strategy,
    )
    from privaudit.federated.updates import clip_to_norm, gradient_share, local_dpsgd, local_sgd

_EXPORTS = {
    "geometric_clip_update": "privaudit.federated.adaptive_clipping",
    "noisy_unclipped_fraction": "privaudit.federated.adaptive_clipping",
    "update_noise_multiplier": "privaudit.federated.adaptive_clipping",
    "AggregateResult": "privaudit.federated.aggregation",
    "Aggregator": "privaudit.federated.aggregation",
    "ideal_secure_sum": "privaudit.federated.aggregation",
    "plain_sum": "privaudit.federated.aggregation",
    "secure_aggregator": "privaudit.federated.aggregation",
    "average": "privaudit.federated.averaging",
    "weighted_average": "privaudit.federated.averaging",
    "DistributedDpSgdSilo": "privaudit.federated.clients",
    "DpFedAvgClient": "privaudit.federated.clients",
    "FitClient": "privaudit.federated.clients",
    "LocalDpSgdSilo": "privaudit.federated.clients",
    "QSGD_8BIT": "privaudit.federated.compression",
    "Compression": "privaudit.federated.compression",
    "Payload": "privaudit.federated.compression",
    "Quantised": "privaudit.federated.compression",
    "dequantise": "privaudit.federated.compression",
    "encode": "privaudit.federated.compression",
    "quantise": "privaudit.federated.compression",
    "top_k": "privaudit.federated.compression",
    "AdaptiveClipping": "privaudit.federated.config",
    "DistributedDpSgdConfig": "privaudit.federated.config",
    "DpFedAvgConfig": "privaudit.federated.config",
    "LocalDpSgdConfig": "privaudit.federated.config",
    "evaluate": "privaudit.federated.evaluation",
    "Absence": "privaudit.federated.heterogeneity",
    "Heterogeneity": "privaudit.federated.heterogeneity",
    "coalesce_entries": "privaudit.federated.ledger",
    "write_ledger": "privaudit.federated.ledger",
    "AggregateMessage": "privaudit.federated.messages",
    "EvaluateMessage": "privaudit.federated.messages",
    "ModelMessage": "privaudit.federated.messages",
    "UpdateMessage": "privaudit.federated.messages",
    "FederatedResult": "privaudit.federated.results",
    "FitOutcome": "privaudit.federated.results",
    "LedgerItem": "privaudit.federated.results",
    "RoundRecord": "privaudit.federated.results",
    "RunOptions": "privaudit.federated.runs",
    "run_distributed_dpsgd": "privaudit.federated.runs",
    "run_dp_fedavg": "privaudit.federated.runs",
    "run_local_dpsgd": "privaudit.federated.runs",
    "Server": "privaudit.federated.server",
    "simulate": "privaudit.federated.simulation",
    "DistributedDpSgdStrategy": "privaudit.federated.strategies",
    "DpFedAvgStrategy": "privaudit.federated.strategies",
    "LocalDpSgdStrategy": "privaudit.federated.strategies",
    "Strategy": "privaudit.federated.strategies",
    "clip_to_norm": "privaudit.federated.updates",
    "gradient_share": "privaudit.federated.updates",
    "local_dpsgd": "privaudit.federated.updates",
    "local_sgd": "privaudit.federated.updates",
}
"""Public name → the module defining it, loaded on first use (PEP 562), so that a silo's
process (a Flower ClientApp) loads only the modules it uses."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "QSGD_8BIT",
    "Absence",
    "AdaptiveClipping",
    "AggregateMessage",
    "AggregateResult",
    "Aggregator",
    "Compression",
    "DistributedDpSgdConfig",
    "DistributedDpSgdSilo",
    "DistributedDpSgdStrategy",
    "DpFedAvgClient",
    "DpFedAvgConfig",
    "DpFedAvgStrategy",
    "EvaluateMessage",
    "FederatedResult",
    "FitClient",
    "FitOutcome",
    "Heterogeneity",
    "LedgerItem",
    "LocalDpSgdConfig",
    "LocalDpSgdSilo",
    "LocalDpSgdStrategy",
    "ModelMessage",
    "Payload",
    "Quantised",
    "RoundRecord",
    "RunOptions",
    "Server",
    "Strategy",
    "UpdateMessage",
    "average",
    "clip_to_norm",
    "coalesce_entries",
    "dequantise",
    "encode",
    "evaluate",
    "geometric_clip_update",
    "gradient_share",
    "ideal_secure_sum",
    "local_dpsgd",
    "local_sgd",
    "noisy_unclipped_fraction",
    "plain_sum",
    "quantise",
    "run_distributed_dpsgd",
    "run_dp_fedavg",
    "run_local_dpsgd",
    "secure_aggregator",
    "simulate",
    "top_k",
    "update_noise_multiplier",
    "weighted_average",
    "write_ledger",
]
