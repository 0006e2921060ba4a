"""Email content: every kind in every locale, escaping, one-line subjects, locale formats."""

from __future__ import annotations

import dataclasses
import html
from datetime import UTC, datetime

import pytest

from app.notifications.content import (
    DocumentLine,
    EmailContext,
    EmailKind,
    format_date,
    format_size,
    render_email,
)

NBSP = "\u00a0"
APOSTROPHE = "\u2019"  # French text uses the typographic one
NAME = "Bail Rue Oberkampf"
SENDER = "Jeanne Dupont"
READER = "Élodie Ça"
ACTOR = "Paul Martin"
REASON = "Le loyer indiqué est faux."
MESSAGE = "Bonjour,\nmerci de signer avant vendredi."
LINK = "https://cachet.test/sign/tok3n?step=1&lang=fr"
LOCALES = ("fr", "en")

CONTEXT = EmailContext(
    envelope_kind="signature",
    envelope_name=NAME,
    sender_name=SENDER,
    sender_email="jeanne@example.fr",
    recipient_name=READER,
    message=MESSAGE,
    documents=[DocumentLine("bail.pdf", 2_200_000), DocumentLine("annexe.pdf", 5_000)],
    link=LINK,
    expires_at=datetime(2026, 11, 27, 10, 0, tzinfo=UTC),
    reason=REASON,
    actor_name=ACTOR,
)

# Who each email names in its subject, and whether the link is the point of the email.
SUBJECT_PERSON = {
    EmailKind.invitation: SENDER,
    EmailKind.reminder: None,
    EmailKind.declined: ACTOR,
    EmailKind.canceled: SENDER,
    EmailKind.completed_sender: None,
    EmailKind.completed_signer: None,
    EmailKind.expired: None,
    EmailKind.failed: None,
}
LINK_KINDS = {EmailKind.invitation, EmailKind.reminder, EmailKind.completed_signer}
REASON_KINDS = {EmailKind.declined, EmailKind.canceled, EmailKind.failed}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(EmailKind))
def test_every_kind_renders_in_every_locale(kind: EmailKind, locale: str) -> None:
    email = render_email(kind, locale, CONTEXT)
    assert NAME in email.subject
    assert NAME in email.text
    assert NAME in email.html
    person = SUBJECT_PERSON[kind]
    if person:
        assert person in email.subject
    assert READER in email.text  # the greeting
    assert f'<html lang="{locale}">' in email.html
    if kind in LINK_KINDS:
        assert f"\n{LINK}\n" in email.text  # on a line of its own, so clients make it a link
        assert f'href="{html.escape(LINK)}"' in email.html
    if kind in REASON_KINDS:
        assert REASON in email.text
        assert html.escape(REASON) in email.html


@pytest.mark.parametrize(
    ("kind", "locale", "subject"),
    [
        (
            EmailKind.invitation,
            "fr",
            f"Jeanne Dupont vous invite à signer «{NBSP}Bail Rue Oberkampf{NBSP}»",
        ),
        (EmailKind.invitation, "en", "Jeanne Dupont invites you to sign “Bail Rue Oberkampf”"),
        (
            EmailKind.declined,
            "fr",
            f"Paul Martin a refusé de signer «{NBSP}Bail Rue Oberkampf{NBSP}»",
        ),
        (EmailKind.expired, "en", "The envelope “Bail Rue Oberkampf” has expired"),
    ],
)
def test_subjects_read_as_written(kind: EmailKind, locale: str, subject: str) -> None:
    assert render_email(kind, locale, CONTEXT).subject == subject


@pytest.mark.parametrize(
    ("kind", "locale", "signature_word", "approval_word"),
    [
        (EmailKind.invitation, "fr", "à signer", "à approuver"),
        (EmailKind.invitation, "en", "to sign", "to approve"),
        (EmailKind.reminder, "fr", "votre signature", "votre approbation"),
        (EmailKind.declined, "fr", "de signer", f"d{APOSTROPHE}approuver"),
        (EmailKind.completed_signer, "en", "signed documents", "approved documents"),
    ],
)
def test_approval_and_signature_are_worded_apart(
    kind: EmailKind, locale: str, signature_word: str, approval_word: str
) -> None:
    signature = render_email(kind, locale, CONTEXT)
    approval = render_email(kind, locale, dataclasses.replace(CONTEXT, envelope_kind="approval"))
    assert signature_word in signature.subject and approval_word not in signature.subject
    assert approval_word in approval.subject and signature_word not in approval.subject
    assert approval_word in approval.text and approval_word in approval.html


HOSTILE = "<script>alert(1)</script>"


