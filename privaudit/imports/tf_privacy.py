"""TensorFlow Privacy's DP-SGD privacy statement arguments (JSON or YAML) → ledger entries and
the ε TF Privacy's statement prints.

The file holds the arguments of ``compute_dp_sgd_privacy_statement`` under their own names
(``tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_lib.py``, unchanged from TF Privacy
0.9.0, commit 99c25e3 of 2024-05-13, to the mirror read here, 03035d5)::

    number_of_examples: 60000      # int, the training set size
    batch_size: 256                # int, examples per iteration (microbatched or not)
    num_epochs: 15                 # number > 0, may be fractional
    noise_multiplier: 1.1          # noise std / L2 clip norm, >= 0
    delta: 1.0e-5                  # optional here: else --delta
    used_microbatching: true       # default true, as in TF Privacy
    max_examples_per_user: null    # int >= 1 or null (default)
    accountant_type: RDP           # "RDP" (default) or "PLD": AccountantType's values

What the statement computes (``_compute_dp_sgd_example_privacy``), replicated here exactly:

- microbatching halves the noise multiplier: with microbatches of more than one example the
  L2 sensitivity under add-or-remove-one is twice the clip norm (Ponomareva et al. 2023, "How to
  DP-fy ML", arXiv:2303.00654, Sec. 5.6; TF Privacy's ``noise_multiplier /= 2``);
- "Epsilon with each example occurring once per epoch" (printed first, the conservative line):
  ``SelfComposed(Gaussian(z'), int(ceil(num_epochs)))`` with z' the (halved) multiplier;
- "Epsilon assuming Poisson sampling (*)": q = batch_size / number_of_examples and
  ``SelfComposed(PoissonSampled(q, Gaussian(z')), int(ceil(num_epochs / q)))``;
- both with ``RdpAccountant()`` (dp_accounting's default orders) or ``PLDAccountant()`` (its
  default discretisation 1e-4), add-or-remove-one, at ``delta``;
- with ``max_examples_per_user`` k: user-level figures by group privacy. k = 1 repeats the
  example-level figure; once-per-epoch uses the multiplier z/k (all k examples in one round);
  Poisson with RDP uses Vadhan 2017 ("The complexity of differential privacy", Lemma 2.2) with a
  line search for the example-level δ; Poisson with PLD composes a mixture of Gaussians with
  sensitivities 0..k weighted Binomial(k, q) (Ganesh 2024, arXiv:2401.10294, Thm. 3.1).

What privaudit records: the release TF Privacy calls conservative and prints first, i.e. each
example in at most one batch per epoch, with no amplification by sampling claimed, as exactly
``self_composed(gaussian(z'), ceil(num_epochs))``. The arguments cannot show that batches were
Poisson-sampled (TF Privacy itself says it "is not usually done in training pipelines"), so the
Poisson figure is kept in ``config`` and a note, never certified. Group (user-level) privacy is
not expressible in privaudit's mechanisms: the entries stay example-level, and TF Privacy's
user-level figures go in ``config`` with a note saying they are TF Privacy's, not privaudit's.

``config`` is the arguments as used (defaults filled in, δ as chosen) plus ``statement``: the
four ε the statement prints (``null`` where it prints none, ``"inf"`` where it prints inf).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from privaudit.errors import InputError
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
    resolve_delta,
)
from privaudit.mechanisms import Gaussian, Mechanism, NonPrivate, SelfComposed

ARGUMENTS = (
    "number_of_examples",
    "batch_size",
    "num_epochs",
    "noise_multiplier",
    "delta",
    "used_microbatching",
    "max_examples_per_user",
    "accountant_type",
)
"""The parameters of ``compute_dp_sgd_privacy_statement``, in its order."""

ACCOUNTANT_TYPES = ("RDP", "PLD")
"""``compute_dp_sgd_privacy_lib.AccountantType`` values."""

_SOURCE_PATH = "tensorflow_privacy/privacy/analysis/compute_dp_sgd_privacy_lib.py"


@dataclass(frozen=True)
class StatementArguments:
    """The validated arguments of ``compute_dp_sgd_privacy_statement``."""

    number_of_examples: int
    batch_size: int
    num_epochs: float
    noise_multiplier: float
    delta: float
    used_microbatching: bool = True
    max_examples_per_user: int | None = None
    accountant_type: str = "RDP"

    @property
    def sampling_probability(self) -> float:
        """q = batch_size / number_of_examples, as the statement computes it."""
        return self.batch_size / self.number_of_examples

    @property
    def effective_noise_multiplier(self) -> float:
        """The multiplier relative to the add-or-remove-one sensitivity: halved with
        microbatching (``_compute_dp_sgd_example_privacy``: ``noise_multiplier /= 2``)."""
        return self.noise_multiplier / 2 if self.used_microbatching else self.noise_multiplier

    @property
    def epochs(self) -> int:
        """Releases per example under "once per epoch": ``int(math.ceil(num_epochs))``."""
        return math.ceil(self.num_epochs)

    @property
    def poisson_steps(self) -> int:
        """Steps of the Poisson figure: ``int(math.ceil(num_epochs / q))``."""
        return math.ceil(self.num_epochs / self.sampling_probability)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in ARGUMENTS}


@dataclass(frozen=True)
class Statement:
    """The ε figures ``compute_dp_sgd_privacy_statement`` prints (``inf`` where it prints inf;
    None where it prints no user-level figure or fails to compute one)."""

    example_once_per_epoch: float
    example_poisson: float
    user_once_per_epoch: float | None = None
    user_poisson: float | None = None

    def to_json(self) -> dict[str, float | str | None]:
        def plain(value: float | None) -> float | str | None:
            return "inf" if value is not None and math.isinf(value) else value

        return {
            "example_epsilon_once_per_epoch": plain(self.example_once_per_epoch),
            "example_epsilon_poisson": plain(self.example_poisson),
            "user_epsilon_once_per_epoch": plain(self.user_once_per_epoch),
            "user_epsilon_poisson": plain(self.user_poisson),
        }


def read_tf_privacy(path: str | Path, *, delta: float | None = None) -> ImportedRun:
    """Read the arguments of TF Privacy's ``compute_dp_sgd_privacy_statement`` from ``path``.
    ``delta`` (``--delta``) is used when the file carries none."""
    source = str(path)
    data, _ = read_structured(path, Format.TF_PRIVACY)
    args, delta_note = parse_arguments(data, source, delta)
    statement = compute_statement(args)
    notes = [] if delta_note is None else [delta_note]
    notes.extend(_notes(args, statement))
    epsilon = statement.example_once_per_epoch
    figure = FrameworkFigure(
        name="tf-privacy",
        version=None,
        accountant=args.accountant_type.lower(),
        epsilon=epsilon if math.isfinite(epsilon) else None,
        delta=args.delta,
        how=(
            "recomputed as TF Privacy's compute_dp_sgd_privacy_statement prints it first"
            f" ('Epsilon with each example occurring once per epoch', {args.accountant_type}"
            f" accounting; {_SOURCE_PATH} of TF Privacy 0.9.0) with dp_accounting"
            f" {version('dp-accounting')}"
            + ("" if math.isfinite(epsilon) else "; TF Privacy prints inf")
        ),
    )
    return ImportedRun(
        mechanisms=(example_release(args),),
        framework=figure,
        config={**args.to_json(), "statement": statement.to_json()},
        privacy_unit="example",
        notes=tuple(notes),
    )


def parse_arguments(
    data: object, source: str, delta: float | None = None
) -> tuple[StatementArguments, str | None]:
    """Validate the file's plain data into statement arguments (and a note on δ, if any)."""
    fields = require_fields(data, set(ARGUMENTS), source)
    number_of_examples = int(
        require_number(fields, "number_of_examples", source, minimum=1, integer=True)
    )
    batch_size = int(require_number(fields, "batch_size", source, minimum=1, integer=True))
    if batch_size > number_of_examples:
        raise InputError(
            source,
            "batch_size",
            f"must be <= number_of_examples ({number_of_examples}) so that the sampling"
            f" probability batch_size / number_of_examples is at most 1; found {batch_size}",
        )
    num_epochs = require_number(fields, "num_epochs", source, above=0)
    noise_multiplier = require_number(fields, "noise_multiplier", source, minimum=0)
    chosen_delta, delta_note = resolve_delta(fields, "delta", source, delta)
    used_microbatching = require_bool(fields, "used_microbatching", source, default=True)
    max_examples_per_user = optional_integer(fields, "max_examples_per_user", source, minimum=1)
    accountant_type = require_choice(
        fields, "accountant_type", source, ACCOUNTANT_TYPES, default="RDP"
    )
    args = StatementArguments(
        number_of_examples=number_of_examples,
        batch_size=batch_size,
        num_epochs=num_epochs,
        noise_multiplier=noise_multiplier,
        delta=chosen_delta,
        used_microbatching=used_microbatching,
        max_examples_per_user=max_examples_per_user,
        accountant_type=accountant_type,
    )
    return args, delta_note


