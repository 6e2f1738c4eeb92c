"""The dependency rule of ARCHITECTURE.md, checked so that it cannot silently erode.

Each unit (a top-level module or a folder of the package) names the units it may import. Two
checks hold every module to that:

- statically, every ``import`` statement in the source, including the lazy ones inside
  functions, names only the unit itself or a unit it may import;
- at run time, importing all of a unit's modules in a fresh interpreter loads no privaudit
  module outside what it may reach (its allowed units, transitively), and no optional framework.

The table below is the rule; ARCHITECTURE.md states it in words.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "privaudit"

FOUNDATION = frozenset({"errors", "jsontext", "files", "checks", "rounding", "formats"})
DOMAIN = FOUNDATION | {"mechanisms", "policy", "ledger"}

# unit -> the other units it may import (a unit may always import itself).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "jsontext": frozenset({"errors"}),
    "files": frozenset({"errors"}),
    "checks": frozenset({"errors"}),
    "rounding": frozenset(),
    "formats": frozenset(),
    "mechanisms": frozenset({"errors", "jsontext"}),
    "policy": frozenset({"errors", "jsontext", "files"}),
    "ledger": frozenset({"errors", "jsontext", "files", "mechanisms"}),
    "seals": frozenset({"errors", "jsontext", "files", "ledger"}),
    "stores": frozenset({"errors", "jsontext", "files", "mechanisms", "ledger"}),
    "accounting": FOUNDATION | {"mechanisms"},
    "assess": DOMAIN | {"accounting"},
    "change": DOMAIN | {"accounting", "assess"},
    "charge": DOMAIN | {"accounting", "assess"},
    "gate": DOMAIN | {"accounting", "assess", "change"},
    "records": FOUNDATION | {"mechanisms"},
    "budget": DOMAIN | {"accounting"},
    "imports": DOMAIN | {"accounting"},
    # seals: the report's detached HTML signature uses the ledger seals' Ed25519 keys.
    "report": DOMAIN | {"seals", "accounting", "assess", "gate", "records"},
    "data": FOUNDATION,
    "train": DOMAIN | {"accounting", "data", "records"},
    "federated": DOMAIN | {"accounting", "data", "train"},
    "audit": DOMAIN | {"accounting", "data", "records", "train", "federated"},
    "scenarios": DOMAIN
    | {"accounting", "assess", "gate", "records", "report", "data", "train", "federated", "audit"},
    "integrations": DOMAIN
    | {
        "audit",
        "accounting",
        "assess",
        "budget",
        "imports",
        "records",
        "data",
        "train",
        "federated",
        "stores",
        "charge",
    },
    "cli": DOMAIN
    | {
        "seals",
        "stores",
        "accounting",
        "assess",
        "budget",
        "imports",
        "change",
        "charge",
        "gate",
        "records",
        "report",
        "data",
        "train",
        "federated",
        "audit",
        "scenarios",
        "integrations",
    },
    # The public API: what ``import privaudit`` loads, re-exported.
    "__init__": DOMAIN | {"accounting", "assess"},
    "__main__": frozenset({"cli"}),
}

# Frameworks that only their adapter in privaudit/integrations/ may import.
OPTIONAL_FRAMEWORKS = frozenset(
    {
        "torch",
        "opacus",
        "flwr",
        "tensorflow",
        "tensorflow_privacy",
        "jax",
        "jax_privacy",
        "psycopg",
        "psycopg2",
        "pyhanko",
        "pyhanko_certvalidator",
    }
)
# Heavy libraries the core API never needs at import time.
INTEGRATION_FRAMEWORKS: dict[str, frozenset[str]] = {
    "opacus": frozenset({"opacus", "torch"}),
    "opacus_audit": frozenset({"opacus", "torch"}),
    "flower": frozenset({"flwr"}),
    "postgres": frozenset({"psycopg", "psycopg_binary"}),
    "pdfsign": frozenset({"pyhanko", "pyhanko_certvalidator"}),
}
"""What each ``privaudit.integrations.<adapter>`` (module or package) may load: its framework
and that one's own dependencies."""
FRAMEWORK_MODULE = {
    "opacus": "opacus",
    "opacus_audit": "opacus",
    "flower": "flwr",
    "postgres": "psycopg",
    "pdfsign": "pyhanko",
}
"""The module each adapter's framework installs, to tell whether it is installed."""