@pytest.mark.parametrize("kind", list(EmailKind))
def test_html_escapes_what_users_typed_and_text_keeps_it(kind: EmailKind) -> None:
    context = dataclasses.replace(
        CONTEXT,
        envelope_name=f"Name {HOSTILE}",
        sender_name=f"Sender {HOSTILE}",
        recipient_name=f"Reader {HOSTILE}",
        message=f"Message {HOSTILE}",
        reason=f"Reason {HOSTILE}",
        actor_name=f"Actor {HOSTILE}",
        documents=[DocumentLine(f"file{HOSTILE}.pdf", 10)],
    )
    email = render_email(kind, "fr", context)
    assert "<script>" not in email.html
    assert f"Name {html.escape(HOSTILE)}" in email.html
    assert f"Name {HOSTILE}" in email.text


def test_message_keeps_its_line_breaks() -> None:
    email = render_email(EmailKind.invitation, "en", CONTEXT)
    assert MESSAGE in email.text
    assert "Bonjour,<br>\nmerci de signer avant vendredi." in email.html


@pytest.mark.parametrize("locale", LOCALES)
def test_subject_is_one_line_whatever_the_name(locale: str) -> None:
    context = dataclasses.replace(CONTEXT, envelope_name="Contrat\r\nBcc: victim@example.org\n")
    subject = render_email(EmailKind.invitation, locale, context).subject
    assert "\r" not in subject and "\n" not in subject
    assert "Contrat Bcc: victim@example.org" in subject


def test_long_subject_is_cut_to_200_characters() -> None:
    context = dataclasses.replace(CONTEXT, envelope_name="x" * 500)
    subject = render_email(EmailKind.invitation, "fr", context).subject
    assert len(subject) == 200
    assert subject.endswith("…")


@pytest.mark.parametrize(
    ("locale", "kind", "expected"),
    [
        ("fr", "signature", "Documents à signer"),
        ("fr", "approval", "Documents à approuver"),
        ("en", "approval", "Documents to approve"),
    ],
)
def test_unnamed_envelope_gets_a_name(locale: str, kind: str, expected: str) -> None:
    context = dataclasses.replace(CONTEXT, envelope_name=None, envelope_kind=kind)
    assert expected in render_email(EmailKind.invitation, locale, context).subject


@pytest.mark.parametrize(("asked", "served"), [("de", "fr"), ("", "fr"), ("en-GB", "en")])
def test_locale_falls_back_to_french(asked: str, served: str) -> None:
    assert render_email(EmailKind.reminder, asked, CONTEXT) == render_email(
        EmailKind.reminder, served, CONTEXT
    )


@pytest.mark.parametrize(
    ("locale", "line"),
    [
        ("fr", f"Vous avez jusqu{APOSTROPHE}au 27 novembre 2026 pour signer."),
        ("en", "You have until 27 November 2026 to sign."),
    ],
)
def test_invitation_shows_the_deadline(locale: str, line: str) -> None:
    email = render_email(EmailKind.invitation, locale, CONTEXT)
    assert line in email.text and line in email.html


@pytest.mark.parametrize(
    ("size", "locale", "shown"),
    [
        (0, "fr", "0 o"),
        (512, "en", "512 B"),
        (1024, "en", "1 KB"),
        (5_000, "fr", "4,9 ko"),
        (2_200_000, "fr", "2,1 Mo"),
        (2_200_000, "en", "2.1 MB"),
        (15 * 1024 * 1024, "fr", "15 Mo"),
        (1024 * 1024 - 1, "en", "1 MB"),  # not "1024 KB"
        (3 * 1024**4, "en", "3072 GB"),
    ],
)
def test_sizes_read_per_locale(size: int, locale: str, shown: str) -> None:
    assert format_size(size, locale) == shown.replace(" ", NBSP)


@pytest.mark.parametrize(
    ("moment", "locale", "shown"),
    [
        (datetime(2026, 11, 27, 10, tzinfo=UTC), "fr", "27 novembre 2026"),
        (datetime(2026, 11, 27, 10, tzinfo=UTC), "en", "27 November 2026"),
        (datetime(2026, 8, 1, 10), "fr", "1 août 2026"),  # naive: taken as UTC
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), "fr", "1 janvier 2027"),  # Paris is +1
    ],
)
def test_dates_read_per_locale(moment: datetime, locale: str, shown: str) -> None:
    assert format_date(moment, locale) == shown


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (EmailKind.invitation, {"link": None}),
        (EmailKind.completed_signer, {"link": None}),
        (EmailKind.reminder, {"link": "javascript:alert(1)"}),
        (EmailKind.declined, {"actor_name": None}),
        (EmailKind.expired, {"envelope_kind": "contract"}),
    ],
)
def test_incomplete_context_is_refused(kind: EmailKind, changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (the message is for the developer)
        render_email(kind, "fr", dataclasses.replace(CONTEXT, **changes))  # type: ignore[arg-type]
