"""Request dependencies as Annotated aliases. The session dependency owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import Step, step_at
from app.config import Settings
from app.envelopes.models import Envelope
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
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticates in its own short transaction, so it can run before a body is streamed."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing_api_key", "Send the API key as 'Authorization: Bearer …'.")
    async with runtime.sessions() as session:
        return await authenticate(session, api_key=credentials.credentials)


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


def envelope_presenter(runtime: RuntimeDep) -> Callable[[Envelope], EnvelopeOut]:
    """The sender's view of an envelope, its readiness judged at the service clock's now."""
    return partial(
        envelope_out,
        limit_bytes=runtime.settings.envelope_size_limit_bytes,
        now=runtime.clock.now(),
    )


EnvelopeViewDep = Annotated[Callable[[Envelope], EnvelopeOut], Depends(envelope_presenter)]
