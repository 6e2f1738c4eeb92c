"""The policy's assessment fields, and the duties of an assessment they and the report answer.

A reviewer filing a data protection impact assessment (GDPR Art. 35(7)), the technical
documentation of a high-risk AI system (EU AI Act Art. 11 and Annex IV) or an evaluation under
NIST SP 800-226 looks for the same facts: who is responsible, for what purpose, on what legal
basis, about whom, for how long, and with what risks. The policy may state them (all optional);
this module lists what it states, word for word, and maps each duty to the policy fields and
report sections that answer it. A field the policy leaves out is "not provided": the report
never writes text the policy's authors did not.
"""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel, ConfigDict

from privaudit.policy import Policy

__all__ = ["DUTIES", "FIELDS", "Declared", "Duty", "declared_fields"]

FIELDS: Final = (
    ("controller", "Controller"),
    ("contact", "Contact (data protection officer)"),
    ("purpose", "Purpose of the processing"),
    ("legal_basis", "Legal basis"),
    ("data_categories", "Categories of personal data"),
    ("retention", "Retention"),
    ("people_affected", "People affected"),
    ("intended_use", "Intended use of the model"),
    ("misuse", "Foreseeable misuse"),
    ("review_date", "Next review"),
)
"""The policy's optional assessment fields, in the order the report lists them, with labels."""


class Declared(BaseModel):
    """One assessment field of the policy: its value as written, or ``None`` (not provided)."""

    model_config = ConfigDict(frozen=True)

    field: str
    label: str
    value: str | None


class Duty(BaseModel):
    """One item a regulator or guidance asks for, and where the report answers it."""

    model_config = ConfigDict(frozen=True)

    framework: str
    item: str
    asks: str
    fields: tuple[str, ...]
    """Policy fields that answer it (names of :data:`FIELDS`)."""
    sections: tuple[str, ...]
    """Report sections that answer it (ids of ``render.SECTIONS``)."""


_GDPR = "GDPR (DPIA)"
_AI_ACT = "EU AI Act"
_NIST = "NIST SP 800-226"

DUTIES: Final = (
    Duty(
        framework=_GDPR,
        item="Art. 35(7)(a)",
        asks="A systematic description of the processing and its purposes",
        fields=("controller", "purpose", "legal_basis", "data_categories", "retention"),
        sections=("s1", "s4", "s5"),
    ),
    Duty(
        framework=_GDPR,
        item="Art. 35(7)(b)",
        asks="The necessity and proportionality of the processing for its purposes",
        fields=("purpose", "retention"),
        sections=("s2", "s14"),
    ),
    Duty(
        framework=_GDPR,
        item="Art. 35(7)(c)",
        asks="The risks to the rights and freedoms of the people concerned",
        fields=("people_affected", "data_categories"),
        sections=("s3", "s6", "s13"),
    ),
    Duty(
        framework=_GDPR,
        item="Art. 35(7)(d)",
        asks="The measures, safeguards and security that address the risks, and the evidence"
        " of compliance",
        fields=(),
        sections=("s2", "s8", "s9", "s12", "s16"),
    ),
    Duty(
        framework=_GDPR,
        item="Art. 35(2), 39(1)(c)",
        asks="The advice of the data protection officer",
        fields=("contact",),
        sections=("s1",),
    ),
    Duty(
        framework=_GDPR,
        item="Art. 35(11)",
        asks="A review when the risk of the processing changes",
        fields=("review_date",),
        sections=("s4", "s7"),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 1(a)",
        asks="The intended purpose, the provider and the version of the system",
        fields=("intended_use", "controller"),
        sections=("s1",),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 2(b)",
        asks="Design choices, including the persons the system is intended to be used on",
        fields=("people_affected",),
        sections=("s5", "s8", "s9"),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 2(d), Art. 10",
        asks="The training data: its provenance, scope and main characteristics",
        fields=("data_categories",),
        sections=("s2", "s5"),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 2(g)",
        asks="Validation and testing procedures and their metrics",
        fields=(),
        sections=("s11", "s12"),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 3, Art. 9(2)(b)",
        asks="Capabilities and limitations; foreseeable misuse and unintended outcomes",
        fields=("misuse",),
        sections=("s3", "s13"),
    ),
    Duty(
        framework=_AI_ACT,
        item="Annex IV 9",
        asks="How the system is monitored after it is placed on the market",
        fields=("review_date",),
        sections=("s7",),
    ),
    Duty(
        framework=_NIST,
        item="Unit of privacy",
        asks="Whether the unit protected is a person or a smaller part of one",
        fields=(),
        sections=("s3", "s5"),
    ),
    Duty(
        framework=_NIST,
        item="Privacy parameters",
        asks="ε and δ small enough, δ well below 1/n, every release composed",
        fields=(),
        sections=("s2", "s4", "s8", "s14"),
    ),
    Duty(
        framework=_NIST,
        item="Implementation",
        asks="Floating-point and timing side channels, bugs in the private code",
        fields=(),
        sections=("s3", "s10", "s12"),
    ),
    Duty(
        framework=_NIST,
        item="Trust model and data collection",
        asks="Who sees the raw data before noise is added",
        fields=(),
        sections=("s9",),
    ),
    Duty(
        framework=_NIST,
        item="Data retention and access",
        asks="How long raw data is kept and who may access it",
        fields=("retention",),
        sections=(),
    ),
    Duty(
        framework=_NIST,
        item="Utility and bias",
        asks="The accuracy given up for privacy, and whether some groups lose more",
        fields=("people_affected",),
        sections=("s11",),
    ),
)
"""The duties the report maps, in the order it lists them."""


def declared_fields(policy: Policy) -> tuple[Declared, ...]:
    """Each assessment field of ``policy`` as written (lists joined by "; ", dates in ISO form),
    ``None`` where the policy does not provide it."""
    declared = []
    for name, label in FIELDS:
        value = getattr(policy, name)
        if isinstance(value, tuple):
            text = "; ".join(value) if value else None
        else:
            text = None if value is None else str(value)
        declared.append(Declared(field=name, label=label, value=text))
    return tuple(declared)
