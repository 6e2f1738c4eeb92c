"""Mechanism descriptions: JSON round trips, validation, a closed union, expansion semantics."""

from __future__ import annotations

import builtins
import importlib
import json
import math
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from privaudit.accounting.accountant import account
from privaudit.errors import InputError
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
    mechanism_from_json_text,
    mechanism_to_json,
    parse_mechanism,
)
from tests.accounting.oracles import gaussian_epsilon

PLD_TIGHTNESS = 0.005  # DESIGN.md: PLD within 0.5% of the exact value, never below it
GAUSSIAN: dict[str, Any] = {"type": "gaussian", "noise_multiplier": 1.0}

# --- strategies: random valid mechanism trees ----------------------------------------------

_positive = st.floats(min_value=0.0, exclude_min=True, allow_nan=False, allow_infinity=False)
_rate = st.floats(min_value=0.0, max_value=1.0, exclude_min=True)
_count = st.integers(min_value=1, max_value=10**6)


@st.composite
def _fixed_batch_dpsgd(draw: st.DrawFn) -> DpSgd:
    size = draw(st.integers(min_value=1, max_value=10**6))
    batch = draw(st.integers(min_value=1, max_value=size))
    return DpSgd(
        noise_multiplier=draw(_positive),
        sampling_rate=batch / size,
        steps=draw(_count),
        sampling=Sampling.FIXED_BATCH,
        dataset_size=size,
    )


@st.composite
def _sampled_without_replacement(draw: st.DrawFn, event: st.SearchStrategy[Any]) -> Any:
    source = draw(st.integers(min_value=1, max_value=10**6))
    return SampledWithoutReplacement(
        source_size=source,
        sample_size=draw(st.integers(min_value=1, max_value=source)),
        event=draw(event),
    )


@st.composite
def _distributed_gaussian(draw: st.DrawFn) -> DistributedGaussian:
    clients = draw(st.integers(min_value=1, max_value=10**4))
    return DistributedGaussian(
        noise_multiplier=draw(_positive),
        clients=clients,
        survivors=draw(st.integers(min_value=1, max_value=clients)),
        sampling_rate=draw(_rate),
        steps=draw(_count),
    )


_leaves: st.SearchStrategy[Any] = st.one_of(
    st.builds(Gaussian, noise_multiplier=_positive),
    st.builds(Laplace, scale=_positive),
    st.builds(
        RandomizedResponse,
        noise_parameter=_rate,
        num_buckets=st.integers(min_value=2, max_value=10**6),
    ),
    st.builds(NonPrivate),
    st.builds(
        DpSgd,
        noise_multiplier=_positive,
        sampling_rate=_rate,
        steps=_count,
        sampling=st.sampled_from([Sampling.POISSON, Sampling.SHUFFLE]),
    ),
    _fixed_batch_dpsgd(),
    st.builds(DpFedAvg, noise_multiplier=_positive, client_sampling_rate=_rate, rounds=_count),
    _distributed_gaussian(),
)


def _wrappers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.builds(PoissonSampled, sampling_rate=_rate, event=children),
        _sampled_without_replacement(children),
        st.builds(SelfComposed, event=children, count=_count),
        st.builds(Composed, events=st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.builds(
            Tuning,
            event=children,
            mean=st.floats(min_value=1.0, max_value=1e9),
            shape=st.none() | st.floats(min_value=0.0, max_value=1e6),
        ),
    )


mechanisms: st.SearchStrategy[Any] = st.recursive(_leaves, _wrappers, max_leaves=8)


# --- JSON round trip -----------------------------------------------------------------------


@given(mechanism=mechanisms)
def test_json_form_parses_back_to_an_equal_mechanism_with_an_equal_hash(
    mechanism: Mechanism,
) -> None:
    parsed = parse_mechanism(mechanism_to_json(mechanism))
    assert parsed == mechanism
    assert hash(parsed) == hash(mechanism)