def adapter_of(module: str) -> str | None:
    """``privaudit.integrations.flower.server_app`` -> ``flower``; None outside the adapters."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "integrations" or parts[2] not in INTEGRATION_FRAMEWORKS:
        return None
    return parts[2]


HEAVY_AT_IMPORT = frozenset({"matplotlib", "weasyprint", "sklearn", "cryptography"})


def unit_of(module: str) -> str:
    """``privaudit.accounting.pld`` -> ``accounting``; ``privaudit`` -> ``__init__``."""
    parts = module.split(".")
    if parts[0] != "privaudit":
        raise ValueError(f"not a privaudit module: {module}")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """Every module an import statement in ``source`` names, resolved to an absolute name."""
    found: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from privaudit import gate`` imports the module privaudit.gate.
            if target == "privaudit":
                found.extend((node.lineno, f"privaudit.{alias.name}") for alias in node.names)
    return found


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """The import statements of ``module`` that break the rule, one line each."""
    unit = unit_of(module)
    allowed = ALLOWED[unit] | {unit}
    problems = []
    for line, target in imported_modules(source, module, is_package):
        top = target.split(".")[0]
        if top == "privaudit" and target != "privaudit":
            other = unit_of(target)
            if other not in allowed and not (unit == "__init__" and other == "__init__"):
                problems.append(f"{module}:{line} imports {target} ({unit} may not use {other})")
        elif top in OPTIONAL_FRAMEWORKS and unit != "integrations":
            problems.append(f"{module}:{line} imports the optional framework {target}")
    return problems


def reachable(unit: str) -> frozenset[str]:
    """The units ``unit`` may load, directly or through the units it may import."""
    seen: set[str] = set()
    todo = [unit]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo.extend(ALLOWED[current])
    return frozenset(seen)


def source_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def units_on_disk() -> set[str]:
    return {unit_of(module_name(path)) for path in source_files()}


# --- the rule covers the package --------------------------------------------------------------


def test_every_unit_of_the_package_has_a_rule() -> None:
    assert units_on_disk() <= set(ALLOWED), sorted(units_on_disk() - set(ALLOWED))


def test_the_rule_has_no_cycles() -> None:
    # A unit that could reach itself through others would make "dependencies point one way"
    # meaningless; only the root package re-exports what sits below it.
    for unit, allowed in ALLOWED.items():
        for other in allowed:
            assert unit not in reachable(other), f"{unit} -> {other} -> ... -> {unit}"


# --- the checker itself fails where it should -------------------------------------------------


def test_a_forbidden_import_inside_a_function_is_found() -> None:
    source = "def f():\n    from privaudit.policy import Policy\n    return Policy\n"
    assert violations(source, "privaudit.accounting.pld") == [
        "privaudit.accounting.pld:2 imports privaudit.policy (accounting may not use policy)"
    ]


def test_a_relative_import_of_another_unit_is_found() -> None:
    source = "from ..train import dpsgd\n"
    assert violations(source, "privaudit.report.model") == [
        "privaudit.report.model:1 imports privaudit.train (report may not use train)"
    ]


def test_importing_a_unit_through_the_root_package_is_found() -> None:
    assert violations("from privaudit import cli\n", "privaudit.federated.runs") == [
        "privaudit.federated.runs:1 imports privaudit.cli (federated may not use cli)"
    ]


def test_an_optional_framework_outside_integrations_is_found() -> None:
    assert violations("import torch.nn\n", "privaudit.train.dpsgd") == [
        "privaudit.train.dpsgd:1 imports the optional framework torch.nn"
    ]
    assert violations("import torch\n", "privaudit.integrations.opacus") == []


def test_allowed_imports_pass() -> None:
    source = "import numpy\nfrom privaudit.mechanisms import DpSgd\nfrom . import rdp\n"
    assert violations(source, "privaudit.accounting.pld") == []


# --- the package obeys the rule ---------------------------------------------------------------


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_dependency_rule(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    assert violations(source, module_name(path), path.name == "__init__.py") == []


_LOADED = """
import importlib, json, sys
before = set(sys.modules)
import privaudit
baseline = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({"root": sorted(baseline - before), "added": sorted(set(sys.modules) - baseline)}))
"""


@cache
def loaded_by(modules: tuple[str, ...]) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def modules_of(unit: str) -> tuple[str, ...]:
    names = [module_name(path) for path in source_files()]
    return tuple(
        name
        for name in names
        if unit_of(name) == unit and name != "privaudit" and not name.endswith("__main__")
    )


@pytest.mark.parametrize("unit", sorted(set(ALLOWED) - {"__init__", "__main__"}))
def test_importing_a_unit_loads_only_what_it_may_reach(unit: str) -> None:
    # An adapter whose framework is not installed cannot be imported; its own test skips.
    importable = tuple(
        name
        for name in modules_of(unit)
        if (adapter := adapter_of(name)) is None
        or importlib.util.find_spec(FRAMEWORK_MODULE[adapter]) is not None
    )
    loaded = loaded_by(importable)["added"]
    may = reachable(unit)
    outside = [
        name
        for name in loaded
        if name.startswith("privaudit.") and unit_of(name) not in may | {"__init__"}
    ]
    frameworks = [name for name in loaded if name.split(".")[0] in OPTIONAL_FRAMEWORKS]
    assert outside == []
    if unit == "integrations":
        # An adapter loads the framework it adapts (and what that needs), nothing else.
        frameworks = [
            name
            for name in frameworks
            if name.split(".")[0] not in set().union(*INTEGRATION_FRAMEWORKS.values())
        ]
    assert frameworks == []


@pytest.mark.parametrize("adapter", sorted(INTEGRATION_FRAMEWORKS))
def test_an_integration_loads_only_its_own_framework(adapter: str) -> None:
    pytest.importorskip(
        FRAMEWORK_MODULE[adapter], reason=f"{adapter} is not installed (the [{adapter}] extra)"
    )
    modules = tuple(m for m in modules_of("integrations") if adapter_of(m) == adapter)
    loaded = loaded_by(modules)["added"]
    tops = {name.split(".")[0] for name in loaded}

    assert tops & OPTIONAL_FRAMEWORKS <= INTEGRATION_FRAMEWORKS[adapter]


def test_the_integrations_package_loads_no_framework() -> None:
    loaded = loaded_by(("privaudit.integrations",))["added"]

    assert [name for name in loaded if name.split(".")[0] in OPTIONAL_FRAMEWORKS] == []


def test_the_public_api_loads_only_the_core() -> None:
    loaded = loaded_by(())["root"]
    units = {unit_of(name) for name in loaded if name.startswith("privaudit")}
    assert units <= reachable("__init__")
    assert [name for name in loaded if name.split(".")[0] in OPTIONAL_FRAMEWORKS] == []
    assert [name for name in loaded if name.split(".")[0] in HEAVY_AT_IMPORT] == []


# What a command pays before it runs: `privaudit --help`, `policy schema` and the argument
# parsing of every command load none of the numerics; the commands load what they use.
START_UP_FREE = frozenset({"numpy", "scipy", "dp_accounting", "sklearn", "cryptography"})


def test_the_command_line_loads_no_numerics_before_a_command_runs() -> None:
    loaded = loaded_by(("privaudit.cli",))["added"]

    assert [name for name in loaded if name.split(".")[0] in START_UP_FREE | HEAVY_AT_IMPORT] == []
    assert "privaudit.assess" not in loaded


def test_the_command_line_starts_without_heavy_libraries() -> None:
    # Every command (the gate, `ledger verify`) pays for the CLI's imports; signing and
    # verifying seals load cryptography only when a command uses them.
    loaded = loaded_by(("privaudit.cli", "privaudit.seals"))["added"]
    assert [name for name in loaded if name.split(".")[0] in HEAVY_AT_IMPORT] == []