def example_release(args: StatementArguments) -> Mechanism:
    """The example-level release privaudit records: TF Privacy's "each example occurring once
    per epoch" event, ``ceil(num_epochs)`` Gaussian releases at the effective multiplier (no
    amplification by sampling). Noise 0 is a release without any guarantee."""
    z = args.effective_noise_multiplier
    if z == 0:
        return NonPrivate()
    gaussian = Gaussian(noise_multiplier=z)
    return gaussian if args.epochs == 1 else SelfComposed(event=gaussian, count=args.epochs)


def compute_statement(args: StatementArguments) -> Statement:
    """The ε figures of ``compute_dp_sgd_privacy_statement(**args)`` (see the module docstring)."""
    q = args.sampling_probability
    once = example_epsilon(args, args.delta, None)
    poisson = example_epsilon(args, args.delta, q)
    k = args.max_examples_per_user
    if k is None:
        return Statement(once, poisson)
    return Statement(once, poisson, _user_epsilon(args, k, None), _user_epsilon(args, k, q))


def example_epsilon(
    args: StatementArguments,
    delta: float,
    q: float | None,
    *,
    noise_multiplier: float | None = None,
    accountant_type: str | None = None,
) -> float:
    """``_compute_dp_sgd_example_privacy(num_epochs, noise_multiplier, delta,
    used_microbatching, q, accountant_type)``: add-or-remove-one ε at ``delta``."""
    import dp_accounting

    z = args.noise_multiplier if noise_multiplier is None else noise_multiplier
    if args.used_microbatching:
        z /= 2  # TF Privacy: "TODO(b/271462792)"; sensitivity doubles with microbatches
    if z == 0:
        return math.inf
    event: Any = dp_accounting.GaussianDpEvent(z)
    if q is not None:
        event = dp_accounting.PoissonSampledDpEvent(sampling_probability=q, event=event)
        count = math.ceil(args.num_epochs / q)
    else:
        count = math.ceil(args.num_epochs)
    event = dp_accounting.SelfComposedDpEvent(count=count, event=event)
    accountant = _accountant(accountant_type or args.accountant_type)
    return float(accountant.compose(event).get_epsilon(delta))


