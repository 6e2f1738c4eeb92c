"""Policy files: sensitivity tiers, datasets and their privacy limits.

A policy says how much privacy loss each dataset may accumulate. It names *tiers* (a lifetime
ε cap, a δ cap, an optional per-run ε cap, the fraction of the cap at which to warn, the privacy
unit the guarantee protects, the accountant that gives the verdict and any declared tolerance)
and *datasets* (an id, the tier that governs it, its size ``n`` in privacy units). The minimal
form::

    tiers:
      medical: {epsilon: 1.0, delta: 1.0e-6, privacy_unit: example, warn_at: 0.8}
    datasets:
      notes: {tier: medical, size: 4999}

Policies arrive in pull requests, so they are untrusted input. The loaders build plain data
only (no object construction from tags), reject duplicate keys, NaN and infinity, and every
model is strict: a quoted ``"1.0"`` is not a number and ``true`` is not a size. Whatever the
bytes, loading either returns a :class:`Policy` or raises :class:`~privaudit.errors.InputError`
naming the file, the dotted field (``tiers.medical.epsilon``) or line, and what was expected
and found, in one line.

YAML is read with the YAML 1.1 rules PyYAML implements, with one change: a number in
scientific notation without a dot (``1e-6``) is a float, as users expect, not a string.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from privaudit.errors import InputError, describe_value, from_validation_error, location
from privaudit.files import read_input
from privaudit.jsontext import load_json

__all__ = [
    "CERTIFIED_ACCOUNTANTS",
    "POLICY_SUFFIXES",
    "AccountantName",
    "DatasetSpec",
    "Policy",
    "Tier",
    "default_tiers",
    "load_policy",
    "parse_policy",
    "policy_json_schema",
    "starter_policy_text",
]

#: File extensions :func:`load_policy` understands, and the parser each one selects.
POLICY_SUFFIXES: Final = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".json": "json"}

#: Tier names and dataset ids: a letter or digit, then letters, digits, ``.``, ``_`` or ``-``.
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# Limits on the shape of the data, far above any real policy: they keep YAML alias bombs
# ("billion laughs") and pathological nesting from costing memory or the recursion limit.
_MAX_VALUES: Final = 100_000
_MAX_DEPTH: Final = 32


class AccountantName(StrEnum):
    """The accountant a tier asks for.

    ``pld`` (privacy loss distributions, pessimistic connect-the-dots discretisation) and ``rdp``
    (Rényi DP) give certified upper bounds on ε. ``gdp`` is a central-limit (Gaussian DP)
    estimate that can understate ε; a policy may name it so the assessment can raise a finding,
    but it never decides a verdict.
    """

    PLD = "pld"
    RDP = "rdp"
    GDP = "gdp"


#: Accountants whose ε is a certified upper bound, and so may decide a verdict.
CERTIFIED_ACCOUNTANTS: Final[frozenset[AccountantName]] = frozenset(
    {AccountantName.PLD, AccountantName.RDP}
)


def _sequence_to_tuple(value: object) -> object:
    # Strict Pydantic accepts only a real tuple; YAML, TOML and JSON give lists.
    return tuple(value) if isinstance(value, list) else value


def _iso_date(value: object) -> object:
    # A date as YAML and TOML read it, or ISO text (JSON has no dates); a date-time, a number
    # or any other text is refused rather than read as a Unix time or cut to its day.
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"expected a date as YYYY-MM-DD; found {value!r}") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date | None):
        raise ValueError(f"expected a date as YYYY-MM-DD; found {describe_value(value)}")
    return value


Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
NonBlank = Annotated[str, StringConstraints(pattern=r"\S")]


class Tier(BaseModel):
    """A sensitivity tier: the privacy limits every dataset of the tier must stay within."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    description: str | None = Field(default=None, description="What data belongs in this tier.")
    epsilon: float = Field(gt=0, description="Lifetime cap on ε per dataset (finite, > 0).")
    delta: float = Field(gt=0, lt=1, description="Cap on δ (0 < δ < 1); ε is reported at it.")
    per_run_epsilon: float | None = Field(
        default=None, gt=0, description="Optional cap on the ε of one run (> 0, ≤ epsilon)."
    )
    warn_at: float = Field(
        default=0.8, gt=0, le=1, description="Fraction of the ε cap at which to warn (0 < w ≤ 1)."
    )
    privacy_unit: NonBlank = Field(
        default="example",
        description="What one neighbouring change adds or removes: example, user, client, ...",
    )
    accountant: Annotated[AccountantName, Field(strict=False)] = Field(
        default=AccountantName.PLD,
        description="Accountant for the verdict: pld or rdp (certified); gdp is only an estimate.",
    )
    tolerance: float = Field(
        default=0.0,
        ge=0,
        le=0.5,
        description=(
            "Declared relative slack on the ε cap, at most 0.5 (a cap that may be exceeded by"
            " more than half is a different cap: raise epsilon instead); printed with every"
            " verdict."
        ),
    )

    @field_validator("per_run_epsilon")
    @classmethod
    def _per_run_within_lifetime(cls, value: float | None, info: ValidationInfo) -> float | None:
        epsilon = info.data.get("epsilon")
        if value is not None and isinstance(epsilon, float | int) and value > epsilon:
            raise ValueError(f"expected a value ≤ epsilon ({epsilon}); found {value}")
        return value


