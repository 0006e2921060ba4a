"""Webhook endpoints: register (secret shown once), list, change, delete; deliveries, test."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.api.deps import PrincipalDep, RuntimeDep, SessionDep
from app.api.problems import problems
from app.errors import ValidationFailed
from app.runtime import Runtime
from app.webhooks import service
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from app.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    EndpointCreate,
    EndpointCreated,
    EndpointList,
    EndpointOut,
    EndpointUpdate,
)
from app.webhooks.ssrf import UnsafeUrl, resolve_target

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


async def _check_url(runtime: Runtime, url: str) -> None:
    settings = runtime.settings
    try:
        await resolve_target(
            url, allow_http=settings.is_development, allow_loopback=settings.is_development
        )
    except UnsafeUrl as refused:
        raise ValidationFailed.at("/url", str(refused), code=refused.code) from None


@router.post(
    "",
    response_model=EndpointCreated,
    status_code=201,
    operation_id="createWebhookEndpoint",
    responses=problems(401, 422),
)
async def create_webhook_endpoint(
    body: EndpointCreate, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> EndpointCreated:
    """Register a URL. The response carries the signing secret, which is never shown again."""
    await _check_url(runtime, body.url)
    endpoint, secret = await service.create_endpoint(
        session,
        runtime.secrets,
        tenant_id=principal.tenant_id,
        url=body.url,
        description=body.description,
        event_types=body.event_types,
    )
    out = EndpointOut.model_validate(endpoint)
    return EndpointCreated(**out.model_dump(), secret=secret)


@router.get(
    "", response_model=EndpointList, operation_id="listWebhookEndpoints", responses=problems(401)
)
async def list_webhook_endpoints(session: SessionDep, principal: PrincipalDep) -> EndpointList:
    endpoints = await service.list_endpoints(session, principal.tenant_id)
    return EndpointList(data=[EndpointOut.model_validate(e) for e in endpoints])


@router.get(
    "/{endpoint_id}",
    response_model=EndpointOut,
    operation_id="getWebhookEndpoint",
    responses=problems(401, 404),
)
async def get_webhook_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> EndpointOut:
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id)
    return EndpointOut.model_validate(endpoint)


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    operation_id="updateWebhookEndpoint",
    responses=problems(401, 404, 422),
)
async def update_webhook_endpoint(
    endpoint_id: uuid.UUID,
    body: EndpointUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> EndpointOut:
    """Change the URL, description or event types; `enabled: true` resumes a disabled one."""
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id, lock=True)
    if body.url is not None:
        await _check_url(runtime, body.url)
        endpoint.url = body.url
    if "description" in body.model_fields_set:
        endpoint.description = body.description
    if body.event_types is not None:
        endpoint.event_types = list(body.event_types)
    if body.enabled is not None:
        await service.set_enabled(session, endpoint, body.enabled, now=runtime.clock.now())
    await session.flush()
    await session.refresh(endpoint, ["updated_at"])
    return EndpointOut.model_validate(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    operation_id="deleteWebhookEndpoint",
    responses=problems(401, 404),
)
async def delete_webhook_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id, lock=True)
    await session.delete(endpoint)
    return Response(status_code=204)


def _delivery_out(delivery: WebhookDelivery) -> DeliveryOut:
    pending = delivery.status is DeliveryStatus.pending
    return DeliveryOut(
        id=delivery.id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        event_id=delivery.event_id,
        status=delivery.status.value,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
    )


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    operation_id="listWebhookDeliveries",
    responses=problems(401, 404),
)
async def list_webhook_deliveries(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryPage:
    """Newest first: status, attempts, last response of each message sent to this endpoint."""
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id)
    deliveries = await service.list_deliveries(session, endpoint, before=before, limit=limit)
    next_before = deliveries[-1].id if len(deliveries) == limit else None
    return DeliveryPage(data=[_delivery_out(d) for d in deliveries], next_before=next_before)


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    response_model=DeliveryOut,
    status_code=202,
    operation_id="retryWebhookDelivery",
    responses=problems(401, 404, 409),
)
async def retry_webhook_delivery(
    endpoint_id: uuid.UUID,
    delivery_id: Annotated[int, Path(ge=1, le=2**62)],
    session: SessionDep,
    principal: PrincipalDep,
    runtime: RuntimeDep,
) -> DeliveryOut:
    """Send a delivered or failed message again, with the same webhook-id."""
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id, lock=True)
    delivery = await service.get_delivery(session, endpoint, delivery_id)
    await service.retry_delivery(session, endpoint, delivery, now=runtime.clock.now())
    return _delivery_out(delivery)


@router.post(
    "/{endpoint_id}/test",
    response_model=DeliveryOut,
    status_code=202,
    operation_id="sendWebhookTestEvent",
    responses=problems(401, 404),
)
async def send_webhook_test_event(
    endpoint_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, runtime: RuntimeDep
) -> DeliveryOut:
    """Queue a `webhook.test` message to check the receiver and its signature verification."""
    # No row lock: a delivery job holds the endpoint's row while a slow receiver answers, and
    # the new delivery's foreign key (a key-share lock) is enough to keep the endpoint alive.
    endpoint = await service.get_endpoint(session, principal.tenant_id, endpoint_id)
    delivery = await service.send_test_event(session, endpoint, now=runtime.clock.now())
    await session.refresh(delivery, ["created_at"])
    return _delivery_out(delivery)
