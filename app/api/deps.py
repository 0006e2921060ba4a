"""Request dependencies as Annotated aliases. The session dependency owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step, step_at
from app.api.request_log import note_tenant
from app.config import Settings
from app.credits.service import PAID_LEVELS, Balance, balances
from app.envelopes.models import Envelope, EnvelopeStatus, Level
from app.envelopes.schemas import EnvelopeOut
from app.envelopes.views import envelope_out
from app.errors import Unauthenticated
from app.evidence.service import Actor, Origin
from app.runtime import Runtime
from app.tenants.service import Principal, authenticate


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    async with runtime.sessions() as session, session.begin():
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="A tenant API key: `Bearer cachet_...`")


async def get_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticates on a connection of its own, before the request's transaction (so it can
    run before a body is streamed), in autocommit: one round trip, no BEGIN and ROLLBACK."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing_api_key", "Send the API key as 'Authorization: Bearer …'.")
    async with runtime.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        principal = await authenticate(autocommit, api_key=credentials.credentials)
    note_tenant(request, principal.tenant_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_origin(request: Request) -> Origin:
    """IP and user agent for the evidence log."""
    user_agent = request.headers.get("user-agent")
    return Origin(
        ip=request.client.host if request.client else None,
        user_agent=user_agent[:1000] if user_agent else None,
    )


OriginDep = Annotated[Origin, Depends(get_origin)]


def sender_step(runtime: RuntimeDep, principal: PrincipalDep, origin: OriginDep) -> Step:
    """A step on behalf of the platform's API key."""
    return step_at(runtime, actor=Actor("api_key", id=str(principal.api_key_id)), origin=origin)


SenderStepDep = Annotated[Step, Depends(sender_step)]


class EnvelopePresenter:
    """The sender's view of envelopes for one request: readiness judged at the service clock's
    now and, for eIDAS drafts, against the tenant's credits (read once, when first needed)."""

    def __init__(self, runtime: Runtime, session: AsyncSession, principal: Principal) -> None:
        self._limit_bytes = runtime.settings.envelope_size_limit_bytes
        self._now = runtime.clock.now()
        self._session = session
        self._tenant_id = principal.tenant_id
        self._balances: dict[Level, Balance] | None = None

    async def __call__(self, envelope: Envelope) -> EnvelopeOut:
        return envelope_out(
            envelope,
            limit_bytes=self._limit_bytes,
            now=self._now,
            credits_available=await self._credits(envelope),
        )

    async def _credits(self, envelope: Envelope) -> int | None:
        if envelope.status is not EnvelopeStatus.draft or envelope.level not in PAID_LEVELS:
            return None
        if self._balances is None:
            self._balances = await balances(self._session, self._tenant_id)
        return self._balances[envelope.level].available


def envelope_presenter(
    runtime: RuntimeDep, session: SessionDep, principal: PrincipalDep
) -> EnvelopePresenter:
    return EnvelopePresenter(runtime, session, principal)


EnvelopeViewDep = Annotated[EnvelopePresenter, Depends(envelope_presenter)]