class DatasetSpec(BaseModel):
    """A dataset under the policy: its tier and its size in privacy units."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    tier: str = Field(description="Name of the tier that governs this dataset.")
    size: int = Field(ge=1, description="Number of privacy units n in the dataset (≥ 1).")
    privacy_unit: NonBlank | None = Field(
        default=None,
        description="Privacy unit of the dataset; defaults to the tier's. A different one is "
        "legal and reported by the assessment.",
    )
    description: str | None = Field(default=None, description="What the dataset holds.")


@dataclass(frozen=True)
class DeltaFinding:
    """A dataset whose tier's δ is too large for its size n: ``fail`` when δ ≥ 1/n (such a δ
    allows releasing a whole record; ``check`` fails the dataset too), ``warn`` when δ is below
    1/n but above 1/n^1.1 (the usual margin: δ well below 1/n)."""

    severity: Literal["fail", "warn"]
    dataset: str
    tier: str
    delta: float
    size: int

    @property
    def message(self) -> str:
        where = f"dataset {self.dataset!r} (tier {self.tier!r}, n = {self.size})"
        if self.severity == "fail":
            return (
                f"{where}: δ = {_as_given(self.delta)} is not below 1/n = {1 / self.size:.3g};"
                " such a δ allows releasing a whole record: choose δ well below 1/n"
                f" (≤ 1/n^1.1 = {self.size**-1.1:.3g})"
            )
        return (
            f"{where}: δ = {_as_given(self.delta)} is below 1/n = {1 / self.size:.3g} but above"
            f" 1/n^1.1 = {self.size**-1.1:.3g}; a δ well below 1/n is safer"
        )


def _as_given(value: float) -> str:
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))


class Policy(BaseModel):
    """A privacy policy: named tiers of limits and the datasets they govern."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    version: int = Field(default=1, description="Policy format version; only 1 exists.")
    organisation: NonBlank | None = Field(default=None, description="Who owns the policy.")
    system: NonBlank | None = Field(default=None, description="The system the policy covers.")
    approvers: Annotated[tuple[NonBlank, ...], BeforeValidator(_sequence_to_tuple)] = Field(
        default=(), description="People who signed the policy off, named in reports."
    )
    # What a data protection impact assessment (GDPR Art. 35(7)), the EU AI Act's technical
    # documentation (Annex IV) and NIST SP 800-226 ask of a deployment beyond its budget. All
    # optional: a report shows "not provided" for each one missing, never a made-up text.
    controller: NonBlank | None = Field(
        default=None,
        description="The controller (GDPR Art. 4(7)): who decides the purposes and means of the"
        " processing; name and address.",
    )
    contact: NonBlank | None = Field(
        default=None,
        description="Contact for people and regulators: the data protection officer (GDPR"
        " Art. 37-39) or another contact point.",
    )
    purpose: NonBlank | None = Field(
        default=None, description="The purposes of the processing (GDPR Art. 35(7)(a))."
    )
    legal_basis: NonBlank | None = Field(
        default=None,
        description="Legal basis of the processing (GDPR Art. 6(1), and the Art. 9(2) condition"
        " for special categories of data).",
    )
    data_categories: Annotated[tuple[NonBlank, ...] | None, BeforeValidator(_sequence_to_tuple)] = (
        Field(
            default=None,
            description="Categories of personal data processed (e.g. health data, transactions).",
        )
    )
    retention: NonBlank | None = Field(
        default=None,
        description="How long the training data, the ledger and the models are kept, and why.",
    )
    people_affected: NonBlank | None = Field(
        default=None,
        description="The people whose data is used and the people the model's output is used on"
        " (data subjects; EU AI Act Annex IV 2(b)).",
    )
    intended_use: NonBlank | None = Field(
        default=None,
        description="The intended purpose of the model and who uses it (EU AI Act Annex IV 1(a)).",
    )
    misuse: NonBlank | None = Field(
        default=None,
        description="Reasonably foreseeable misuse of the model and what guards against it (EU AI"
        " Act Art. 9(2)(b)).",
    )
    review_date: Annotated[dt.date | None, BeforeValidator(_iso_date)] = Field(
        default=None,
        description="When the assessment is next reviewed (GDPR Art. 35(11)), as YYYY-MM-DD.",
    )
    tiers: dict[Name, Tier] = Field(min_length=1, description="Sensitivity tiers by name.")
    datasets: dict[Name, DatasetSpec] = Field(
        default_factory=dict, description="Datasets by id, each naming one of the tiers."
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"expected 1; found {value}")
        return value

    @model_validator(mode="after")
    def _tiers_exist(self) -> Policy:
        for dataset_id, spec in self.datasets.items():
            if spec.tier not in self.tiers:
                raise PydanticCustomError(
                    "unknown_tier",
                    "datasets.{dataset}.tier: expected one of the policy's tiers ({known}); "
                    "found {found}",
                    {
                        "dataset": dataset_id,
                        "known": ", ".join(self.tiers),
                        "found": spec.tier,
                    },
                )
        return self

    def dataset(self, dataset_id: str) -> DatasetSpec | None:
        """The dataset with this id, or ``None`` when the policy does not list it."""
        return self.datasets.get(dataset_id)

    def delta_findings(self) -> tuple[DeltaFinding, ...]:
        """Every dataset whose tier's δ is not below 1/n (``fail``) or is above 1/n^1.1
        (``warn``), in the policy's order. ``privaudit policy validate`` reports them; loading a
        policy does not refuse them (``check`` reports δ ≥ 1/n as a finding of the dataset)."""
        findings = []
        for dataset_id, spec in self.datasets.items():
            delta = self.tiers[spec.tier].delta
            severity: Literal["fail", "warn"] | None = None
            if delta >= 1 / spec.size:  # the same comparison as the assessment's finding
                severity = "fail"
            elif delta > spec.size**-1.1:
                severity = "warn"
            if severity is not None:
                findings.append(DeltaFinding(severity, dataset_id, spec.tier, delta, spec.size))
        return tuple(findings)

    def tier_of(self, dataset_id: str) -> Tier | None:
        """The tier governing a dataset, or ``None`` when the policy does not list it."""
        spec = self.datasets.get(dataset_id)
        return None if spec is None else self.tiers[spec.tier]


