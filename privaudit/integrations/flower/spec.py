"""The run spec: everything the privaudit ServerApp of a Flower run needs, as one JSON file.

The launcher writes it (and the arrays beside it as ``.npz``, read with ``allow_pickle=False``);
the ServerApp, a process Flower starts, reads it back. Plain data only: a spec is never
imported or unpickled, and a malformed one is refused naming the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from privaudit.errors import InputError
from privaudit.federated.config import DistributedDpSgdConfig
from privaudit.jsontext import load_json
from privaudit.train.models import ModelSpec

SPEC_VERSION = 1


@dataclass(frozen=True)
class SiloSpec:
    """One silo of the federation: the ledger partition it is, and its (public) size."""

    index: int
    name: str
    examples: int


@dataclass(frozen=True)
class LedgerSpec:
    """Where each committed round is written, and the policy that may stop the run."""

    path: str
    dataset: str
    run: str
    privacy_unit: str
    policy: str | None = None
    epsilon_limit: float | None = None
    """A tighter ε than the tier's (never looser: the guard refuses a looser one)."""


@dataclass(frozen=True)
class SecAggSpec:
    """Bonawitz et al. 2017 over Flower messages: a round's sum needs ``threshold`` silos."""

    threshold: int
    value_bound: float
    bits: int = 64


@dataclass(frozen=True)
class RunSpec:
    """A distributed DP-SGD federation: config, silos, secure sum, ledger and files."""

    config: DistributedDpSgdConfig
    silos: tuple[SiloSpec, ...]
    secagg: SecAggSpec
    ledger: LedgerSpec | None
    folder: str
    """Holds ``initial.npz`` (params), ``test.npz`` (x, y) and receives ``result.npz``,
    ``rounds.json`` and ``progress.jsonl``."""
    n_features: int
    n_classes: int
    evaluate_every: int = 1
    stage_timeout: float = 120.0
    """Seconds the server waits for the answers of one protocol stage; a silo that has not
    answered by then has dropped out of the round."""
    join_timeout: float = 120.0
    """Seconds the server waits, before round 1, for every silo's SuperNode to connect."""
    seed_streams: bool = False
    """True when ``config.seed`` is set: every party's generator is derived from it as the
    in-process runner does (reproducible, and insecure: whoever knows the seed knows the
    noise)."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.folder)


def write_spec(spec: RunSpec, params: np.ndarray[Any, Any], x_test: Any, y_test: Any) -> Path:
    """Write ``spec.json`` and the arrays into ``spec.folder``; returns the spec's path."""
    folder = spec.path
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "initial.npz", params=np.asarray(params))
    if x_test is not None:
        np.savez(folder / "test.npz", x=np.asarray(x_test), y=np.asarray(y_test))
    data = asdict(spec)
    data["version"] = SPEC_VERSION
    path = folder / "spec.json"
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return path


def read_spec(path: Path) -> RunSpec:
    """The spec ``path`` holds, checked: an unknown or missing field is refused by name."""
    source = str(path)
    try:
        data = load_json(path.read_text(), source)
    except OSError as error:
        raise InputError(source, None, f"cannot read the run spec ({error.strerror})") from error
    if not isinstance(data, dict) or data.pop("version", None) != SPEC_VERSION:
        raise InputError(source, "version", f"expected a run spec of version {SPEC_VERSION}")
    try:
        config = dict(data.pop("config"))
        model = _model(config.pop("model"))
        ledger = data.pop("ledger")
        return RunSpec(
            config=DistributedDpSgdConfig(**config, model=model),
            silos=tuple(SiloSpec(**s) for s in data.pop("silos")),
            secagg=SecAggSpec(**data.pop("secagg")),
            ledger=None if ledger is None else LedgerSpec(**ledger),
            **data,
        )
    except (KeyError, TypeError) as error:
        raise InputError(source, None, f"not a run spec: {error}") from error


def _model(data: dict[str, Any]) -> ModelSpec:
    return ModelSpec(
        **{
            **data,
            "hidden": tuple(data.get("hidden", ())),
            "output_bias": None if data.get("output_bias") is None else tuple(data["output_bias"]),
        }
    )


def load_arrays(path: Path, *names: str) -> list[np.ndarray[Any, Any]]:
    """The named arrays of an ``.npz`` file, read without pickle."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            return [np.array(archive[name]) for name in names]
    except (OSError, KeyError, ValueError) as error:
        raise InputError(str(path), None, f"expected arrays {', '.join(names)}: {error}") from error
