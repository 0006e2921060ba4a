"""Mailers: SMTP against a real aiosmtpd server on loopback, the development mailbox, and the
message itself (parts, encoded headers, no header injection)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.config import Settings, SmtpSecurity
from app.notifications.mailer import (
    DevMailbox,
    MailDeliveryError,
    OutgoingEmail,
    SmtpMailer,
    build_mailer,
    build_message,
)

SENDER = "Cachet <no-reply@cachet.test>"
EMAIL = OutgoingEmail(
    message_id="<4f1c2a-notification@cachet>",
    to_address="elodie@example.fr",
    to_name="Élodie Ça",
    subject="Jeanne vous invite à signer « Bail »",
    html='<p>Bonjour Élodie,</p><p><a href="https://cachet.test/sign/t?a=1&amp;b=2">Signer</a></p>\n',
    text="Bonjour Élodie,\n\nSigner :\nhttps://cachet.test/sign/t?a=1&b=2\n",
)
INJECTED = "\r\nBcc: victim@example.org"


def parse(data: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, subtype: str) -> str:
    """A part's text with line ends as Python writes them (SMTP carries \r\n)."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    content: str = part.get_content()
    return content.replace("\r\n", "\n")


# --- the message ---------------------------------------------------------------------------


def test_message_has_text_then_html_and_encoded_headers() -> None:
    message = parse(build_message(EMAIL, sender=SENDER).as_bytes())
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    assert body(message, "plain") == EMAIL.text
    assert body(message, "html") == EMAIL.html
    assert message["Subject"] == EMAIL.subject
    assert message["To"].addresses[0].display_name == "Élodie Ça"
    assert message["To"].addresses[0].addr_spec == "elodie@example.fr"
    assert message["From"] == SENDER
    assert message["Message-ID"] == EMAIL.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"].datetime.tzinfo is not None


def test_message_is_seven_bit_on_the_wire() -> None:
    """Accents travel RFC 2047 / quoted-printable encoded: no SMTPUTF8 or 8BITMIME needed."""
    assert build_message(EMAIL, sender=SENDER).as_bytes().isascii()


def test_line_breaks_in_name_or_subject_do_not_add_headers() -> None:
    email = dataclasses.replace(
        EMAIL, to_name="Élodie" + INJECTED, subject="Votre contrat" + INJECTED
    )
    message = parse(build_message(email, sender=SENDER).as_bytes())
    assert message["Bcc"] is None
    assert message["Subject"] == "Votre contrat Bcc: victim@example.org"
    assert message["To"].addresses[0].addr_spec == "elodie@example.fr"
    assert len(message["To"].addresses) == 1


@pytest.mark.parametrize("address", ["elodie@example.fr" + INJECTED, "not an address", ""])
def test_unwritable_address_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="cannot send to"):
        build_message(dataclasses.replace(EMAIL, to_address=address), sender=SENDER)


@pytest.mark.parametrize("message_id", ["no-brackets@cachet", "<no-at>", "<a@b>\r\nBcc: x"])
def test_message_id_must_be_well_formed(message_id: str) -> None:
    with pytest.raises(ValueError, match="message_id"):
        dataclasses.replace(EMAIL, message_id=message_id)


# --- SMTP against a real server ------------------------------------------------------------


class Collector:
    """An aiosmtpd handler that keeps what it accepts, or refuses every recipient."""

    def __init__(self, rcpt_reply: str | None = None) -> None:
        self.rcpt_reply = rcpt_reply
        self.envelopes: list[Any] = []

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook name)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append(envelope)
        return "250 Message accepted"


