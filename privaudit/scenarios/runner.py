"""``run_scenario``: one scenario end to end, into a results folder that appears only when whole.

plan → federated training (the deployment charged to a fresh ledger, the comparisons recorded
beside it) → check the ledger against the scenario's shipped policy → scenario.json → report.
Everything is built in a scratch folder inside ``out`` and moved into place only when every step
has succeeded, so a failed run leaves an earlier run's files as they were.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from privaudit.errors import InputError
from privaudit.scenarios.context import Context, Progress, Scenario
from privaudit.scenarios.registry import SCENARIOS
from privaudit.scenarios.results import ScenarioResult

if TYPE_CHECKING:
    from privaudit.federated.engine import Engine
    from privaudit.policy import Policy

FILES = ("policy.yaml", "ledger.jsonl", "check.json", "scenario.json", "runs/")
"""What every results folder holds besides the report."""


def run_scenario(
    name: str,
    *,
    data_dir: Path,
    out: Path,
    epsilon: float | None = None,
    seed: int = 0,
    formats: Sequence[str] = ("html", "pdf"),
    progress: Progress | None = None,
    quick: bool = False,
    engine: Engine | None = None,
    policy: Path | None = None,
) -> ScenarioResult:
    """Run scenario ``name`` into ``out`` (created; its parent must exist). ``quick`` trains
    briefly, for tests of the plumbing; its numbers mean nothing. ``engine`` runs the deployment
    elsewhere than in this process (Flower). ``policy`` replaces the scenario's shipped policy;
    it must cover the scenario's dataset."""
    from privaudit.files import commit_folder
    from privaudit.policy import load_policy
    from privaudit.report.render import write_folder_report

    scenario = _checked_arguments(name, epsilon, data_dir, out)
    if engine is not None and not scenario.on_engines:
        cross_silo = ", ".join(n for n, s in SCENARIOS.items() if s.on_engines)
        raise InputError(
            "--engine",
            None,
            f"expected a cross-silo scenario ({cross_silo}); found {name}, whose devices are"
            " simulated in this process only",
        )
    if policy is not None:
        load_policy(policy)  # a bad policy file is refused naming it, before anything runs
    target = scenario.default_epsilon if epsilon is None else float(epsilon)
    out.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".scenario-", dir=out))
    try:
        policy_path = scratch / "policy.yaml"
        chosen = scenario.policy_file() if policy is None else policy
        policy_path.write_bytes(chosen.read_bytes())
        loaded = load_policy(policy_path)
        tier = loaded.tier_of(scenario.dataset)
        if tier is None:
            raise InputError(
                str(policy), "datasets", f"expected the scenario's dataset {scenario.dataset!r}"
            )
        context = Context(
            scenario=scenario,
            data_dir=data_dir,
            scratch=scratch,
            ledger=scratch / "ledger.jsonl",
            epsilon=target,
            delta=tier.delta,
            seed=seed,
            quick=quick,
            say=progress or (lambda _line: None),
            engine=engine,
            policy=policy_path,
        )
        result = _trained_and_checked(context, loaded, policy_path, out)
        (scratch / "scenario.json").write_text(
            json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n"
        )
        written = write_folder_report(
            scratch,
            out,
            formats,
            title=f"Differential privacy report: {scenario.title}",
            progress=context.say,
        )
        commit_folder(scratch, out)
        names = [*FILES, *(p.name for p in written)]
        return replace(result, files=tuple(str(out / n) for n in names))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _checked_arguments(name: str, epsilon: float | None, data_dir: Path, out: Path) -> Scenario:
    """The scenario called ``name``, once the arguments are known to be usable."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise InputError("NAME", None, f"expected one of {', '.join(SCENARIOS)}; found {name!r}")
    if epsilon is not None and not (0 < epsilon < math.inf):
        raise InputError("--epsilon", None, f"expected a finite number > 0; found {epsilon!r}")
    if not (data_dir / scenario.data).is_dir():
        raise InputError(
            str(data_dir), None, f"expected a folder {scenario.data}/ inside (as ../shared/data)"
        )
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    if not out.exists() and not out.parent.is_dir():
        raise InputError(str(out), None, f"folder {out.parent} does not exist")
    return scenario


def _trained_and_checked(
    context: Context, policy: Policy, policy_path: Path, out: Path
) -> ScenarioResult:
    """Train the scenario's variants, then check its ledger against the policy (check.json)."""
    from threadpoolctl import threadpool_limits

    from privaudit.assess import assess
    from privaudit.gate import to_json_data
    from privaudit.ledger import read_ledger

    scenario = context.scenario
    (context.scratch / "runs").mkdir()
    # Small matrix products on a shared machine run far faster on one BLAS thread.
    with threadpool_limits(limits=1, user_api="blas"):
        deployment, comparisons, summary = scenario.train(context)
    context.say("check: the ledger against the policy")
    assessment = assess(read_ledger(context.ledger), policy, policy_path=policy_path)
    (context.scratch / "check.json").write_text(
        json.dumps(to_json_data(assessment), indent=2, allow_nan=False) + "\n"
    )
    dataset = next(d for d in assessment.datasets if d.dataset == scenario.dataset)
    return ScenarioResult(
        scenario=scenario.name,
        title=scenario.title,
        dataset=scenario.dataset,
        epsilon_target=context.epsilon,
        delta=context.delta,
        deployment=deployment,
        comparisons=tuple(comparisons),
        status=dataset.status.value,
        epsilon=dataset.epsilon,
        epsilon_limit=dataset.limit_epsilon,
        out=out,
        files=(),
        data_summary=summary,
    )
