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


Phone = Annotated[str, AfterValidator(_e164)]
Email = Annotated[EmailStr, StringConstraints(max_length=320)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100)]