@given(mechanism=mechanisms)
def test_json_text_round_trip_through_strict_loader(mechanism: Mechanism) -> None:
    text = json.dumps(mechanism_to_json(mechanism), allow_nan=False)
    assert mechanism_from_json_text(text) == mechanism


# --- validation ----------------------------------------------------------------------------


def _gaussian(sigma: object) -> dict[str, Any]:
    return {"type": "gaussian", "noise_multiplier": sigma}


def _dpsgd(**changes: object) -> dict[str, Any]:
    return {
        "type": "dpsgd",
        "noise_multiplier": 1.0,
        "sampling_rate": 0.01,
        "steps": 10,
        **changes,
    }


def _poisson(q: object) -> dict[str, Any]:
    return {"type": "poisson_sampled", "sampling_rate": q, "event": GAUSSIAN}


def _tuning(**changes: object) -> dict[str, Any]:
    return {"type": "tuning", "event": _dpsgd(), "mean": 10, **changes}


def _nested(depth: int) -> dict[str, Any]:
    data: dict[str, Any] = GAUSSIAN
    for _ in range(depth):
        data = {"type": "self_composed", "event": data, "count": 2}
    return data


# (data, field path the message must name, a word the problem must mention)
INVALID: dict[str, tuple[object, str, str]] = {
    "sigma zero": (_gaussian(0.0), "mechanism.noise_multiplier", "greater than 0"),
    "sigma negative": (_gaussian(-1.0), "mechanism.noise_multiplier", "greater than 0"),
    "sigma NaN": (_gaussian(math.nan), "mechanism.noise_multiplier", "NaN"),
    "sigma inf": (_gaussian(math.inf), "mechanism.noise_multiplier", "finite"),
    "sigma -inf": (_gaussian(-math.inf), "mechanism.noise_multiplier", "finite"),
    "nested sigma": (
        {"type": "poisson_sampled", "sampling_rate": 0.5, "event": _gaussian(-1.0)},
        "mechanism.event.noise_multiplier",
        "greater than 0",
    ),
    "q zero": (_poisson(0.0), "mechanism.sampling_rate", "greater than 0"),
    "q above one": (_poisson(1.5), "mechanism.sampling_rate", "less than or equal to 1"),
    "dpsgd q zero": (_dpsgd(sampling_rate=0.0), "mechanism.sampling_rate", "greater than 0"),
    "fedavg q above one": (
        {"type": "dpfedavg", "noise_multiplier": 1.0, "client_sampling_rate": 1.01, "rounds": 3},
        "mechanism.client_sampling_rate",
        "less than or equal to 1",
    ),
    "steps 10.5": (_dpsgd(steps=10.5), "mechanism.steps", "integer"),
    "steps 10.0": (_dpsgd(steps=10.0), "mechanism.steps", "integer"),
    "steps zero": (_dpsgd(steps=0), "mechanism.steps", "greater than or equal to 1"),
    "bool for an int": (_dpsgd(steps=True), "mechanism.steps", "integer"),
    "bool for count": (
        {"type": "self_composed", "event": GAUSSIAN, "count": True},
        "mechanism.count",
        "integer",
    ),
    "string for a number": (_gaussian("1.0"), "mechanism.noise_multiplier", "number"),
    "unknown field": (
        {**GAUSSIAN, "x": 1},
        "mechanism.x",
        "unknown field",
    ),
    "unknown field in a list": (
        {"type": "composed", "events": [GAUSSIAN, {**GAUSSIAN, "x": 1}]},
        "mechanism.events[1].x",
        "unknown field",
    ),
    "unknown type os.system": (
        {"type": "os.system", "noise_multiplier": 1.0},
        "mechanism.type",
        "'os.system'",
    ),
    "unknown type __import__": (
        {"type": "__import__"},
        "mechanism.type",
        "'__import__'",
    ),
    "unknown nested type": (
        {"type": "self_composed", "event": {"type": "subprocess.run"}, "count": 2},
        "mechanism.event.type",
        "'subprocess.run'",
    ),
    "missing type": ({"noise_multiplier": 1.0}, "mechanism", "missing 'type'"),
    "survivors above clients": (
        {"type": "distributed_gaussian", "noise_multiplier": 1.0, "clients": 3, "survivors": 4},
        "mechanism",
        "survivors",
    ),
    "sample above source": (
        {
            "type": "sampled_without_replacement",
            "source_size": 3,
            "sample_size": 4,
            "event": GAUSSIAN,
        },
        "mechanism",
        "sample_size",
    ),
    "fixed_batch without dataset_size": (
        _dpsgd(sampling="fixed_batch"),
        "mechanism",
        "dataset_size",
    ),
    "tuning mean zero": (_tuning(mean=0), "mechanism.mean", "greater than or equal to 1"),
    "tuning mean negative": (_tuning(mean=-3.0), "mechanism.mean", "greater than or equal to 1"),
    "tuning mean below one": (_tuning(mean=0.5), "mechanism.mean", "greater than or equal to 1"),
    "tuning mean NaN": (_tuning(mean=math.nan), "mechanism.mean", "NaN"),
    "tuning mean inf": (_tuning(mean=math.inf), "mechanism.mean", "finite"),
    "tuning mean missing": (
        {"type": "tuning", "event": GAUSSIAN},
        "mechanism.mean",
        "required",
    ),
    "tuning shape negative": (_tuning(shape=-0.5), "mechanism.shape", "greater than or equal to 0"),
    "tuning shape NaN": (_tuning(shape=math.nan), "mechanism.shape", "NaN"),
    "tuning shape inf": (_tuning(shape=math.inf), "mechanism.shape", "finite"),
    "tuning shape a string": (_tuning(shape="poisson"), "mechanism.shape", "number"),
    "tuning bad candidate": (
        _tuning(event=_gaussian(0.0)),
        "mechanism.event.noise_multiplier",
        "greater than 0",
    ),
    "fixed_batch with a fractional batch": (
        _dpsgd(sampling="fixed_batch", sampling_rate=0.013, dataset_size=100),
        "mechanism",
        "whole batch size",
    ),
    "unknown sampling": (_dpsgd(sampling="bogus"), "mechanism.sampling", "'bogus'"),
    "empty composed": ({"type": "composed", "events": []}, "mechanism.events", "at least 1"),
    "too deep": (_nested(40), "mechanism.event.event", "nested deeper"),
    "not an object": ([GAUSSIAN], "mechanism", "dictionary"),
}


