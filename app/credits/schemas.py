"""Bodies of the credits API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.credits.models import CreditKind
from app.envelopes.models import Level
from app.schemas import ResponseBody


class BalanceOut(ResponseBody):
    available: int = Field(description="what a new send can still reserve")
    reserved: int = Field(description="held by envelopes in progress, one per signer yet to sign")
    consumed: int = Field(description="spent: signers who signed")


class CreditsOut(ResponseBody):
    """Per paid level; `simple` costs nothing."""

    eidas_simple: BalanceOut
    eidas_advanced: BalanceOut


class CreditEntryOut(ResponseBody):
    id: int
    level: Level
    kind: CreditKind
    amount: int
    envelope_id: uuid.UUID | None
    recipient_id: uuid.UUID | None
    reason: str | None
    created_at: datetime


class CreditLedgerPage(ResponseBody):
    data: list[CreditEntryOut] = Field(description="oldest first")
    next_cursor: str | None = Field(description="pass as cursor for the next page")
    has_more: bool