def _accountant(accountant_type: str) -> Any:
    import dp_accounting

    if accountant_type == "RDP":
        return dp_accounting.rdp.RdpAccountant()
    return dp_accounting.pld.PLDAccountant()


def _user_epsilon(args: StatementArguments, k: int, q: float | None) -> float | None:
    """``_compute_dp_sgd_user_privacy``: TF Privacy's user-level ε by group privacy."""
    if k == 1:
        # "Don't unnecessarily inflate epsilon if one example per user."
        return example_epsilon(args, args.delta, q)
    if q is None:
        # All k examples in one round: the sensitivity grows k-fold.
        return example_epsilon(args, args.delta, None, noise_multiplier=args.noise_multiplier / k)
    if args.accountant_type == "RDP":
        return _group_epsilon_rdp(args, k, q)
    return _group_epsilon_pld(args, k, q)


def _logexpm1(x: float) -> float:
    """log(exp(x) − 1), as TF Privacy's ``_logexpm1``."""
    return x + math.log(-math.expm1(-x))


def _group_epsilon_rdp(args: StatementArguments, k: int, q: float) -> float | None:
    """``_compute_dp_sgd_group_privacy_using_rdp``: Vadhan 2017, Lemma 2.2 (the tighter form in
    the proof's penultimate line, δ_user = δ·(e^{kε} − 1)/(e^ε − 1), ε_user = kε), with the
    example-level δ found by TF Privacy's exponential bracket and Brent's method in log δ.
    None when TF Privacy's search fails (its statement then raises)."""
    from scipy import optimize

    target = math.log(args.delta)

    @functools.cache
    def example_eps(log_delta: float) -> float:
        return example_epsilon(args, math.exp(log_delta), q, accountant_type="RDP")

    def gap(log_delta: float) -> float:
        eps = example_eps(log_delta)
        return log_delta + _logexpm1(k * eps) - _logexpm1(eps) - target

    if not math.isfinite(example_eps(target)):
        return math.inf
    high = target
    low = high - math.log(10)
    gap_low = gap(low)
    while gap_low > 0:
        high = low - gap_low
        low = high - math.log(10)
        gap_low = gap(low)
        if not math.isfinite(gap_low):
            return math.inf  # TF Privacy: no finite user-level bound (it warns and prints inf)
    low -= gap_low
    try:
        root, result = optimize.brentq(gap, low, high, full_output=True)
    except (RuntimeError, ValueError):
        return None
    if not result.converged:
        return None
    return k * example_eps(float(root))


