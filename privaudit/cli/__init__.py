"""The ``privaudit`` command line: parse, call the library, print, choose the exit code.

One module per command (group) under this package; this one mounts them on the root app in the
order ``privaudit --help`` lists them, and re-exports the entry points. Exit codes: 0 within
budget (warnings allowed); 1 budget exceeded or ledger broken; 2 bad input or usage, always as one
line naming the file, field and problem, never a traceback.
"""

from __future__ import annotations

from privaudit.cli import audit, data, demo, gate, ledger, plan, policy, report, scenario, train
from privaudit.cli.app import app, main, run

__all__ = ["app", "main", "run"]

# Help lists commands, then groups, each in the order added: the workflow's order.
app.command("account")(gate.account_command)
app.command("check")(gate.check_command)
app.command("tradeoff")(train.tradeoff_command)
app.command("plan")(plan.plan_command)
app.command("report")(report.report_command)
app.command("report-verify", hidden=True)(report.verify_command)  # `privaudit report verify`
app.command("demo")(demo.demo_command)
app.command("scenario")(scenario.scenario_command)
app.add_typer(policy.policy_app, name="policy")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(data.data_app, name="data")
app.add_typer(train.train_app, name="train")
app.add_typer(audit.audit_app, name="audit")
