"""``privaudit demo``: the whole workflow on the bundled digits data, in about a minute.

plan → train (three DP-SGD runs charged to a fresh ledger, plus a non-private baseline that is
never released) → check against the demo policy → report (HTML and PDF/A-3).

Everything is built in a scratch folder inside ``out`` and moved into place only when every step
has succeeded (compute on a copy, commit on success): a failed demo leaves an earlier demo's
files as they were. The demo's ledger is its own, new every time; it never touches another.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from privaudit.errors import InputError
from privaudit.files import commit_folder

__all__ = ["DEMO_EPSILONS", "DemoResult", "run_demo"]

DEMO_EPSILONS: Final = (0.5, 1.0, 2.0)
"""Target ε of the three private runs; all three are charged to the one dataset."""
DEMO_DELTA: Final = 1e-5
DATASET: Final = "digits"


@dataclass(frozen=True)
class DemoResult:
    out: Path
    status: str
    epsilon: float
    limit: float
    runs: tuple[dict[str, Any], ...]
    files: tuple[str, ...]
    noise_multiplier_planned: float | None


def run_demo(
    out: Path,
    *,
    seed: int | None = 0,
    formats: Sequence[str] = ("html", "pdf"),
    generated_at: str | None = None,
    progress: Callable[[str], None] | None = None,
    on_epoch: Callable[[Any], None] | None = None,
) -> DemoResult:
    """Run the demo into ``out`` (created if missing; its parent must exist)."""
    from privaudit.accounting.planner import plan
    from privaudit.assess import assess
    from privaudit.ledger import read_ledger
    from privaudit.policy import load_policy
    from privaudit.records.run import write_record
    from privaudit.report.render import write_folder_report
    from privaudit.train.runs import RunSettings, default_recipe, run_dpsgd

    say = progress or (lambda _line: None)
    if not out.exists() and not out.parent.is_dir():
        raise InputError(str(out), None, f"folder {out.parent} does not exist")
    if out.exists() and not out.is_dir():
        raise InputError(str(out), None, "exists and is not a folder")
    out.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".demo-", dir=out))
    try:
        policy_path = scratch / "policy.yaml"
        policy_path.write_bytes(
            files("privaudit").joinpath("policies/demo-policy.yaml").read_bytes()
        )
        policy = load_policy(policy_path)
        ledger_path = scratch / "ledger.jsonl"
        (scratch / "runs").mkdir()

        recipe = default_recipe("digits", max(DEMO_EPSILONS))
        size = policy.datasets[DATASET].size
        say(f"plan: noise for ε = {max(DEMO_EPSILONS):g} at δ = {DEMO_DELTA:g}, n = {size}")
        planned = plan(
            epsilon=max(DEMO_EPSILONS),
            delta=DEMO_DELTA,
            dataset_size=size,
            batch_size=recipe.batch_size,
            epochs=recipe.epochs,
        )
        (scratch / "plan.json").write_text(planned.model_dump_json(indent=2) + "\n")
        sigma = planned.recommended.noise_multiplier if planned.recommended else None

        summaries = []
        for target in [*DEMO_EPSILONS, None]:
            name = "baseline-non-private" if target is None else f"dpsgd-eps{target:g}"
            say(f"train: {name}")
            settings = RunSettings(
                data="digits",
                target_epsilon=target,
                delta=DEMO_DELTA,
                seed=seed,
                ledger=None if target is None else ledger_path,
                dataset_id=DATASET,
                run_name=name,
                policy=None if target is None else policy,
            )
            record = run_dpsgd(settings, on_epoch=on_epoch)
            write_record(record, scratch / "runs" / f"{name}.json")
            summaries.append(
                {
                    "run": name,
                    "target_epsilon": target,
                    "epsilon": record.privacy.epsilon if record.privacy else None,
                    "test_accuracy": record.test_accuracy,
                    "in_ledger": target is not None,
                }
            )

        say("check: the ledger against the policy")
        assessment = assess(read_ledger(ledger_path), policy, policy_path=policy_path)
        (scratch / "check.json").write_text(
            json.dumps(_check_json(assessment), indent=2, allow_nan=False) + "\n"
        )
        written = write_folder_report(
            scratch,
            out,
            formats,
            title="Differential privacy report: privaudit demo (digits)",
            generated_at=generated_at,
            progress=say,
        )
        commit_folder(scratch, out)
        dataset = assessment.datasets[0]
        names = ["policy.yaml", "ledger.jsonl", "plan.json", "check.json", "runs/"]
        return DemoResult(
            out=out,
            status=assessment.status.value,
            epsilon=dataset.epsilon,
            limit=dataset.limit_epsilon or float("nan"),
            runs=tuple(summaries),
            files=tuple(str(out / n) for n in [*names, *(p.name for p in written)]),
            noise_multiplier_planned=sigma,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _check_json(assessment: Any) -> dict[str, object]:
    from privaudit.gate import to_json_data

    return to_json_data(assessment)
