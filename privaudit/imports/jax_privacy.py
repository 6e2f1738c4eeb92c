"""JAX Privacy's DP-SGD accounting configuration (JSON or YAML) → ledger entries and the ε JAX
Privacy computes for it.

The file mirrors one of two JAX Privacy APIs, field for field (github.com/google-deepmind/
jax_privacy; neither is imported):

1. The training accountant of JAX Privacy 1.0 – 2.1 (``jax_privacy.accounting``: ``DpParams``,
   ``DpsgdTrainingAccountant.compute_epsilon(num_updates, dp_params)`` in
   ``jax_privacy/accounting/analysis.py``, ``RdpAccountantConfig`` / ``PldAccountantConfig`` in
   ``jax_privacy/accounting/accountants.py``; read at commit bb72eff, the last before 2.2 removed
   them)::

       dp_params:                      # DpParams(...)
         noise_multipliers: 1.1        # or [[0, 1.1], [500, 0.9]]: (step, multiplier) pairs
         num_samples: 60000
         delta: 1.0e-5                 # optional here: else --delta
         batch_size: 256
         batch_size_scale_schedule: null   # or {step: integer scale}, optax piecewise constant
         is_finite_guarantee: true
         examples_per_user: null       # only null or 1 (example-level) is supported
         cycle_length: null            # cyclic Poisson sampling (Choquette-Choo et al. 2023)
         sampling_method: POISSON      # SamplingMethod name: POISSON or FIXED_BATCH_SIZE
         truncated_batch_size: null    # only null is supported
       num_updates: 1000               # compute_epsilon's num_updates
       dp_accountant_config:           # the accountant's config class and its fields
         type: PldAccountantConfig     # value_discretization_interval: 1.0e-4 (default)
                                       # or RdpAccountantConfig with orders: [...] (optional)
       training_accountant: DpsgdTrainingAccountant   # optional; the only one supported
       version: "2.1.0"                # optional: the JAX Privacy version, for the ledger

2. The Keras API of JAX Privacy 2.3 (``jax_privacy.keras_api.DPKerasConfig``, commit 8967688)::

       dp_keras_config: {epsilon, delta, clipping_norm, batch_size, gradient_accumulation_steps,
                         train_steps, train_size, poisson_sampling_in_fit, noise_multiplier,
                         rescale_to_unit_norm, microbatch_size, seed}
       version: "2.3.0"                # optional

   ``noise_multiplier`` is required here (JAX Privacy calibrates it when it is null; write the
   value ``model.get_noise_multiplier()`` returns).

Mechanisms (what privaudit certifies) and JAX Privacy's figure (recomputed with dp_accounting):

- ``POISSON``: each phase of constant multiplier z and batch size b is ``DpSgd(poisson,
  q = b / num_samples, steps)``. JAX Privacy composes ``PoissonSampled(q, Gaussian(z))`` per
  update (Abadi et al. 2016; Mironov, Talwar & Zhang 2019), add-or-remove-one.
- ``FIXED_BATCH_SIZE``: ``DpSgd(fixed_batch, q = b / num_samples, dataset_size = num_samples)``,
  which privaudit accounts as sampling without replacement under replace-one. JAX Privacy instead
  reduces it to Poisson sampling with the sensitivity doubled, ``Gaussian(z / 2)``
  (``DpsgdTrainingAccountant._compute_epsilon``, ``sensitivity_multiplier = 2.0``).
- ``cycle_length`` k > 1: the data is cut into k groups of ``num_samples // k`` examples, update
  t samples from group t mod k, so one example joins at most ceil(T / k) of T updates
  (Choquette-Choo et al. 2023, "(Amplified) Banded Matrix Factorization", arXiv:2306.08153,
  Sec. 4). Recorded as ``self_composed(poisson_sampled(b / (num_samples // k), gaussian(z)),
  ceil(T / k))`` (sampled_without_replacement for fixed batches); that this also covers BandMF
  with at most k bands is JAX Privacy's reduction, noted, not checked here.
- Keras, ``poisson_sampling_in_fit: true``: ``DpSgd(poisson, q = batch_size / train_size,
  train_steps)``; with ``false`` Keras' ``fit`` forms the batches (shuffled arrays or the user's
  iterator), so privaudit claims no amplification: ``DpSgd(shuffle, q = effective batch /
  train_size)``. JAX Privacy's figure is Poisson either way: ``dpsgd_event(z, train_steps,
  sampling_prob = batch_size · gradient_accumulation_steps / train_size)`` with
  ``PLDAccountant(value_discretization_interval=1e-3)``.

Refused, because privaudit cannot certify them: user-level accounting (``examples_per_user`` > 1,
``DpsgdTrainingUserLevelAccountant``), truncated Poisson sampling (``truncated_batch_size``),
single-release DP-FTRL/matrix-factorisation accounting (``SingleReleaseTrainingAccountant``),
and Keras Poisson sampling with gradient accumulation (several Poisson batches per update, so an
example can enter one update more than once, which JAX Privacy accounts as one batch).

``config`` holds the configuration as used: every field with its default filled in and δ as
chosen (``orders: null`` stands for JAX Privacy's default RDP orders).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from privaudit.errors import InputError, describe_value
from privaudit.imports.common import (
    Format,
    FrameworkFigure,
    ImportedRun,
    optional_integer,
    read_structured,
    require_bool,
    require_choice,
    require_fields,
    require_number,
    require_object,
    require_row,
    resolve_delta,
)
from privaudit.mechanisms import (
    DpSgd,
    Gaussian,
    Mechanism,
    NonPrivate,
    PoissonSampled,
    SampledWithoutReplacement,
    Sampling,
    SelfComposed,
)

DP_PARAMS_FIELDS = (
    "noise_multipliers",
    "num_samples",
    "delta",
    "batch_size",
    "batch_size_scale_schedule",
    "is_finite_guarantee",
    "examples_per_user",
    "cycle_length",
    "sampling_method",
    "truncated_batch_size",
)
"""``DpParams``' init fields (``batch_sizes`` is derived, not an argument)."""

