"""The tenant's user directory, kept in sync by the platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import PrincipalDep, SessionDep
from app.api.problems import problems
from app.schemas import NO_CONTROL_CHARACTERS
from app.tenants.schemas import UserOut, UserPage, UserPut
from app.tenants.service import UserFields, get_user, put_user, search_users

router = APIRouter(prefix="/v1/users", tags=["users"])

ExternalIdPath = Annotated[str, Path(min_length=1, max_length=255, pattern=NO_CONTROL_CHARACTERS)]


@router.get("", response_model=UserPage, operation_id="listUsers", responses=problems(401, 422))
async def list_users_route(
    session: SessionDep,
    principal: PrincipalDep,
    q: Annotated[
        str,
        Query(
            max_length=100,
            pattern=NO_CONTROL_CHARACTERS,
            description="part of an email, a first or last name or an id, in any case; "
            "empty: everyone",
        ),
    ] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[
        str | None,
        Query(
            max_length=255,
            pattern=NO_CONTROL_CHARACTERS,
            description="next_cursor of the previous page",
        ),
    ] = None,
) -> UserPage:
    """The directory, searched: what a sender's screen offers while a recipient is typed."""
    users, more = await search_users(session, principal, q.strip(), limit=limit, after=after)
    return UserPage(
        data=[UserOut.model_validate(user) for user in users],
        next_cursor=users[-1].external_id if more else None,
        has_more=more,
    )


@router.put(
    "/{external_id}",
    response_model=UserOut,
    operation_id="putUser",
    responses={201: {"model": UserOut}, **problems(401, 422)},
)
async def put_user_route(
    external_id: ExternalIdPath,
    body: UserPut,
    session: SessionDep,
    principal: PrincipalDep,
    response: Response,
) -> UserOut:
    """Create or replace a platform user (201 when created, 200 when replaced)."""
    fields = UserFields(str(body.email), body.first_name, body.last_name, body.phone)
    user, created = await put_user(session, principal, external_id, fields)
    response.status_code = 201 if created else 200
    await session.refresh(user)
    return UserOut.model_validate(user)


@router.get(
    "/{external_id}",
    response_model=UserOut,
    operation_id="getUser",
    responses=problems(401, 404),
)
async def get_user_route(
    external_id: ExternalIdPath, session: SessionDep, principal: PrincipalDep
) -> UserOut:
    return UserOut.model_validate(await get_user(session, principal, external_id))
