"""The seed scenarios, end to end: plan → federated training → ledger → check → run records.

Each scenario is a situation our users bring; all are federated (the data never leaves its
holder). One *deployment* run per scenario is charged to the scenario's ledger and checked
against its shipped policy; the runs shown beside it for comparison (local noise instead of
secure aggregation, IID instead of non-IID, the non-private baseline) are written as run records
marked ``in_ledger = false``: they used the same data, so in a real deployment they would have
to be charged too, and the report says so.

- ``mnist-noniid``: 10 silos, Dirichlet(α = 0.5) label skew; example-level DP-SGD with
  distributed noise over secure aggregation (deployment) beside local DP-SGD per silo, IID data
  and a shards split.
- ``mnist-cross-device``: 1,000 clients, client-level DP-FedAvg with Poisson client sampling.
- ``hospital-notes``: MTSamples notes over 5 hospitals with different specialty mixes;
  hashed text features; distributed noise over secure aggregation beside local noise.
- ``bank-fraud``: credit-card transactions over 3 banks; distributed noise over secure
  aggregation, one bank drops out half way; local DP beside it; every round's securely
  aggregated sum is checked against the plain sum of the survivors' inputs.

Distributed noise is planned for the worst dropout the protocol tolerates
(:mod:`~privaudit.scenarios.planning`).

The modules, one job each:

- :mod:`~privaudit.scenarios.runner`: :func:`run_scenario`, a scenario into a results folder.
- :mod:`~privaudit.scenarios.registry`: which scenarios exist (:data:`SCENARIOS`).
- :mod:`~privaudit.scenarios.context`: a scenario's entry and what its training is handed.
- :mod:`~privaudit.scenarios.variants`: training one variant and settling it.
- :mod:`~privaudit.scenarios.sgd`: the DP-SGD settings a scenario's variants share.
- :mod:`~privaudit.scenarios.planning`: noise planned for dropouts, and the secure sum.
- :mod:`~privaudit.scenarios.recording`: a variant's run record and the ε it is shown with.
- :mod:`~privaudit.scenarios.results`: :class:`ScenarioResult`, :class:`VariantResult`.
- :mod:`~privaudit.scenarios.mnist`, :mod:`~privaudit.scenarios.bank_fraud`,
  :mod:`~privaudit.scenarios.hospital_notes`: the scenarios themselves.
- :mod:`~privaudit.scenarios.notes`: the hospital-notes data, features, recipe and forecast.
- :mod:`~privaudit.scenarios.demo`: ``privaudit demo`` on the bundled digits data.

Importing this package is cheap: every scenario imports its trainers and data when it runs.
"""

from __future__ import annotations

from privaudit.scenarios.bank_fraud import creditcard_features
from privaudit.scenarios.hospital_notes import forecast_hospital_notes
from privaudit.scenarios.registry import SCENARIOS, scenario_delta
from privaudit.scenarios.results import ScenarioResult, VariantResult
from privaudit.scenarios.runner import run_scenario

__all__ = [
    "SCENARIOS",
    "ScenarioResult",
    "VariantResult",
    "creditcard_features",
    "forecast_hospital_notes",
    "run_scenario",
    "scenario_delta",
]