KERAS_FIELDS = (
    "epsilon",
    "delta",
    "clipping_norm",
    "batch_size",
    "gradient_accumulation_steps",
    "train_steps",
    "train_size",
    "poisson_sampling_in_fit",
    "noise_multiplier",
    "rescale_to_unit_norm",
    "microbatch_size",
    "seed",
)
"""``DPKerasConfig``' fields (JAX Privacy 2.3)."""

SAMPLING_METHODS = ("POISSON", "FIXED_BATCH_SIZE")
"""``jax_privacy.accounting.SamplingMethod`` names."""

ACCOUNTANT_CONFIGS = ("PldAccountantConfig", "RdpAccountantConfig")

JAX_RDP_ORDERS: tuple[float, ...] = tuple(
    float(order)
    for order in np.concatenate(
        (
            np.linspace(1.01, 8, num=50),
            np.arange(8, 64),
            np.linspace(65, 512, num=10, dtype=int),
        )
    )
)
"""``accountants._DEFAULT_RDP_ORDERS``."""

JAX_PLD_DISCRETIZATION = 1e-4
"""``accountants._DEFAULT_PLD_DISCRETIZATION``."""

KERAS_PLD_DISCRETIZATION = 1e-3
"""``DPKerasConfig._pld_discretization``."""

KERAS_EPSILON_TOLERANCE = 0.1
"""``DPKerasConfig._validate_params`` refuses a multiplier whose ε passes epsilon + 0.1."""

_TOP_DP_PARAMS = {"dp_params", "num_updates", "dp_accountant_config", "training_accountant"}
_TOP_KERAS = {"dp_keras_config"}
_TRAINING_ACCOUNTANTS = {
    "DpsgdTrainingAccountant": None,
    "DpsgdTrainingUserLevelAccountant": (
        "user-level DP (group privacy over examples_per_user examples), which privaudit's"
        " mechanisms cannot express"
    ),
    "SingleReleaseTrainingAccountant": (
        "single-release DP-FTRL / matrix-factorisation accounting, whose sensitivity privaudit"
        " cannot check"
    ),
}
_SUPPORTED = (
    "supported: DpsgdTrainingAccountant with sampling_method POISSON or FIXED_BATCH_SIZE,"
    " examples_per_user null or 1 and truncated_batch_size null, or a dp_keras_config"
)