@pytest.mark.parametrize(("data", "path", "problem"), INVALID.values(), ids=INVALID.keys())
def test_invalid_data_is_refused_at_parse_naming_the_field(
    data: object, path: str, problem: str
) -> None:
    with pytest.raises(InputError) as caught:
        parse_mechanism(data, "ledger.jsonl")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"ledger.jsonl: {path}")
    assert caught.value.field is not None and caught.value.field.startswith(path)
    assert problem in caught.value.problem


def test_a_field_deep_inside_a_tree_is_named_by_its_full_path() -> None:
    data = {
        "type": "composed",
        "events": [
            GAUSSIAN,
            {"type": "self_composed", "count": 3, "event": _poisson(2.0)},
        ],
    }
    with pytest.raises(InputError) as caught:
        parse_mechanism(data)
    assert caught.value.field == "mechanism.events[1].event.sampling_rate"


def test_a_deep_but_bounded_tree_is_accepted() -> None:
    assert isinstance(parse_mechanism(_nested(25)), SelfComposed)


@pytest.mark.parametrize("text", ['{"type": "gaussian", "noise_multiplier": NaN}', "Infinity"])
def test_json_text_with_non_json_constants_is_refused(text: str) -> None:
    with pytest.raises(InputError, match="expected a finite number"):
        mechanism_from_json_text(text)


def test_json_text_with_duplicate_keys_is_refused() -> None:
    with pytest.raises(InputError, match=r"found 'noise_multiplier' twice"):
        mechanism_from_json_text(
            '{"type": "gaussian", "noise_multiplier": 1, "noise_multiplier": 9}'
        )