def accept_login(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (b"cachet", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


StartServer = Callable[..., int]


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Starts aiosmtpd servers on loopback (each in its own thread); returns their port."""
    controllers: list[Controller] = []

    def start(handler: Collector, **options: Any) -> int:
        port = free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        return port

    yield start
    for controller in controllers:
        controller.stop()


def smtp_mailer(port: int, **overrides: Any) -> SmtpMailer:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "username": None,
        "password": None,
        "security": SmtpSecurity.none,
        "timeout": 5.0,
        "sender": SENDER,
    }
    return SmtpMailer(**(options | overrides))


async def test_smtp_delivers_the_message_as_built(start_server: StartServer) -> None:
    collector = Collector()
    await smtp_mailer(start_server(collector)).send(EMAIL)
    [envelope] = collector.envelopes
    assert envelope.mail_from == "no-reply@cachet.test"
    assert envelope.rcpt_tos == ["elodie@example.fr"]
    assert envelope.original_content.isascii()
    message = parse(envelope.original_content)
    assert message["Message-ID"] == EMAIL.message_id
    assert message["Subject"] == EMAIL.subject
    assert message["To"].addresses[0].display_name == "Élodie Ça"
    assert body(message, "plain") == EMAIL.text
    assert body(message, "html") == EMAIL.html


async def test_a_long_accented_subject_keeps_its_spaces(start_server: StartServer) -> None:
    """Folding between two encoded words used to drop the space between them."""
    subject = "Jim Agine vous invite à approuver «\u00a0Budget a72d2624\u00a0» — révisé"
    collector = Collector()
    await smtp_mailer(start_server(collector)).send(dataclasses.replace(EMAIL, subject=subject))
    assert parse(collector.envelopes[0].original_content)["Subject"] == subject


@pytest.mark.parametrize(
    ("rcpt_reply", "permanent"),
    [("550 5.1.1 No such user", True), ("450 4.2.1 Mailbox busy, try later", False)],
)
async def test_refused_recipient_is_permanent_only_for_5xx(
    start_server: StartServer, rcpt_reply: str, permanent: bool
) -> None:
    collector = Collector(rcpt_reply=rcpt_reply)
    with pytest.raises(MailDeliveryError) as raised:
        await smtp_mailer(start_server(collector)).send(EMAIL)
    assert raised.value.permanent is permanent
    assert rcpt_reply.split()[0] in raised.value.detail
    assert collector.envelopes == []


async def test_closed_port_is_transient() -> None:
    with pytest.raises(MailDeliveryError) as raised:
        await smtp_mailer(free_port()).send(EMAIL)
    assert raised.value.permanent is False


@pytest.mark.parametrize("security", [SmtpSecurity.starttls, SmtpSecurity.tls])
async def test_required_tls_is_never_skipped(
    start_server: StartServer, security: SmtpSecurity
) -> None:
    """This server speaks plain SMTP only: asking for TLS must fail, not fall back."""
    collector = Collector()
    port = start_server(collector)
    with pytest.raises(MailDeliveryError) as raised:
        await smtp_mailer(port, security=security, timeout=2.0).send(EMAIL)
    assert raised.value.permanent is False
    assert collector.envelopes == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize(
    ("username", "password", "delivered"),
    [("cachet", "s3cret", True), ("cachet", "wrong", False), (None, None, False)],
)
async def test_smtp_authenticates_with_username_and_password(
    start_server: StartServer, username: str | None, password: str | None, delivered: bool
) -> None:
    collector = Collector()
    port = start_server(
        collector, authenticator=accept_login, auth_required=True, auth_require_tls=False
    )
    mailer = smtp_mailer(port, username=username, password=password)
    if delivered:
        await mailer.send(EMAIL)
        assert len(collector.envelopes) == 1
    else:
        with pytest.raises(MailDeliveryError) as raised:
            await mailer.send(EMAIL)
        assert raised.value.permanent is True  # 535 / 530: retrying will not help
        assert collector.envelopes == []


async def test_smtp_refuses_an_unwritable_address_without_connecting() -> None:
    email = dataclasses.replace(EMAIL, to_address="elodie@example.fr" + INJECTED)
    with pytest.raises(MailDeliveryError) as raised:
        await smtp_mailer(free_port()).send(email)  # nothing listens: no connection tried
    assert raised.value.permanent is True


def test_password_stays_out_of_repr() -> None:
    mailer = smtp_mailer(25, username="cachet", password="s3cret")
    assert "s3cret" not in repr(mailer)


# --- the development mailbox ---------------------------------------------------------------


async def test_mailbox_lists_newest_first_and_reads_back(tmp_path: Path) -> None:
    mailbox = DevMailbox(tmp_path / "mail", sender=SENDER)
    await mailbox.send(EMAIL)
    await mailbox.send(dataclasses.replace(EMAIL, to_address="paul@example.fr", subject="Second"))
    entries = mailbox.list()
    assert [entry.subject for entry in entries] == ["Second", EMAIL.subject]
    assert [entry.to_address for entry in entries] == ["paul@example.fr", "elodie@example.fr"]
    assert entries[0].date >= entries[1].date
    message = mailbox.read(entries[1].id)
    assert message is not None
    assert (message.id, message.to_address, message.subject) == (
        entries[1].id,
        "elodie@example.fr",
        EMAIL.subject,
    )
    assert message.text == EMAIL.text
    assert message.html == EMAIL.html


async def test_mailbox_files_are_complete_eml_files(tmp_path: Path) -> None:
    mailbox = DevMailbox(tmp_path, sender=SENDER)
    await mailbox.send(EMAIL)
    [path] = tmp_path.iterdir()  # noqa: ASYNC240  (no temporary file left behind)
    assert path.suffix == ".eml"
    assert parse(path.read_bytes())["Message-ID"] == EMAIL.message_id


@pytest.mark.parametrize(
    "message_id", ["../../etc/passwd", "..", "/etc/passwd", "00000000000000000001-0000000g", ""]
)
async def test_mailbox_read_refuses_foreign_ids(tmp_path: Path, message_id: str) -> None:
    mailbox = DevMailbox(tmp_path / "mail", sender=SENDER)
    await mailbox.send(EMAIL)
    assert mailbox.read(message_id) is None


def test_mailbox_unknown_id_and_missing_directory(tmp_path: Path) -> None:
    mailbox = DevMailbox(tmp_path / "absent", sender=SENDER)
    assert mailbox.list() == []
    assert mailbox.read("00000000000000000001-00000000") is None


# --- choosing the mailer -------------------------------------------------------------------


def test_build_mailer_uses_smtp_only_when_a_host_is_set(tmp_path: Path) -> None:
    development = build_mailer(Settings(data_dir=tmp_path, smtp_host=None))
    assert isinstance(development, DevMailbox)
    assert development.directory == tmp_path / "mail"
    smtp = build_mailer(Settings(data_dir=tmp_path, smtp_host="smtp.example.org"))
    assert isinstance(smtp, SmtpMailer)