@dataclass(frozen=True)
class Phase:
    """Updates with one noise multiplier and one batch size (JAX Privacy's ``t_nm_and_bs``)."""

    updates: int
    noise_multiplier: float
    batch_size: int
    float32: bool = False
    """Whether JAX Privacy holds this batch size as a float32 array (sizes from optax's
    ``piecewise_constant_schedule``), so that its sampling probability is rounded to float32."""

    def accounted_rate(self, group_size: int) -> float:
        """``q = bs / float(min_group_size)`` as JAX Privacy computes it."""
        if self.float32:
            return float(np.float32(self.batch_size) / np.float32(group_size))
        return self.batch_size / float(group_size)


@dataclass(frozen=True)
class DpParamsRun:
    """A validated ``DpParams`` with ``num_updates`` and the accountant config."""

    noise_multipliers: float | tuple[tuple[int, float], ...]
    num_samples: int
    delta: float
    batch_size: int
    batch_size_scale_schedule: tuple[tuple[int, int], ...] | None
    is_finite_guarantee: bool
    examples_per_user: int | None
    cycle_length: int | None
    sampling_method: str
    num_updates: int
    accountant: str
    """"pld" or "rdp"."""
    value_discretization_interval: float | None
    orders: tuple[float, ...] | None
    """None: JAX Privacy's default orders."""

    @property
    def cycle(self) -> int:
        return self.cycle_length or 1

    @property
    def group_size(self) -> int:
        """``num_samples // cycle_length`` (the remainder is discarded)."""
        return self.num_samples // self.cycle

    def to_json(self) -> dict[str, Any]:
        noise: Any = self.noise_multipliers
        if not isinstance(noise, float):
            noise = [[step, z] for step, z in noise]
        schedule = self.batch_size_scale_schedule
        config: dict[str, Any] = {"type": f"{self.accountant.capitalize()}AccountantConfig"}
        if self.accountant == "pld":
            config["value_discretization_interval"] = self.value_discretization_interval
        else:
            config["orders"] = None if self.orders is None else list(self.orders)
        return {
            "dp_params": {
                "noise_multipliers": noise,
                "num_samples": self.num_samples,
                "delta": self.delta,
                "batch_size": self.batch_size,
                "batch_size_scale_schedule": (
                    None if schedule is None else {str(step): scale for step, scale in schedule}
                ),
                "is_finite_guarantee": self.is_finite_guarantee,
                "examples_per_user": self.examples_per_user,
                "cycle_length": self.cycle_length,
                "sampling_method": self.sampling_method,
                "truncated_batch_size": None,
            },
            "num_updates": self.num_updates,
            "dp_accountant_config": config,
            "training_accountant": "DpsgdTrainingAccountant",
        }


def read_jax_privacy(path: str | Path, *, delta: float | None = None) -> ImportedRun:
    """Read a JAX Privacy accounting configuration (``dp_params`` or ``dp_keras_config``) from
    ``path``. ``delta`` (``--delta``) is used when the file carries none."""
    source = str(path)
    data, _ = read_structured(path, Format.JAX_PRIVACY)
    top = require_object(data, source)
    if "dp_keras_config" in top:
        fields = require_fields(top, _TOP_KERAS | {"version"}, source)
        return _read_keras(fields, source, delta, _version(fields, source))
    if "dp_params" in top:
        fields = require_fields(top, _TOP_DP_PARAMS | {"version"}, source)
        run, delta_note = parse_dp_params_run(fields, source, delta)
        return _dp_params_import(run, _version(fields, source), delta_note)
    raise InputError(
        source,
        None,
        "expected a JAX Privacy accounting configuration: an object with 'dp_params' (with"
        " 'num_updates' and 'dp_accountant_config') or with 'dp_keras_config'",
    )


def _version(fields: dict[str, Any], source: str) -> str | None:
    value = fields.get("version")
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InputError(
            source, "version", f"expected the JAX Privacy version as text; found {value!r}"
        )
    return value


# --- DpParams + DpsgdTrainingAccountant ---------------------------------------------------------