_G = Gaussian(noise_multiplier=1.0)
CONSTRUCTIONS: dict[str, tuple[type[Any], dict[str, Any]]] = {
    "sigma zero": (Gaussian, {"noise_multiplier": 0.0}),
    "sigma NaN": (Gaussian, {"noise_multiplier": math.nan}),
    "sigma inf": (Gaussian, {"noise_multiplier": math.inf}),
    "laplace scale negative": (Laplace, {"scale": -1.0}),
    "q zero": (PoissonSampled, {"sampling_rate": 0.0, "event": _G}),
    "q above one": (DpSgd, {"noise_multiplier": 1.0, "sampling_rate": 1.5, "steps": 1}),
    "steps 10.5": (DpSgd, {"noise_multiplier": 1.0, "sampling_rate": 0.1, "steps": 10.5}),
    "steps 10.0": (DpSgd, {"noise_multiplier": 1.0, "sampling_rate": 0.1, "steps": 10.0}),
    "bool for an int": (SelfComposed, {"event": _G, "count": True}),
    "string for a number": (Gaussian, {"noise_multiplier": "1.0"}),
    "unknown field": (Gaussian, {"noise_multiplier": 1.0, "x": 1}),
    "survivors above clients": (
        DistributedGaussian,
        {"noise_multiplier": 1.0, "clients": 2, "survivors": 3},
    ),
    "sample above source": (
        SampledWithoutReplacement,
        {"source_size": 2, "sample_size": 3, "event": _G},
    ),
    "fixed_batch without dataset_size": (
        DpSgd,
        {"noise_multiplier": 1.0, "sampling_rate": 0.1, "steps": 1, "sampling": "fixed_batch"},
    ),
    "empty composed": (Composed, {"events": ()}),
    "tuning mean zero": (Tuning, {"event": _G, "mean": 0.0}),
    "tuning mean NaN": (Tuning, {"event": _G, "mean": math.nan}),
    "tuning shape negative": (Tuning, {"event": _G, "mean": 2.0, "shape": -1.0}),
}


@pytest.mark.parametrize(("model", "kwargs"), CONSTRUCTIONS.values(), ids=CONSTRUCTIONS.keys())
def test_invalid_parameters_are_refused_when_the_model_is_built(
    model: type[Any], kwargs: dict[str, Any]
) -> None:
    # Built in Python the models raise Pydantic's ValidationError; parse_mechanism is the path
    # that turns the same problems into one-line InputErrors (tested above).
    with pytest.raises(ValidationError):
        model(**kwargs)


# --- the union is closed: parsing never imports --------------------------------------------

HOSTILE_TYPES = (
    "os.system",
    "__import__",
    "subprocess.Popen",
    "importlib.import_module",
    "builtins.eval",
    "smtplib.SMTP",
    "tabnanny",
    "xmlrpc.client.ServerProxy",
    "privaudit.cli",
    "dp_accounting.dp_event.GaussianDpEvent",
)


