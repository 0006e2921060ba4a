"""Shared pydantic building blocks for request and response bodies."""

from __future__ import annotations

from typing import Annotated

import phonenumbers
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, StringConstraints


class RequestBody(BaseModel):
    """Unknown fields are refused, so a client cannot set what it must not (tenant_id, status)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class ResponseBody(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone must be in E.164 form, e.g. +33612345678") from exc
    if not value.startswith("+") or not phonenumbers.is_valid_number(number):
        raise ValueError("phone must be a valid number in E.164 form, e.g. +33612345678")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Control characters have no place in names and identifiers (and PostgreSQL refuses NUL in
# text); a message may keep its line breaks and tabs. Nor do the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069): they reorder what follows them, so a
# name shown in an email, the evidence PDF or a stamp could read differently from what was
# typed ("Trojan Source"). The marks U+200E, U+200F and U+061C stay allowed: they change no
# order beyond their own position, and right-to-left text needs them around digits and Latin.
# Written as escapes, so the patterns in the OpenAPI document are plain ASCII.
BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"
NO_CONTROL_CHARACTERS = rf"^[^\x00-\x1f\x7f{BIDI_CONTROLS}]*$"
NO_CONTROL_BUT_WHITESPACE = rf"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f{BIDI_CONTROLS}]*$"


def one_line(min_length: int, max_length: int) -> StringConstraints:
    return StringConstraints(
        min_length=min_length, max_length=max_length, pattern=NO_CONTROL_CHARACTERS
    )


Phone = Annotated[str, AfterValidator(_e164)]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]
PersonName = Annotated[str, one_line(1, 100)]
ExternalId = Annotated[str, one_line(1, 255)]
Paragraphs = Annotated[str, StringConstraints(max_length=5000, pattern=NO_CONTROL_BUT_WHITESPACE)]
