"""Descriptions of differentially private releases, as an immutable tree.

The tree mirrors dp_accounting's ``DpEvent`` (google/differential-privacy) so that an auditor can
re-run the accounting with that library: leaves are mechanisms (Gaussian, Laplace, randomized
response), wrappers amplify by sampling, and composition nodes repeat or combine releases.
Sugar for the releases ML training actually makes (``dpsgd``, ``dpfedavg``,
``distributed_gaussian``) maps onto the tree through :meth:`expand`.

Units: a noise multiplier is the noise standard deviation divided by the L2 bound on one privacy
unit's contribution (the clipping norm C in DP-SGD), i.e. the sensitivity under the
add-or-remove-one relation. Under the replace-one relation the sensitivity doubles; the
accountant, not the description, deals with that.

Schema rule (from dp_event.py): a ``type`` never changes meaning and fields are never removed;
new fields are optional; new semantics get a new ``type``. The union is closed: parsing never
imports or calls anything named in the data (dp_accounting's ``from_named_tuple`` would).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from privaudit.errors import InputError, describe_value, location
from privaudit.jsontext import load_json


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

    def expand(self) -> Mechanism:
        """The core tree this description stands for (core nodes return themselves)."""
        return self  # type: ignore[return-value]

    def describe(self) -> str:
        """Compact one-line text form, e.g. ``poisson_sampled(q=0.0043, gaussian(z=1.1))``."""
        return _describe(self)


NoiseMultiplier = Annotated[float, Field(gt=0, description="noise std / L2 sensitivity")]
SamplingRate = Annotated[float, Field(gt=0, le=1, description="probability in (0, 1]")]
Count = Annotated[int, Field(ge=1)]


class Gaussian(_Node):
    """Gaussian mechanism: adds N(0, (z·Δ₂)²) to a query of L2 sensitivity Δ₂."""

    type: Literal["gaussian"] = "gaussian"
    noise_multiplier: NoiseMultiplier


class Laplace(_Node):
    """Laplace mechanism: adds Laplace(b·Δ₁) noise to a query of L1 sensitivity Δ₁."""

    type: Literal["laplace"] = "laplace"
    scale: Annotated[float, Field(gt=0, description="Laplace scale / L1 sensitivity")]


class RandomizedResponse(_Node):
    """k-ary randomized response: with probability ``noise_parameter`` answer uniformly at random
    among ``num_buckets`` values, otherwise truthfully (dp_accounting's RandomizedResponseDpEvent).
    Defined under the replace-one relation."""

    type: Literal["randomized_response"] = "randomized_response"
    noise_parameter: Annotated[float, Field(gt=0, le=1)]
    num_buckets: Annotated[int, Field(ge=2)]


class NonPrivate(_Node):
    """A release without a DP guarantee: ε = ∞ for every δ < 1."""

    type: Literal["non_private"] = "non_private"


class PoissonSampled(_Node):
    """Runs ``event`` on a subset holding each unit independently with probability q."""

    type: Literal["poisson_sampled"] = "poisson_sampled"
    sampling_rate: SamplingRate
    event: Mechanism


class SampledWithoutReplacement(_Node):
    """Runs ``event`` on a uniformly random subset of fixed size (replace-one relation)."""

    type: Literal["sampled_without_replacement"] = "sampled_without_replacement"
    source_size: Count
    sample_size: Count
    event: Mechanism

    @model_validator(mode="after")
    def _sample_fits(self) -> SampledWithoutReplacement:
        if self.sample_size > self.source_size:
            raise ValueError(
                f"sample_size must be <= source_size ({self.source_size}); found {self.sample_size}"
            )
        return self


class SelfComposed(_Node):
    """``count`` adaptive repetitions of ``event``."""

    type: Literal["self_composed"] = "self_composed"
    event: Mechanism
    count: Count


class Composed(_Node):
    """Adaptive composition of the listed events, in order."""

    type: Literal["composed"] = "composed"
    events: Annotated[tuple[Mechanism, ...], Field(min_length=1, strict=False)]


class Tuning(_Node):
    """Hyperparameter tuning (Papernot & Steinke 2022, "Hyperparameter Tuning with Renyi
    Differential Privacy", ICLR): ``event`` (one candidate run, e.g. a ``dpsgd``) is run a random
    number K of times and only the best run is released. K is Poisson with mean ``mean`` when
    ``shape`` is absent, else truncated negative binomial with shape η = ``shape`` and E[K] =
    ``mean`` (η = 0: logarithmic, η = 1: geometric). dp_accounting's RepeatAndSelectDpEvent
    (shape ∞ = Poisson; ``null`` here, as JSON has no ∞); its bounds need ``mean`` >= 1 and
    ``shape`` >= 0. Accounted by RDP only (Theorems 2 and 6 of the paper)."""

    type: Literal["tuning"] = "tuning"
    event: Mechanism
    mean: Annotated[
        float, Field(ge=1, description="expected number of candidate runs E[K], at least 1")
    ]
    shape: Annotated[
        float | None,
        Field(ge=0, description="truncated negative binomial shape η >= 0; null: Poisson"),
    ] = None

    def describe(self) -> str:
        law = "poisson" if self.shape is None else f"shape={self.shape:g}"
        return f"tuning({self.event.describe()}, mean={self.mean:g}, {law})"


class Sampling(StrEnum):
    """How DP-SGD forms its batches; it decides which amplification the accountant may claim."""

    POISSON = "poisson"
    """Each example joins each batch independently with probability q (as DP-SGD proofs assume)."""
    FIXED_BATCH = "fixed_batch"
    """Each batch is a uniform sample of fixed size without replacement."""
    SHUFFLE = "shuffle"
    """Each epoch is a random permutation cut into disjoint batches: no amplification claimed."""


class DpSgd(_Node):
    """DP-SGD (Abadi et al. 2016): ``steps`` noisy clipped-gradient steps at sampling rate q.

    Expansion by sampling scheme:
    - ``poisson``: self_composed(poisson_sampled(q, gaussian(z)), steps).
    - ``fixed_batch``: self_composed(sampled_without_replacement(n, round(q·n), gaussian(z)),
      steps); needs ``dataset_size`` n. Accounted under the replace-one relation.
    - ``shuffle``: no amplification by sampling is claimed. Within an epoch every example is in
      exactly one batch, so an epoch is one Gaussian release per example (parallel composition
      over disjoint batches): self_composed(gaussian(z), ceil(steps·q)). Rounding the epoch
      count up keeps the bound conservative for a partial last epoch.
    """

    type: Literal["dpsgd"] = "dpsgd"
    noise_multiplier: NoiseMultiplier
    sampling_rate: SamplingRate
    steps: Count
    sampling: Annotated[Sampling, Field(strict=False)] = Sampling.POISSON
    dataset_size: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _fixed_batch_needs_size(self) -> DpSgd:
        if self.sampling is Sampling.FIXED_BATCH:
            if self.dataset_size is None:
                raise ValueError("dataset_size is required when sampling is 'fixed_batch'")
            batch = self.sampling_rate * self.dataset_size
            if abs(batch - round(batch)) > 1e-6 * max(1.0, batch) or round(batch) < 1:
                raise ValueError(
                    "sampling_rate * dataset_size must be a whole batch size; "
                    f"found {describe_value(batch)}"
                )
        return self

    @property
    def epochs(self) -> int:
        """Passes over the data, rounded up (a partial epoch counts as a full one; float rounding
        can only add an epoch, never drop one)."""
        return max(1, math.ceil(self.steps * self.sampling_rate))

    def expand(self) -> Mechanism:
        gaussian = Gaussian(noise_multiplier=self.noise_multiplier)
        if self.sampling is Sampling.SHUFFLE:
            return _repeat(gaussian, self.epochs)
        if self.sampling is Sampling.FIXED_BATCH:
            assert self.dataset_size is not None  # checked at construction
            step: Mechanism = SampledWithoutReplacement(
                source_size=self.dataset_size,
                sample_size=round(self.sampling_rate * self.dataset_size),
                event=gaussian,
            )
            return _repeat(step, self.steps)
        return self.as_poisson()

    def as_poisson(self) -> Mechanism:
        """The same run accounted as if batches were Poisson-sampled (for comparison only)."""
        return _repeat(
            _sampled(self.sampling_rate, Gaussian(noise_multiplier=self.noise_multiplier)),
            self.steps,
        )


class DpFedAvg(_Node):
    """Client-level DP-FedAvg (McMahan et al. 2018): each round samples clients with probability
    q, clips each client's update and adds server-side Gaussian noise z·C to their sum."""

    type: Literal["dpfedavg"] = "dpfedavg"
    noise_multiplier: NoiseMultiplier
    client_sampling_rate: SamplingRate
    rounds: Count

    def expand(self) -> Mechanism:
        gaussian = Gaussian(noise_multiplier=self.noise_multiplier)
        return _repeat(_sampled(self.client_sampling_rate, gaussian), self.rounds)


class DistributedGaussian(_Node):
    """Distributed noise under secure aggregation: each of ``clients`` adds an independent share
    N(0, z²C²/clients) and only the sum is revealed. With ``survivors`` < ``clients`` (dropouts)
    the revealed sum carries variance z²C²·survivors/clients, so the effective multiplier is
    z·sqrt(survivors/clients). ``sampling_rate`` < 1 describes Poisson-sampled records inside
    each silo (distributed DP-SGD); ``steps`` repeats the release.
    """

    type: Literal["distributed_gaussian"] = "distributed_gaussian"
    noise_multiplier: NoiseMultiplier
    clients: Count
    survivors: Count
    sampling_rate: SamplingRate = 1.0
    steps: Count = 1

    @model_validator(mode="after")
    def _survivors_fit(self) -> DistributedGaussian:
        if self.survivors > self.clients:
            raise ValueError(
                f"survivors must be <= clients ({self.clients}); found {self.survivors}"
            )
        return self

    @property
    def effective_noise_multiplier(self) -> float:
        return self.noise_multiplier * math.sqrt(self.survivors / self.clients)

    def expand(self) -> Mechanism:
        gaussian = Gaussian(noise_multiplier=self.effective_noise_multiplier)
        return _repeat(_sampled(self.sampling_rate, gaussian), self.steps)


Mechanism = Annotated[
    Gaussian
    | Laplace
    | RandomizedResponse
    | NonPrivate
    | PoissonSampled
    | SampledWithoutReplacement
    | SelfComposed
    | Composed
    | DpSgd
    | DpFedAvg
    | DistributedGaussian
    | Tuning,
    Field(discriminator="type"),
]
"""Any mechanism description; the ``type`` field selects the class."""

for _model in (PoissonSampled, SampledWithoutReplacement, SelfComposed, Composed, Tuning):
    _model.model_rebuild()

MECHANISM_TYPES: tuple[str, ...] = (
    "gaussian",
    "laplace",
    "randomized_response",
    "non_private",
    "poisson_sampled",
    "sampled_without_replacement",
    "self_composed",
    "composed",
    "dpsgd",
    "dpfedavg",
    "distributed_gaussian",
    "tuning",
)

_ADAPTER: TypeAdapter[Mechanism] = TypeAdapter(Mechanism)

_MAX_DEPTH = 32


def parse_mechanism(
    data: object, source: str = "<mechanism>", field: str = "mechanism"
) -> Mechanism:
    """Validate plain JSON data into a mechanism; every problem is an :class:`InputError`."""
    _check_shape(data, source, field, depth=0)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        path = _mechanism_path(field, first["loc"])
        kind = first["type"]
        if kind == "union_tag_invalid":
            found = first.get("ctx", {}).get("tag", first.get("input"))
            problem = (
                f"unknown mechanism type; expected one of {', '.join(MECHANISM_TYPES)};"
                f" found {describe_value(found)}"
            )
            path = f"{path}.type" if not path.endswith(".type") else path
        elif kind == "union_tag_not_found":
            problem = "missing 'type'; expected one of " + ", ".join(MECHANISM_TYPES)
        elif kind == "extra_forbidden":
            problem = "unknown field"
        elif kind == "missing":
            problem = "required field is missing"
        elif kind == "value_error":
            problem = str(first["msg"]).removeprefix("Value error, ")
        else:
            problem = f"{first['msg']}; found {describe_value(first.get('input'))}"
        raise InputError(source, path, problem) from None


def mechanism_from_json_text(text: str, source: str = "<mechanism>") -> Mechanism:
    """Parse JSON text (duplicate keys and NaN/Infinity refused) into a mechanism."""
    return parse_mechanism(load_json(text, source), source, "mechanism")


def mechanism_to_json(mechanism: Mechanism) -> dict[str, Any]:
    """Plain-JSON form that :func:`parse_mechanism` reads back to an equal value."""
    data: dict[str, Any] = _ADAPTER.dump_python(mechanism, mode="json")
    return data


def _check_shape(data: object, source: str, field: str, depth: int) -> None:
    # Deep nesting is refused before Pydantic sees it: recursion limits must not become tracebacks.
    if depth > _MAX_DEPTH:
        raise InputError(source, field, f"mechanism nested deeper than {_MAX_DEPTH} levels")
    if isinstance(data, dict):
        for key, value in data.items():
            _check_shape(value, source, f"{field}.{key}", depth + 1)
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            _check_shape(value, source, f"{field}[{index}]", depth + 1)
    elif not isinstance(data, str | int | float | bool | type(None)):
        raise InputError(source, field, f"expected JSON data; found {type(data).__name__}")


def _mechanism_path(field: str, loc: tuple[int | str, ...]) -> str:
    # Discriminated-union locations interleave the tag ("gaussian") with field names; drop tags.
    parts: list[int | str] = []
    for item in loc:
        if isinstance(item, str) and item in MECHANISM_TYPES and (not parts or parts[-1] != "type"):
            continue
        parts.append(item)
    rest = location(parts)
    if not rest:
        return field
    return f"{field}{rest}" if rest.startswith("[") else f"{field}.{rest}"


def _sampled(rate: float, event: Mechanism) -> Mechanism:
    return event if rate == 1.0 else PoissonSampled(sampling_rate=rate, event=event)


def _repeat(event: Mechanism, count: int) -> Mechanism:
    return event if count == 1 else SelfComposed(event=event, count=count)


def _describe(node: BaseModel) -> str:
    args: list[str] = []
    for name in type(node).model_fields:
        if name == "type":
            continue
        value = getattr(node, name)
        if isinstance(value, _Node):
            args.append(value.describe())
        elif isinstance(value, tuple):
            args.append("[" + ", ".join(v.describe() for v in value) + "]")
        elif value is not None:
            args.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return f"{getattr(node, 'type', type(node).__name__)}({', '.join(args)})"
