"""The tenant's credits for eIDAS signatures: balances, and the ledger behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import PrincipalDep, SessionDep
from app.api.problems import problems
from app.credits.schemas import BalanceOut, CreditEntryOut, CreditLedgerPage, CreditsOut
from app.credits.service import Balance, balances, ledger_page
from app.envelopes.models import Level
from app.errors import BadRequest

router = APIRouter(prefix="/v1/credits", tags=["credits"])


@router.get("", response_model=CreditsOut, operation_id="getCredits", responses=problems(401))
async def get_credits(session: SessionDep, principal: PrincipalDep) -> CreditsOut:
    """What the tenant can spend per eIDAS level: `available` is what a new send can still
    reserve (granted - reserved - consumed). Sending reserves one credit per signer."""
    found = await balances(session, principal.tenant_id)
    return CreditsOut(
        eidas_simple=_out(found[Level.eidas_simple]),
        eidas_advanced=_out(found[Level.eidas_advanced]),
    )


def _out(balance: Balance) -> BalanceOut:
    return BalanceOut(
        available=balance.available, reserved=balance.reserved, consumed=balance.consumed
    )


@router.get(
    "/ledger",
    response_model=CreditLedgerPage,
    operation_id="listCreditLedger",
    responses=problems(400, 401),
)
async def list_credit_ledger(
    session: SessionDep,
    principal: PrincipalDep,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CreditLedgerPage:
    """Every grant, reservation, consumption and release, oldest first."""
    after = _after(cursor)
    rows = await ledger_page(session, principal.tenant_id, after=after, limit=limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return CreditLedgerPage(
        data=[CreditEntryOut.model_validate(row) for row in page],
        next_cursor=str(page[-1].id) if more else None,
        has_more=more,
    )


def _after(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise BadRequest("invalid_cursor", "The cursor is not one this API returned.")
    return int(cursor)