def parse_dp_params_run(
    fields: dict[str, Any], source: str, delta: float | None = None
) -> tuple[DpParamsRun, str | None]:
    """Validate the ``dp_params`` form (everything ``DpsgdTrainingAccountant`` checks, and what
    privaudit cannot certify refused) into a :class:`DpParamsRun` and a note on δ, if any."""
    accountant = fields.get("training_accountant", "DpsgdTrainingAccountant")
    if accountant not in _TRAINING_ACCOUNTANTS:
        raise InputError(
            source,
            "training_accountant",
            f"expected one of {', '.join(_TRAINING_ACCOUNTANTS)};"
            f" found {describe_value(accountant)}",
        )
    if (reason := _TRAINING_ACCOUNTANTS[accountant]) is not None:
        raise InputError(source, "training_accountant", f"{accountant} is {reason}; {_SUPPORTED}")
    params = require_fields(fields["dp_params"], set(DP_PARAMS_FIELDS), source, "dp_params")
    p = "dp_params."
    num_samples = int(
        require_number(params, "num_samples", source, minimum=1, integer=True, prefix=p)
    )
    batch_size = int(
        require_number(params, "batch_size", source, minimum=1, integer=True, prefix=p)
    )
    chosen_delta, delta_note = resolve_delta(params, "delta", source, delta, p)
    noise = _noise_multipliers(params, source)
    schedule = _scale_schedule(params, source)
    examples_per_user = optional_integer(params, "examples_per_user", source, minimum=1, prefix=p)
    if examples_per_user is not None and examples_per_user != 1:
        raise InputError(
            source,
            f"{p}examples_per_user",
            f"{examples_per_user} examples per user asks for user-level DP, which privaudit"
            f" cannot certify; {_SUPPORTED}",
        )
    cycle_length = optional_integer(params, "cycle_length", source, minimum=1, prefix=p)
    sampling_method = require_choice(
        params, "sampling_method", source, SAMPLING_METHODS, default="POISSON", prefix=p
    )
    truncated = optional_integer(params, "truncated_batch_size", source, minimum=1, prefix=p)
    if truncated is not None:
        raise InputError(
            source,
            f"{p}truncated_batch_size",
            "truncated Poisson sampling (TruncatedSubsampledGaussianDpEvent) has no privaudit"
            f" mechanism; {_SUPPORTED}",
        )
    if cycle_length is not None and cycle_length != 1:
        # DpsgdTrainingAccountant._validate_dp_params
        if schedule or not isinstance(noise, float):
            raise InputError(
                source,
                f"{p}cycle_length",
                "cycle_length != 1 needs a single batch size and a single noise multiplier"
                " (as DpsgdTrainingAccountant requires); found a schedule",
            )
        if batch_size * cycle_length > num_samples:
            raise InputError(
                source,
                f"{p}cycle_length",
                f"batch_size * cycle_length must be <= num_samples ({num_samples});"
                f" found {batch_size} * {cycle_length}",
            )
    num_updates = int(require_number(fields, "num_updates", source, minimum=1, integer=True))
    kind, interval, orders = _accountant_config(fields, source)
    run = DpParamsRun(
        noise_multipliers=noise,
        num_samples=num_samples,
        delta=chosen_delta,
        batch_size=batch_size,
        batch_size_scale_schedule=schedule,
        is_finite_guarantee=require_bool(
            params, "is_finite_guarantee", source, default=True, prefix=p
        ),
        examples_per_user=examples_per_user,
        cycle_length=cycle_length,
        sampling_method=sampling_method,
        num_updates=num_updates,
        accountant=kind,
        value_discretization_interval=interval,
        orders=orders,
    )
    for phase in phases(run):
        if phase.batch_size > run.group_size:
            raise InputError(
                source,
                f"{p}batch_size" if schedule is None else f"{p}batch_size_scale_schedule",
                f"a batch of {phase.batch_size} exceeds the {run.group_size} examples it is drawn"
                " from (num_samples // cycle_length); the sampling probability must be <= 1",
            )
    return run, delta_note