# ---------------------------------------------------------------------------------------------
# Public entry points


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; the parser is chosen by the file's extension.

    Raises :class:`InputError` (and nothing else) for any problem with the file.
    """
    source = str(path)
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in POLICY_SUFFIXES:
        found = f"'{file.suffix}'" if file.suffix else "no extension"
        raise InputError(
            source, None, f"expected a file ending in {', '.join(POLICY_SUFFIXES)}; found {found}"
        )
    return _parse_bytes(read_input(file), POLICY_SUFFIXES[suffix], source)


def parse_policy(data: object, source: str) -> Policy:
    """Validate already-parsed data (mappings, lists, strings, numbers) into a :class:`Policy`.

    ``source`` names where the data came from in error messages. Raises :class:`InputError`
    (and nothing else) when the data is not a valid policy.
    """
    _check_plain(data, source)
    if data is None:
        raise InputError(source, None, "expected a mapping with `tiers`; found an empty document")
    if not isinstance(data, dict):
        raise InputError(source, None, f"expected a mapping at the top level; found {_kind(data)}")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(source, exc) from None


def policy_json_schema() -> dict[str, Any]:
    """The JSON Schema of policy files (printed by ``privaudit policy schema``)."""
    return Policy.model_json_schema()


def default_tiers() -> Policy:
    """The shipped default sensitivity tiers (``privaudit/policies/tiers.yaml``), no datasets."""
    resource = files("privaudit") / "policies" / "tiers.yaml"
    return _parse_bytes(resource.read_bytes(), "yaml", "privaudit/policies/tiers.yaml")


def starter_policy_text() -> str:
    """A commented starter policy in YAML (written by ``privaudit policy init``)."""
    return _STARTER_POLICY


# ---------------------------------------------------------------------------------------------
# Bytes to plain data


def _parse_bytes(raw: bytes, fmt: str, source: str) -> Policy:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            source,
            None,
            f"expected UTF-8 text; found byte 0x{raw[exc.start]:02x} at offset {exc.start}",
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(source, f"line {line}", "expected text; found a NUL byte (binary data)")
    if not text.strip():
        raise InputError(source, None, "expected a policy with `tiers`; found an empty file")
    readers: dict[str, Callable[[str, str], object]] = {
        "yaml": load_yaml,
        "toml": _read_toml,
        "json": _read_json,
    }
    return parse_policy(readers[fmt](text, source), source)


_FLOAT_TAG: Final = "tag:yaml.org,2002:float"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"

# PyYAML's YAML 1.1 float pattern, widened so that a dot is optional before an exponent and the
# exponent's sign is optional (``1e-6``, ``2E5``, ``1.0e6``); a plain integer still is an int.
_FLOAT_PATTERN: Final = re.compile(
    r"""^(?:
        [-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
      | [-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
      | [-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
      | [-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
      | [-+]?\.(?:inf|Inf|INF)
      | \.(?:nan|NaN|NAN)
    )$""",
    re.VERBOSE,
)

# Tags that build plain data. Everything else (``!!binary``, ``!!set``, ``!!omap``, ``!!pairs``,
# ``!!python/...``, custom tags) has no constructor and is an error.
_PLAIN_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("null", "bool", "int", "float", "str", "seq", "map", "timestamp")
)


class _PolicyYamlLoader(yaml.SafeLoader):
    """A ``SafeLoader`` that builds plain data only and rejects duplicate mapping keys."""

    yaml_constructors: ClassVar[dict[str | None, Any]] = {
        tag: constructor
        for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
        if tag is None or tag in _PLAIN_TAGS
    }

    def compose_mapping_node(self, anchor: dict[Any, yaml.Node]) -> yaml.MappingNode:
        # Checked on the composed nodes, before merge keys (``<<``) are flattened, so a key that
        # overrides a merged one is not mistaken for a duplicate.
        node = super().compose_mapping_node(anchor)
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"found duplicate key {key_node.value!r} (first at line {first})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return node

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # Out-of-range scalars (a 13th month, an integer with 5,000 digits) raise ValueError or
        # OverflowError in PyYAML's constructors; give them the node's position.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            value = node.value if isinstance(node, yaml.ScalarNode) else node.id
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {describe_value(value)}: {exc}", node.start_mark
            ) from None


# Copied, not shared with SafeLoader, so the change stays local to this loader.
_PolicyYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, _FLOAT_PATTERN if tag == _FLOAT_TAG else pattern) for tag, pattern in resolvers]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str, source: str) -> object:
    """Strict YAML text → plain data (plain tags only, duplicate keys refused); one InputError
    line naming ``source`` and the line on failure."""
    try:
        return yaml.load(text, Loader=_PolicyYamlLoader)  # a SafeLoader subclass: plain data only
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or "syntax error"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        field = f"line {exc.problem_mark.line + 1}" if exc.problem_mark else None
        raise InputError(source, field, f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise InputError(
            source, f"line {line}", f"invalid YAML: character {exc.character!r} is not allowed"
        ) from None
    except RecursionError:
        raise InputError(source, None, "invalid YAML: nested too deeply") from None
    except Exception as exc:  # any other failure of the parser on untrusted bytes
        raise InputError(source, None, f"invalid YAML: {exc}") from None


_TOML_POSITION: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def _read_toml(text: str, source: str) -> object:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        if position:
            field = f"line {position.group(1)}"
            problem = f"{message[: position.start()]} (column {position.group(2)})"
        else:
            field, problem = None, message
        raise InputError(source, field, f"invalid TOML: {problem}") from None
    except RecursionError:
        raise InputError(source, None, "invalid TOML: nested too deeply") from None
    except Exception as exc:  # any other failure of the parser on untrusted bytes
        raise InputError(source, None, f"invalid TOML: {exc}") from None


def _read_json(text: str, source: str) -> object:
    return load_json(text, source)


_LEAF_TYPES: Final = (str, int, float, bool, type(None), dt.date, dt.datetime, dt.time)


def _check_plain(data: object, source: str) -> None:
    """Check that ``data`` is plain, bounded data with string keys, before validating it.

    Dates and times pass here: the models then reject them as wrong types, naming the field.
    """
    stack: list[tuple[object, tuple[int | str, ...]]] = [(data, ())]
    count = 0
    while stack:
        value, path = stack.pop()
        count += 1
        if count > _MAX_VALUES:
            raise InputError(
                source,
                None,
                f"expected at most {_MAX_VALUES} values; found more (YAML aliases repeating "
                "a large block?)",
            )
        if len(path) > _MAX_DEPTH:
            raise InputError(
                source,
                f"{_field(path[:3])}...",
                f"expected at most {_MAX_DEPTH} levels of nesting; found more (a recursive "
                "YAML alias?)",
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise InputError(
                        source,
                        _field(path),
                        f"expected text keys; found the key {describe_value(key)} "
                        "(quote it in YAML)",
                    )
                stack.append((item, (*path, key)))
        elif isinstance(value, list | tuple):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif not isinstance(value, _LEAF_TYPES):
            raise InputError(
                source,
                _field(path),
                "expected plain data (text, number, boolean, list or mapping); "
                f"found {type(value).__name__}",
            )


def _field(path: Sequence[int | str]) -> str | None:
    return location(path) or None


def _kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return f"the text {describe_value(value)}"
    return describe_value(value)


# ---------------------------------------------------------------------------------------------
# Pydantic errors to one-line "expected ...; found ..." messages

_EXPECTED_TYPE: Final = {
    "float_type": "a number",
    "int_type": "an integer",
    "string_type": "text",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
    "enum": "",
}
_BOUNDS: Final = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", "≥"),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "≤"),
}


def _from_validation_error(source: str, error: ValidationError) -> InputError:
    """Like :func:`from_validation_error`, with messages in the "expected; found" form."""
    errors = error.errors(include_url=False)
    # An unknown field is usually a misspelt one, which also makes a required field "missing":
    # report the misspelling, the cause, rather than the first error in field order.
    details = next((item for item in errors if item["type"] == "extra_forbidden"), errors[0])
    if details is errors[0]:
        base = from_validation_error(source, error)
    else:
        loc = [part for part in details["loc"] if not (isinstance(part, str) and "[" in part)]
        base = InputError(source, _field(loc), str(details["msg"]))
    kind = details["type"]
    ctx = details.get("ctx") or {}
    if kind == "unknown_tier":
        found = str(ctx.get("found", ""))
        known = str(ctx.get("known", ""))
        hint = _did_you_mean(found, known.split(", "))
        return InputError(
            source,
            f"datasets.{ctx.get('dataset')}.tier",
            f"expected one of the policy's tiers ({known}); found {describe_value(found)}{hint}",
        )
    problem = _problem(details, base.field) or base.problem
    return InputError(source, base.field, problem)


def _problem(details: ErrorDetails, field: str | None) -> str | None:
    kind = details["type"]
    ctx = details.get("ctx") or {}
    value = details.get("input")
    found = describe_value(value)
    if kind == "missing":
        return "expected a value (the field is required); found none"
    if kind == "extra_forbidden":
        name = str(details["loc"][-1]) if details["loc"] else ""
        allowed = _allowed_fields(details["loc"])
        hint = _did_you_mean(name, allowed)
        return f"expected one of {', '.join(allowed)}; found unknown field {name!r}{hint}"
    if kind == "value_error":
        return str(details["msg"]).removeprefix("Value error, ")
    if kind == "finite_number":
        return f"expected a finite number; found {found}"
    if kind in _BOUNDS:
        key, symbol = _BOUNDS[kind]
        return f"expected a value {symbol} {ctx.get(key)}; found {found}"
    if kind == "enum":
        return f"expected one of {ctx.get('expected')}; found {found}"
    if kind == "too_short":
        if field == "tiers":
            return "expected at least one tier; found none"
        return (
            f"expected at least {ctx.get('min_length')} entries; found {ctx.get('actual_length')}"
        )
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == NAME_PATTERN:
            return (
                "expected a name of letters, digits, '.', '_' or '-' that starts with a letter "
                f"or digit; found {found}"
            )
        return f"expected non-blank text; found {found}"
    if kind in _EXPECTED_TYPE:
        hint = ""
        if isinstance(value, str) and kind in {"float_type", "int_type"}:
            hint = " (text: remove the quotes)"
        elif isinstance(value, bool):
            hint = " (a boolean)"
        elif isinstance(value, dt.date | dt.time):
            hint = " (a date or time)"
        return f"expected {_EXPECTED_TYPE[kind]}; found {found}{hint}"
    return None


def _allowed_fields(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = Policy
    if len(loc) == 3 and loc[0] == "tiers":
        model = Tier
    elif len(loc) == 3 and loc[0] == "datasets":
        model = DatasetSpec
    return list(model.model_fields)


def _did_you_mean(found: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(found, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------------------------

_STARTER_POLICY: Final = """\
# privaudit policy: the privacy budget each dataset may spend over its lifetime.
# Validate with `privaudit policy validate FILE`; `privaudit policy schema` prints the schema.
# Guidance behind the numbers: Ponomareva et al. 2023, "How to DP-fy ML", Sec. 5.2
# (ε ≤ 1 strong, ε ≤ 10 reasonable, ε > 10 weak; δ well below 1/n) and NIST SP 800-226 (2025).
version: 1
organisation: Example Org          # who owns this policy
system: example-model              # the model or pipeline it covers
approvers: [Privacy Officer]       # named sign-off printed in reports

tiers:
  # One entry per sensitivity tier; datasets below refer to these names.
  confidential:
    description: Personal data whose disclosure would harm the people in it.
    epsilon: 3.0          # lifetime cap on ε for each dataset of this tier
    delta: 1.0e-6         # cap on δ; keep it well below 1/n (n = dataset size)
    # per_run_epsilon: 1.0  # optional cap on the ε of a single training run
    warn_at: 0.8          # warn once 80% of the ε cap is used
    privacy_unit: example # what one neighbouring change protects: example, user, client, ...
    accountant: pld       # pld or rdp (certified bounds); gdp is an estimate, never a verdict
    tolerance: 0.0        # declared relative slack on the cap; printed by the gate

datasets:
  # One entry per dataset id used in the ledger.
  training-data:
    tier: confidential
    size: 10000           # number of privacy units n
    description: Replace with your dataset.
"""
