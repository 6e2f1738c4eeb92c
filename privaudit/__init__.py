"""privaudit: differential-privacy accounting and audit for DP-SGD and federated learning.

The public Python API, re-exported from the modules that implement it::

    import privaudit as pa

    run = pa.DpSgd(noise_multiplier=1.1, sampling_rate=256 / 60000, steps=14062)
    result = pa.account([run], delta=1e-5)          # PLD and RDP side by side
    result.epsilon                                   # certified verdict (PLD): ≈ 2.382

    pa.append_entry("ledger.jsonl", dataset="mnist", mechanism=run)
    verdict = pa.assess(pa.read_ledger("ledger.jsonl"), pa.load_policy("policy.yaml"))

    budget = pa.plan(epsilon=1, delta=1e-5, dataset_size=60000, batch_size=256, epochs=60)
    budget.recommended.noise_multiplier               # smallest σ that stays ≤ ε = 1: ≈ 2.03
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from privaudit.accounting.accountant import (
        Accounting,
        Method,
        MethodResult,
        PldAccountant,
        PrivacyAccountant,
        RdpAccountant,
        account,
    )
    from privaudit.accounting.dp_events import NeighbouringRelation, to_dp_event
    from privaudit.accounting.planner import Plan, plan
    from privaudit.assess import Assessment, DatasetAssessment, Finding, Status, assess
    from privaudit.errors import (
        BudgetExceededError,
        InputError,
        LedgerIntegrityError,
        PrivauditError,
        UnsupportedMechanismError,
    )
    from privaudit.ledger import Ledger, LedgerEntry, append_entry, read_ledger
    from privaudit.mechanisms import (
        Composed,
        DistributedGaussian,
        DpFedAvg,
        DpSgd,
        Gaussian,
        Laplace,
        Mechanism,
        NonPrivate,
        PoissonSampled,
        RandomizedResponse,
        SampledWithoutReplacement,
        Sampling,
        SelfComposed,
        Tuning,
        mechanism_to_json,
        parse_mechanism,
    )
    from privaudit.policy import DatasetSpec, Policy, Tier, load_policy, parse_policy

_EXPORTS = {
    "Accounting": "privaudit.accounting.accountant",
    "Method": "privaudit.accounting.accountant",
    "MethodResult": "privaudit.accounting.accountant",
    "PldAccountant": "privaudit.accounting.accountant",
    "PrivacyAccountant": "privaudit.accounting.accountant",
    "RdpAccountant": "privaudit.accounting.accountant",
    "account": "privaudit.accounting.accountant",
    "NeighbouringRelation": "privaudit.accounting.dp_events",
    "to_dp_event": "privaudit.accounting.dp_events",
    "Plan": "privaudit.accounting.planner",
    "plan": "privaudit.accounting.planner",
    "Assessment": "privaudit.assess",
    "DatasetAssessment": "privaudit.assess",
    "Finding": "privaudit.assess",
    "Status": "privaudit.assess",
    "assess": "privaudit.assess",
    "BudgetExceededError": "privaudit.errors",
    "InputError": "privaudit.errors",
    "LedgerIntegrityError": "privaudit.errors",
    "PrivauditError": "privaudit.errors",
    "UnsupportedMechanismError": "privaudit.errors",
    "Ledger": "privaudit.ledger",
    "LedgerEntry": "privaudit.ledger",
    "append_entry": "privaudit.ledger",
    "read_ledger": "privaudit.ledger",
    "Composed": "privaudit.mechanisms",
    "DistributedGaussian": "privaudit.mechanisms",
    "DpFedAvg": "privaudit.mechanisms",
    "DpSgd": "privaudit.mechanisms",
    "Gaussian": "privaudit.mechanisms",
    "Laplace": "privaudit.mechanisms",
    "Mechanism": "privaudit.mechanisms",
    "NonPrivate": "privaudit.mechanisms",
    "PoissonSampled": "privaudit.mechanisms",
    "RandomizedResponse": "privaudit.mechanisms",
    "SampledWithoutReplacement": "privaudit.mechanisms",
    "Sampling": "privaudit.mechanisms",
    "SelfComposed": "privaudit.mechanisms",
    "Tuning": "privaudit.mechanisms",
    "mechanism_to_json": "privaudit.mechanisms",
    "parse_mechanism": "privaudit.mechanisms",
    "DatasetSpec": "privaudit.policy",
    "Policy": "privaudit.policy",
    "Tier": "privaudit.policy",
    "load_policy": "privaudit.policy",
    "parse_policy": "privaudit.policy",
}
"""Public name → the module defining it. Loaded on first use (PEP 562), so that importing one
part of privaudit (a CLI command, a Flower ClientApp) does not load the accountants."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'privaudit' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "Accounting",
    "Assessment",
    "BudgetExceededError",
    "Composed",
    "DatasetAssessment",
    "DatasetSpec",
    "DistributedGaussian",
    "DpFedAvg",
    "DpSgd",
    "Finding",
    "Gaussian",
    "InputError",
    "Laplace",
    "Ledger",
    "LedgerEntry",
    "LedgerIntegrityError",
    "Mechanism",
    "Method",
    "MethodResult",
    "NeighbouringRelation",
    "NonPrivate",
    "Plan",
    "PldAccountant",
    "PoissonSampled",
    "Policy",
    "PrivacyAccountant",
    "PrivauditError",
    "RandomizedResponse",
    "RdpAccountant",
    "SampledWithoutReplacement",
    "Sampling",
    "SelfComposed",
    "Status",
    "Tier",
    "Tuning",
    "UnsupportedMechanismError",
    "__version__",
    "account",
    "append_entry",
    "assess",
    "load_policy",
    "mechanism_to_json",
    "parse_mechanism",
    "parse_policy",
    "plan",
    "read_ledger",
    "to_dp_event",
]