def _noise_multipliers(
    params: dict[str, Any], source: str
) -> float | tuple[tuple[int, float], ...]:
    where = "dp_params.noise_multipliers"
    value = params.get("noise_multipliers")
    if not isinstance(value, list):
        if value is None:
            raise InputError(
                source, where, "required field is missing (DpsgdTrainingAccountant needs it)"
            )
        return require_number(params, "noise_multipliers", source, minimum=0, prefix="dp_params.")
    if not value:
        raise InputError(source, where, "expected a number or a non-empty list of [step, z] pairs")
    pairs: list[tuple[int, float]] = []
    for index, pair in enumerate(value):
        item = f"{where}[{index}]"
        named = require_row(pair, ("step", "noise_multiplier"), source, item)
        step = int(
            require_number(named, "step", source, minimum=0, integer=True, prefix=f"{item}.")
        )
        z = require_number(named, "noise_multiplier", source, minimum=0, prefix=f"{item}.")
        pairs.append((step, z))
    steps = [step for step, _ in pairs]
    if len(set(steps)) != len(steps):
        raise InputError(source, where, f"expected each step once; found steps {steps}")
    pairs.sort()
    if pairs[0][0] != 0:
        raise InputError(
            source, where, f"the first step must be 0 (as DpParams asserts); found {pairs[0][0]}"
        )
    return tuple(pairs)


def _scale_schedule(params: dict[str, Any], source: str) -> tuple[tuple[int, int], ...] | None:
    where = "dp_params.batch_size_scale_schedule"
    value = params.get("batch_size_scale_schedule")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InputError(
            source, where, f"expected a mapping of step to scale; found {describe_value(value)}"
        )
    schedule: list[tuple[int, int]] = []
    for key, scale in value.items():
        step = key if isinstance(key, int) and not isinstance(key, bool) else None
        if isinstance(key, str) and key.isdecimal():
            step = int(key)
        if step is None or step < 0:
            raise InputError(
                source,
                f"{where}.{key}",
                f"expected a step >= 0 as key; found {describe_value(key)}",
            )
        named = {str(step): scale}
        schedule.append(
            (
                step,
                int(
                    require_number(
                        named, str(step), source, minimum=1, integer=True, prefix=f"{where}."
                    )
                ),
            )
        )
    return tuple(schedule)  # in the file's order, as the dict JAX Privacy iterates


def _accountant_config(
    fields: dict[str, Any], source: str
) -> tuple[str, float | None, tuple[float, ...] | None]:
    where = "dp_accountant_config"
    if fields.get(where) is None:
        raise InputError(
            source,
            where,
            "required field is missing; expected {type: PldAccountantConfig} or"
            " {type: RdpAccountantConfig} (the accountant JAX Privacy's ε comes from)",
        )
    config = require_fields(
        fields[where], {"type", "value_discretization_interval", "orders"}, source, where
    )
    kind = require_choice(config, "type", source, ACCOUNTANT_CONFIGS, prefix=f"{where}.")
    if kind == "PldAccountantConfig":
        if "orders" in config:
            raise InputError(source, f"{where}.orders", "unknown field for PldAccountantConfig")
        interval = require_number(
            config,
            "value_discretization_interval",
            source,
            above=0,
            default=JAX_PLD_DISCRETIZATION,
            prefix=f"{where}.",
        )
        return "pld", interval, None
    if "value_discretization_interval" in config:
        raise InputError(
            source,
            f"{where}.value_discretization_interval",
            "unknown field for RdpAccountantConfig",
        )
    orders = config.get("orders")
    if orders is None:
        return "rdp", None, None
    if not isinstance(orders, list) or not orders:
        raise InputError(
            source,
            f"{where}.orders",
            f"expected a non-empty list of RDP orders > 1; found {describe_value(orders)}",
        )
    named = {f"orders[{index}]": order for index, order in enumerate(orders)}
    return (
        "rdp",
        None,
        tuple(require_number(named, key, source, above=1, prefix=f"{where}.") for key in named),
    )