def _group_epsilon_pld(args: StatementArguments, k: int, q: float) -> float:
    """``_compute_dp_sgd_group_privacy_using_pld``: Ganesh 2024 (arXiv:2401.10294), Thm. 3.1.
    A user's examples join a round Binomial(k, q) at a time, pessimistically in distinct
    microbatches: a mixture of Gaussians with sensitivities 0..k."""
    import dp_accounting
    from scipy import stats

    z = args.effective_noise_multiplier
    if z == 0:
        return math.inf
    sensitivities = range(k + 1)
    probabilities = stats.binom.pmf(sensitivities, k, q)
    event = dp_accounting.dp_event.MixtureOfGaussiansDpEvent(z, sensitivities, probabilities)
    accountant = dp_accounting.pld.PLDAccountant()
    accountant.compose(event, math.ceil(args.num_epochs / q))
    return float(accountant.get_epsilon(args.delta))


def _notes(args: StatementArguments, statement: Statement) -> list[str]:
    z = args.effective_noise_multiplier
    if z == 0:
        return [
            "noise_multiplier 0: the run has no differential-privacy guarantee and is recorded"
            " as non_private (TF Privacy prints inf)"
        ]
    halved = " (noise_multiplier/2: microbatching doubles the sensitivity)"
    notes = [
        f"recorded without amplification by sampling: {args.epochs} Gaussian release(s) per"
        f" example at noise multiplier {z:g}{halved if args.used_microbatching else ''}, TF"
        " Privacy's 'once per epoch' event; its 'assuming Poisson sampling' figure"
        f" ε = {_shown(statement.example_poisson)} (q = {args.sampling_probability:g},"
        f" {args.poisson_steps} steps) needs Poisson-sampled batches, which these arguments"
        " cannot show, and is not certified by privaudit"
    ]
    k = args.max_examples_per_user
    if k is not None and k > 1:
        notes.append(
            f"user-level (at most {k} examples per user): the guarantee ε ="
            f" {_shown(statement.user_once_per_epoch)} (once per epoch) /"
            f" {_shown(statement.user_poisson)} (Poisson) at δ = {args.delta:g} is TF Privacy's"
            " group-privacy figure, not certified by privaudit; the ledger entries are"
            " example-level"
        )
    return notes


def _shown(value: float | None) -> str:
    if value is None:
        return "not computable (TF Privacy's search fails)"
    return "inf" if math.isinf(value) else f"{value:.3f}"
