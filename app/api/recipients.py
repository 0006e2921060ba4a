"""Recipients of a draft: add, edit, remove, reorder; after sending, a name corrected."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from app.api.deps import EnvelopeViewDep, PrincipalDep, SenderStepDep, SessionDep
from app.api.problems import problems
from app.envelopes import recipients, service
from app.envelopes.schemas import (
    EnvelopeOut,
    RecipientCreate,
    RecipientOrder,
    RecipientOut,
    RecipientUpdate,
)
from app.envelopes.views import recipient_out
from app.workflow import corrections
from app.workflow import service as workflow_service
from app.workflow.loading import load_envelope
from app.workflow.schemas import SigningLinkOut

router = APIRouter(prefix="/v1/envelopes/{envelope_id}/recipients", tags=["recipients"])


@router.post(
    "",
    status_code=201,
    response_model=RecipientOut,
    operation_id="addRecipient",
    responses=problems(401, 404, 409, 422),
)
async def add_recipient(
    envelope_id: uuid.UUID, body: RecipientCreate, session: SessionDep, principal: PrincipalDep
) -> RecipientOut:
    """Append a recipient: a platform user (`user_id`) or a person by `email`."""
    recipient = await recipients.add_recipient(session, principal, envelope_id, body)
    envelope = await service.get_envelope(session, principal, envelope_id)
    return recipient_out(recipient, envelope.kind)


@router.put(
    "/order",
    response_model=EnvelopeOut,
    operation_id="reorderRecipients",
    responses=problems(401, 404, 409, 422),
)
async def reorder_recipients(
    envelope_id: uuid.UUID,
    body: RecipientOrder,
    session: SessionDep,
    principal: PrincipalDep,
    present: EnvelopeViewDep,
) -> EnvelopeOut:
    """Set the order in which recipients act; list every recipient once."""
    envelope = await recipients.reorder_recipients(session, principal, envelope_id, body)
    return await present(envelope)


@router.patch(
    "/{recipient_id}",
    response_model=RecipientOut,
    operation_id="updateRecipient",
    responses=problems(401, 404, 409, 410, 422),
)
async def update_recipient(
    envelope_id: uuid.UUID,
    recipient_id: uuid.UUID,
    body: RecipientUpdate,
    session: SessionDep,
    principal: PrincipalDep,
    step: SenderStepDep,
) -> RecipientOut:
    """Names, phone (E.164) and locale of a draft's recipient. Once sent, only first_name and
    last_name can be corrected, before the recipient acts (409 `not_a_draft` for the rest):
    this is how an `identity_mismatch` is answered. A corrected name sets the signer's earlier
    identity checks aside (their attempts come back), is recorded as `recipient.corrected`,
    and re-invites the recipient when it is their turn."""
    envelope, recipient = await corrections.update_recipient(
        session, step, principal, envelope_id, recipient_id, body
    )
    return recipient_out(recipient, envelope.kind)


@router.delete(
    "/{recipient_id}",
    status_code=204,
    operation_id="deleteRecipient",
    responses=problems(401, 404, 409),
)
async def delete_recipient(
    envelope_id: uuid.UUID, recipient_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    await recipients.delete_recipient(session, principal, envelope_id, recipient_id)
    return Response(status_code=204)


@router.post(
    "/{recipient_id}/signing-link",
    status_code=201,
    response_model=SigningLinkOut,
    operation_id="createSigningLink",
    responses=problems(401, 404, 409, 410),
)
async def create_signing_link(
    envelope_id: uuid.UUID,
    recipient_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    step: SenderStepDep,
) -> SigningLinkOut:
    """Embedded signing: the signing page's URL for the recipient whose turn it is, for the
    platform to show in its own window or iframe (the framing origins are
    CACHET_FRAME_ANCESTORS; the page posts `cachet.signed`, `cachet.approved` or
    `cachet.declined` to its parent). The same link the invitation carries: give it to that
    recipient only. 409 `not_your_turn` (or `already_acted`, `envelope_not_in_progress`) for
    anyone else; 410 `envelope_ended`. Recorded in the evidence as `recipient.link_issued`."""
    envelope = await load_envelope(session, envelope_id, lock=True, tenant_id=principal.tenant_id)
    link = await workflow_service.signing_link(session, step, envelope, recipient_id)
    return SigningLinkOut(url=link.url, expires_at=link.expires_at)