def phases(run: DpParamsRun) -> list[Phase]:
    """``analysis._interleave_nm_and_bs(noise_multipliers, batch_sizes, num_updates)``, with
    ``batch_sizes`` from ``_make_batch_size_boundaries``: the (updates, z, b) phases JAX Privacy
    accounts, in order. Zero-length phases are kept (JAX Privacy composes them)."""
    noise: list[tuple[int, float]] = (
        [(0, run.noise_multipliers)]
        if isinstance(run.noise_multipliers, float)
        else list(run.noise_multipliers)
    )
    schedule = run.batch_size_scale_schedule or ()
    batches: list[tuple[int, int, bool]] = [(0, run.batch_size, False)]
    for threshold, _ in schedule:
        # optax.piecewise_constant_schedule(init, scales)(threshold + 1) scales the initial size
        # by every scale whose boundary is <= threshold + 1, and returns a float32 array.
        size = run.batch_size
        for boundary, scale in schedule:
            if boundary <= threshold + 1:
                size *= scale
        batches.append((threshold, size, True))
    steps = run.num_updates
    noise = [(t, z) for t, z in sorted(noise, key=lambda pair: pair[0]) if t <= steps]
    batches = [item for item in sorted(batches, key=lambda item: item[0]) if item[0] <= steps]
    times = sorted({t for t, _ in noise} | {t for t, _, _ in batches})
    starts = []
    for t in times:
        z = [z for s, z in noise if s <= t][-1]
        size, float32 = [(b, f) for s, b, f in batches if s <= t][-1]
        starts.append((t, z, size, float32))
    ends = [t for t, _, _, _ in starts[1:]] + [steps]
    return [
        Phase(updates=end - t, noise_multiplier=z, batch_size=size, float32=float32)
        for (t, z, size, float32), end in zip(starts, ends, strict=True)
    ]


def dp_params_mechanism(run: DpParamsRun, phase: Phase) -> Mechanism:
    """What privaudit records for one phase (see the module docstring)."""
    if phase.noise_multiplier == 0:
        return NonPrivate()
    z, size, n = phase.noise_multiplier, phase.batch_size, run.num_samples
    fixed = run.sampling_method == "FIXED_BATCH_SIZE"
    if run.cycle == 1:
        if fixed:
            return DpSgd(
                noise_multiplier=z,
                sampling_rate=size / n,
                steps=phase.updates,
                sampling=Sampling.FIXED_BATCH,
                dataset_size=n,
            )
        return DpSgd(noise_multiplier=z, sampling_rate=size / n, steps=phase.updates)
    gaussian = Gaussian(noise_multiplier=z)
    group = run.group_size
    step: Mechanism
    if fixed:
        step = SampledWithoutReplacement(source_size=group, sample_size=size, event=gaussian)
    elif size == group:
        step = gaussian
    else:
        step = PoissonSampled(sampling_rate=size / group, event=gaussian)
    count = math.ceil(phase.updates / run.cycle)
    return step if count == 1 else SelfComposed(event=step, count=count)


def jax_dp_params_epsilon(run: DpParamsRun) -> float | None:
    """``DpsgdTrainingAccountant(config).compute_epsilon(num_updates, dp_params)``, recomputed
    with dp_accounting: per phase ``PoissonSampled(b / group, Gaussian(z / m))`` composed
    ``ceil(t / cycle_length)`` times, m = 2 for FIXED_BATCH_SIZE else 1; ``inf`` when
    ``is_finite_guarantee`` is false; None when JAX Privacy's accountant raises (a phase of 0
    updates: dp_accounting refuses count 0)."""
    import dp_accounting

    if not run.is_finite_guarantee:
        return math.inf
    relation = dp_accounting.NeighboringRelation.ADD_OR_REMOVE_ONE
    accountant: Any
    if run.accountant == "pld":
        accountant = dp_accounting.pld.PLDAccountant(
            neighboring_relation=relation,
            value_discretization_interval=run.value_discretization_interval,
        )
    else:
        orders = np.array(run.orders if run.orders is not None else JAX_RDP_ORDERS)
        accountant = dp_accounting.rdp.RdpAccountant(orders=orders, neighboring_relation=relation)
    multiplier = 2.0 if run.sampling_method == "FIXED_BATCH_SIZE" else 1.0
    for phase in phases(run):
        count = math.ceil(phase.updates / run.cycle)
        if count == 0:
            return None
        if phase.noise_multiplier == 0:
            return math.inf
        q = phase.accounted_rate(run.group_size)
        event = dp_accounting.PoissonSampledDpEvent(
            q, dp_accounting.GaussianDpEvent(phase.noise_multiplier / multiplier)
        )
        accountant.compose(event, count)
    return float(accountant.get_epsilon(target_delta=run.delta))