@pytest.fixture
def imports_recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every module name passed to ``__import__`` or ``importlib.import_module``."""
    names: list[str] = []
    real_import = builtins.__import__
    real_import_module = importlib.import_module

    def recording_import(name: str, *args: Any, **kwargs: Any) -> Any:
        names.append(name)
        return real_import(name, *args, **kwargs)

    def recording_import_module(name: str, package: str | None = None) -> Any:
        names.append(name)
        return real_import_module(name, package)

    # Warm up lazy imports of the validation machinery with harmless bad input first.
    for benign in ({"type": "nope"}, {}, _gaussian(-1.0)):
        with pytest.raises(InputError):
            parse_mechanism(benign)
    monkeypatch.setattr(builtins, "__import__", recording_import)
    monkeypatch.setattr(importlib, "import_module", recording_import_module)
    yield names


@pytest.mark.parametrize("name", HOSTILE_TYPES)
def test_a_type_naming_a_module_is_refused_without_importing(
    name: str, imports_recorded: list[str]
) -> None:
    before = set(sys.modules)
    hostile = [
        {"type": name},
        {"type": name, "noise_multiplier": 1.0},
        {"type": "poisson_sampled", "sampling_rate": 0.5, "event": {"type": name}},
        {"type": "composed", "events": [GAUSSIAN, {"type": name, "args": ["id"]}]},
    ]
    for data in hostile:
        with pytest.raises(InputError, match="unknown mechanism type"):
            parse_mechanism(data)
    assert set(sys.modules) - before == set()
    assert not [n for n in imports_recorded if n.split(".")[0] == name.split(".")[0]]


# --- expansion semantics -------------------------------------------------------------------


def test_dpsgd_poisson_expands_to_self_composed_poisson_sampled_gaussian() -> None:
    run = DpSgd(noise_multiplier=1.1, sampling_rate=0.004, steps=250)
    assert run.expand() == SelfComposed(
        event=PoissonSampled(sampling_rate=0.004, event=Gaussian(noise_multiplier=1.1)),
        count=250,
    )


def test_dpsgd_poisson_is_the_default_sampling() -> None:
    assert DpSgd(noise_multiplier=1.0, sampling_rate=0.1, steps=2).sampling is Sampling.POISSON


def test_dpfedavg_expands_with_client_sampling_rate_and_rounds() -> None:
    run = DpFedAvg(noise_multiplier=0.9, client_sampling_rate=0.05, rounds=40)
    assert run.expand() == SelfComposed(
        event=PoissonSampled(sampling_rate=0.05, event=Gaussian(noise_multiplier=0.9)),
        count=40,
    )


@pytest.mark.parametrize(
    ("z", "clients", "survivors"), [(1.0, 10, 10), (2.0, 10, 7), (0.8, 100, 1), (3.0, 4, 2)]
)
def test_distributed_gaussian_effective_multiplier_is_z_sqrt_survivors_over_clients(
    z: float, clients: int, survivors: int
) -> None:
    mechanism = DistributedGaussian(noise_multiplier=z, clients=clients, survivors=survivors)
    expected = z * math.sqrt(survivors / clients)
    assert mechanism.effective_noise_multiplier == pytest.approx(expected, rel=1e-12)
    expanded = mechanism.expand()
    assert isinstance(expanded, Gaussian)
    assert expanded.noise_multiplier == pytest.approx(expected, rel=1e-12)


def test_distributed_gaussian_with_sampling_and_steps_wraps_the_effective_gaussian() -> None:
    mechanism = DistributedGaussian(
        noise_multiplier=2.0, clients=8, survivors=2, sampling_rate=0.1, steps=5
    )
    expanded = mechanism.expand()
    assert isinstance(expanded, SelfComposed) and expanded.count == 5
    assert isinstance(expanded.event, PoissonSampled) and expanded.event.sampling_rate == 0.1
    assert isinstance(expanded.event.event, Gaussian)
    assert expanded.event.event.noise_multiplier == pytest.approx(1.0, rel=1e-12)


def test_distributed_gaussian_without_dropouts_costs_what_central_noise_costs() -> None:
    z, delta = 1.5, 1e-6
    distributed = account(
        [DistributedGaussian(noise_multiplier=z, clients=16, survivors=16)], delta
    ).epsilon
    central = account([Gaussian(noise_multiplier=z)], delta).epsilon
    exact = gaussian_epsilon(delta, 1 / z)
    assert distributed == central
    assert exact <= distributed <= exact * (1 + PLD_TIGHTNESS) + 1e-4


def test_distributed_gaussian_with_dropouts_is_never_understated() -> None:
    z, clients, survivors, delta = 1.5, 16, 9, 1e-6
    with_dropouts = account(
        [DistributedGaussian(noise_multiplier=z, clients=clients, survivors=survivors)], delta
    ).epsilon
    central = gaussian_epsilon(delta, 1 / z)
    exact = gaussian_epsilon(delta, 1 / (z * math.sqrt(survivors / clients)))
    assert with_dropouts > central * (1 + PLD_TIGHTNESS)
    assert exact <= with_dropouts <= exact * (1 + PLD_TIGHTNESS) + 1e-4


@pytest.mark.parametrize(
    ("steps", "q", "epochs"),
    [(100, 0.01, 1), (101, 0.01, 2), (30, 0.1, 3), (10, 0.25, 3), (3, 0.1, 1), (1, 1.0, 1)],
)
def test_dpsgd_shuffle_accounts_one_gaussian_per_started_epoch(
    steps: int, q: float, epochs: int
) -> None:
    run = DpSgd(noise_multiplier=2.0, sampling_rate=q, steps=steps, sampling=Sampling.SHUFFLE)
    assert run.epochs == epochs
    gaussian = Gaussian(noise_multiplier=2.0)
    expected = gaussian if epochs == 1 else SelfComposed(event=gaussian, count=epochs)
    assert run.expand() == expected


def test_dpsgd_fixed_batch_samples_the_batch_size_without_replacement() -> None:
    run = DpSgd(
        noise_multiplier=1.1,
        sampling_rate=256 / 60000,
        steps=50,
        sampling=Sampling.FIXED_BATCH,
        dataset_size=60000,
    )
    assert run.expand() == SelfComposed(
        event=SampledWithoutReplacement(
            source_size=60000, sample_size=256, event=Gaussian(noise_multiplier=1.1)
        ),
        count=50,
    )


def test_one_step_is_not_wrapped_in_self_composed() -> None:
    run = DpSgd(noise_multiplier=1.0, sampling_rate=0.5, steps=1)
    assert run.expand() == PoissonSampled(sampling_rate=0.5, event=Gaussian(noise_multiplier=1.0))


def test_tuning_json_form_and_description() -> None:
    run = DpSgd(noise_multiplier=1.1, sampling_rate=0.01, steps=100)
    poisson = parse_mechanism({"type": "tuning", "event": mechanism_to_json(run), "mean": 10})
    assert poisson == Tuning(event=run, mean=10.0)
    assert poisson.shape is None
    assert mechanism_to_json(poisson) == {
        "type": "tuning",
        "event": mechanism_to_json(run),
        "mean": 10.0,
        "shape": None,
    }
    assert poisson.describe() == f"tuning({run.describe()}, mean=10, poisson)"
    logarithmic = Tuning(event=Gaussian(noise_multiplier=2.0), mean=4.5, shape=0)
    text = json.dumps(mechanism_to_json(logarithmic))
    assert mechanism_from_json_text(text) == logarithmic
    assert logarithmic.describe() == "tuning(gaussian(noise_multiplier=2), mean=4.5, shape=0)"
    inside = SelfComposed(event=logarithmic, count=2)
    assert inside.describe() == f"self_composed({logarithmic.describe()}, count=2)"
    assert poisson.expand() is poisson


def test_core_nodes_expand_to_themselves() -> None:
    node = SelfComposed(event=Laplace(scale=2.0), count=3)
    assert node.expand() is node


# --- immutability --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mechanism", "field", "value"),
    [
        (Gaussian(noise_multiplier=1.0), "noise_multiplier", 2.0),
        (DpSgd(noise_multiplier=1.0, sampling_rate=0.1, steps=3), "steps", 4),
        (Composed(events=(NonPrivate(),)), "events", ()),
    ],
)
def test_mechanisms_are_frozen(mechanism: Mechanism, field: str, value: object) -> None:
    before = mechanism_to_json(mechanism)
    with pytest.raises(ValidationError, match="frozen"):
        setattr(mechanism, field, value)
    assert mechanism_to_json(mechanism) == before


def test_composed_events_are_an_immutable_tuple() -> None:
    node = Composed.model_validate({"type": "composed", "events": [GAUSSIAN]})
    assert isinstance(node.events, tuple)
