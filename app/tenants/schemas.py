"""Bodies of the user directory API."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from app.schemas import Email, PersonName, Phone, RequestBody, ResponseBody


class UserPut(RequestBody):
    email: Email
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None


class UserOut(ResponseBody):
    external_id: str
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None
    created_at: datetime
    updated_at: datetime


class UserPage(ResponseBody):
    data: list[UserOut]
    next_cursor: str | None = Field(
        description="pass as `after` for the next page; null at the end"
    )
    has_more: bool