def _dp_params_import(run: DpParamsRun, version: str | None, delta_note: str | None) -> ImportedRun:
    """The ``dp_params`` form as an import: one mechanism per phase that takes updates."""
    mechanisms = tuple(
        dp_params_mechanism(run, phase) for phase in phases(run) if phase.updates > 0
    )
    epsilon = jax_dp_params_epsilon(run)
    notes = [] if delta_note is None else [delta_note]
    if run.sampling_method == "FIXED_BATCH_SIZE":
        notes.append(
            "FIXED_BATCH_SIZE: privaudit accounts sampling without replacement under the"
            " replace-one relation; JAX Privacy's figure is Poisson sampling with the"
            " sensitivity doubled, a different analysis of the same run"
        )
    if run.cycle > 1:
        notes.append(
            f"cycle_length {run.cycle}: each example joins at most one update in {run.cycle}"
            f" (groups of {run.group_size}); that this covers banded matrix factorisation with"
            " at most that many bands is JAX Privacy's reduction, not checked by privaudit"
        )
    if not run.is_finite_guarantee:
        notes.append(
            "is_finite_guarantee false: JAX Privacy reports ε = inf; privaudit still certifies"
            " the releases as configured"
        )
    if epsilon is None:
        notes.append("JAX Privacy's accountant refuses this configuration (a phase of 0 updates)")
    label = "PLD" if run.accountant == "pld" else "RDP"
    figure = FrameworkFigure(
        name="jax-privacy",
        version=version,
        accountant=run.accountant,
        epsilon=epsilon if epsilon is not None and math.isfinite(epsilon) else None,
        delta=run.delta,
        how=(
            "recomputed as JAX Privacy's DpsgdTrainingAccountant.compute_epsilon does"
            f" ({label}, jax_privacy/accounting/analysis.py) with dp_accounting"
            f" {package_version('dp-accounting')}"
        ),
    )
    return ImportedRun(
        mechanisms=mechanisms,
        framework=figure,
        config=run.to_json(),
        privacy_unit="example",
        notes=tuple(notes),
    )


# --- Keras API (DPKerasConfig) ------------------------------------------------------------------


@dataclass(frozen=True)
class KerasRun:
    """A validated ``DPKerasConfig``: the fields privacy accounting reads."""

    epsilon: float
    delta: float
    clipping_norm: float
    batch_size: int
    gradient_accumulation_steps: int
    train_steps: int
    train_size: int
    poisson_sampling_in_fit: bool
    noise_multiplier: float
    others: dict[str, Any]
    """rescale_to_unit_norm, microbatch_size, seed: kept as given, not used in accounting."""

    @property
    def update_batch(self) -> int:
        """Examples per optimizer update: ``batch_size · gradient_accumulation_steps``."""
        return self.batch_size * self.gradient_accumulation_steps

    def to_json(self) -> dict[str, Any]:
        return {
            "dp_keras_config": {
                "epsilon": self.epsilon,
                "delta": self.delta,
                "clipping_norm": self.clipping_norm,
                "batch_size": self.batch_size,
                "gradient_accumulation_steps": self.gradient_accumulation_steps,
                "train_steps": self.train_steps,
                "train_size": self.train_size,
                "poisson_sampling_in_fit": self.poisson_sampling_in_fit,
                "noise_multiplier": self.noise_multiplier,
                **self.others,
            }
        }


