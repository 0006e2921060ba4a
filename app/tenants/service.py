"""Use cases on tenants, keys and users. Services flush; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.errors import NotFound, Unauthenticated
from app.tenants.keys import display_prefix, generate_api_key, hash_api_key
from app.tenants.models import ApiKey, Tenant, User

DEVELOPMENT_TENANT_NAME = "development"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant every query of the request is scoped to."""

    tenant_id: uuid.UUID
    api_key_id: uuid.UUID


async def create_tenant(session: AsyncSession, *, name: str) -> tuple[Tenant, str]:
    tenant = Tenant(id=uuid.uuid4(), name=name)
    session.add(tenant)
    await session.flush()
    key = await create_api_key(session, tenant_id=tenant.id)
    return tenant, key


async def create_api_key(session: AsyncSession, *, tenant_id: uuid.UUID) -> str:
    key = generate_api_key()
    session.add(ApiKey(tenant_id=tenant_id, key_hash=hash_api_key(key), prefix=display_prefix(key)))
    await session.flush()
    return key


async def find_tenant(session: AsyncSession, *, id_or_name: str) -> Tenant:
    query = select(Tenant)
    try:
        query = query.where(Tenant.id == uuid.UUID(id_or_name))
    except ValueError:
        query = query.where(Tenant.name == id_or_name).order_by(Tenant.created_at)
    tenant = (await session.scalars(query.limit(1))).first()
    if tenant is None:
        raise NotFound("tenant")
    return tenant


async def authenticate(db: AsyncSession | AsyncConnection, *, api_key: str) -> Principal:
    """One statement: on an autocommit connection (what each request does), no transaction."""
    found = (
        await db.execute(
            select(ApiKey.tenant_id, ApiKey.id).where(
                ApiKey.key_hash == hash_api_key(api_key), ApiKey.revoked_at.is_(None)
            )
        )
    ).first()
    if found is None:
        raise Unauthenticated("invalid_api_key", "The API key is unknown or revoked.")
    return Principal(tenant_id=found.tenant_id, api_key_id=found.id)


async def is_valid_api_key(session: AsyncSession, *, api_key: str) -> bool:
    try:
        await authenticate(session, api_key=api_key)
    except Unauthenticated:
        return False
    return True


async def ensure_development_key(session: AsyncSession, *, known_key: str | None) -> str | None:
    """Returns a new key when the development tenant had none usable, else None."""
    if known_key and await is_valid_api_key(session, api_key=known_key):
        return None
    tenant = await session.scalar(select(Tenant).where(Tenant.name == DEVELOPMENT_TENANT_NAME))
    if tenant is None:
        _, key = await create_tenant(session, name=DEVELOPMENT_TENANT_NAME)
        return key
    return await create_api_key(session, tenant_id=tenant.id)


async def get_user(session: AsyncSession, principal: Principal, external_id: str) -> User:
    user = await session.scalar(
        select(User).where(User.tenant_id == principal.tenant_id, User.external_id == external_id)
    )
    if user is None:
        raise NotFound("user")
    return user


async def search_users(
    session: AsyncSession, principal: Principal, text: str, *, limit: int, after: str | None
) -> tuple[list[User], bool]:
    """The tenant's users whose email, first or last name, or id contains `text` (any case),
    ordered by id, from after `after`; and whether there are more."""
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(User).where(User.tenant_id == principal.tenant_id)
    if text:
        query = query.where(
            or_(
                User.email.ilike(pattern),
                User.first_name.ilike(pattern),
                User.last_name.ilike(pattern),
                User.external_id.ilike(pattern),
            )
        )
    if after is not None:
        query = query.where(User.external_id > after)
    found = list(await session.scalars(query.order_by(User.external_id).limit(limit + 1)))
    return found[:limit], len(found) > limit


@dataclass(frozen=True)
class UserFields:
    email: str
    first_name: str | None
    last_name: str | None
    phone: str | None


async def put_user(
    session: AsyncSession, principal: Principal, external_id: str, fields: UserFields
) -> tuple[User, bool]:
    """Create or replace; returns (user, created)."""
    try:
        user = await get_user(session, principal, external_id)
        created = False
    except NotFound:
        user = User(tenant_id=principal.tenant_id, external_id=external_id)
        session.add(user)
        created = True
    user.email = fields.email
    user.first_name = fields.first_name
    user.last_name = fields.last_name
    user.phone = fields.phone
    await session.flush()
    return user, created