def parse_keras(
    fields: dict[str, Any], source: str, delta: float | None = None
) -> tuple[KerasRun, str | None]:
    """Validate ``dp_keras_config`` (what ``DPKerasConfig._validate_params`` checks, and what
    privaudit cannot certify refused)."""
    where = "dp_keras_config"
    config = require_fields(fields[where], set(KERAS_FIELDS), source, where)
    p = f"{where}."
    chosen_delta, delta_note = resolve_delta(config, "delta", source, delta, p)
    if config.get("noise_multiplier") is None:
        raise InputError(
            source,
            f"{p}noise_multiplier",
            "required field is missing; write the value model.get_noise_multiplier() returns"
            " (JAX Privacy calibrates it when it is null)",
        )
    train_size = int(
        require_number(config, "train_size", source, minimum=1, integer=True, prefix=p)
    )
    batch_size = int(
        require_number(config, "batch_size", source, minimum=1, integer=True, prefix=p)
    )
    accumulation = int(
        require_number(
            config,
            "gradient_accumulation_steps",
            source,
            minimum=1,
            integer=True,
            default=1,
            prefix=p,
        )
    )
    poisson = require_bool(config, "poisson_sampling_in_fit", source, default=False, prefix=p)
    if poisson and accumulation > 1:
        raise InputError(
            source,
            f"{p}gradient_accumulation_steps",
            "Poisson sampling in fit with gradient accumulation draws several Poisson batches per"
            " update, so an example can enter one update more than once; privaudit cannot certify"
            f" it; found {accumulation}",
        )
    if batch_size * accumulation > train_size:
        raise InputError(
            source,
            f"{p}batch_size",
            f"batch_size * gradient_accumulation_steps must be <= train_size ({train_size}) so"
            f" that the sampling probability is at most 1; found {batch_size} * {accumulation}",
        )
    others: dict[str, Any] = {
        key: config[key]
        for key in ("rescale_to_unit_norm", "microbatch_size", "seed")
        if key in config
    }
    run = KerasRun(
        epsilon=require_number(config, "epsilon", source, above=0, prefix=p),
        delta=chosen_delta,
        clipping_norm=require_number(config, "clipping_norm", source, above=0, prefix=p),
        batch_size=batch_size,
        gradient_accumulation_steps=accumulation,
        train_steps=int(
            require_number(config, "train_steps", source, minimum=1, integer=True, prefix=p)
        ),
        train_size=train_size,
        poisson_sampling_in_fit=poisson,
        noise_multiplier=require_number(config, "noise_multiplier", source, minimum=0, prefix=p),
        others=others,
    )
    return run, delta_note


def keras_mechanism(run: KerasRun) -> Mechanism:
    """Poisson in fit: DP-SGD with Poisson sampling; otherwise Keras forms the batches and no
    amplification is claimed (``shuffle``)."""
    if run.noise_multiplier == 0:
        return NonPrivate()
    return DpSgd(
        noise_multiplier=run.noise_multiplier,
        sampling_rate=run.update_batch / run.train_size,
        steps=run.train_steps,
        sampling=Sampling.POISSON if run.poisson_sampling_in_fit else Sampling.SHUFFLE,
    )


def jax_keras_epsilon(run: KerasRun) -> float:
    """``DPKerasConfig``'s ε: ``dpsgd_event(z, train_steps, sampling_prob = batch_size ·
    gradient_accumulation_steps / train_size)`` with ``PLDAccountant(1e-3)``, add-or-remove-one."""
    import dp_accounting

    if run.noise_multiplier == 0:
        return math.inf
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(
            run.update_batch / run.train_size,
            dp_accounting.GaussianDpEvent(run.noise_multiplier),
        ),
        run.train_steps,
    )
    accountant = dp_accounting.pld.PLDAccountant(
        value_discretization_interval=KERAS_PLD_DISCRETIZATION
    )
    return float(accountant.compose(event).get_epsilon(run.delta))


def _read_keras(
    fields: dict[str, Any], source: str, delta: float | None, version: str | None
) -> ImportedRun:
    run, delta_note = parse_keras(fields, source, delta)
    epsilon = jax_keras_epsilon(run)
    notes = [] if delta_note is None else [delta_note]
    if not run.poisson_sampling_in_fit:
        notes.append(
            "poisson_sampling_in_fit false: Keras' fit forms the batches, so privaudit claims no"
            " amplification by sampling (shuffle); JAX Privacy's figure assumes Poisson sampling"
        )
    if epsilon > run.epsilon + KERAS_EPSILON_TOLERANCE:
        notes.append(
            f"the configured epsilon {run.epsilon:g} is below JAX Privacy's own figure"
            f" {epsilon:.4f} for this noise multiplier by more than {KERAS_EPSILON_TOLERANCE:g}:"
            " DPKerasConfig would refuse this configuration"
        )
    figure = FrameworkFigure(
        name="jax-privacy",
        version=version,
        accountant="pld",
        epsilon=epsilon if math.isfinite(epsilon) else None,
        delta=run.delta,
        how=(
            "recomputed as JAX Privacy's DPKerasConfig accounts it (Poisson-sampled DP-SGD, PLD"
            f" at discretisation {KERAS_PLD_DISCRETIZATION:g}) with dp_accounting"
            f" {package_version('dp-accounting')}"
        ),
    )
    return ImportedRun(
        mechanisms=(keras_mechanism(run),),
        framework=figure,
        config=run.to_json(),
        privacy_unit="example",
        notes=tuple(notes),
    )
