"""How an email leaves: over SMTP (aiosmtplib, imported nowhere else) or into the development
mailbox, a directory of .eml files.

Exceptions:

    MailDeliveryError        the send failed; `permanent` tells the caller whether to retry
        permanent=True           5xx reply, every recipient refused, or an unsendable address
        permanent=False          connection refused or lost, timeout, 4xx reply, disk error
"""

from __future__ import annotations

import builtins
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib
import anyio

from app.clock import system_now
from app.config import Settings, SmtpSecurity
from app.files import private_folder, write_private
from app.notifications.content import SUBJECT_MAX_LENGTH, single_line

NAME_MAX_LENGTH = 200
_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


@dataclass(frozen=True)
class Attachment:
    """A file sent with the email, read from disk when the message is built."""

    filename: str
    path: Path
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str  # "<key@domain>", stable across retries so receivers can drop duplicates
    to_address: str
    to_name: str | None
    subject: str
    html: str
    text: str
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        if not _MESSAGE_ID.match(self.message_id):
            raise ValueError(f"message_id must look like <key@domain>, not {self.message_id!r}")


class MailDeliveryError(Exception):
    """A send that failed; `permanent` True for SMTP 5xx / refused recipient, False for
    transient (connection, timeout, 4xx)."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Deliver one email or raise MailDeliveryError."""
        ...


# Serialise without folding headers (998 is RFC 5322's hard line limit; a subject is at most
# 200 characters, ~600 once encoded). When CPython folds a line between two RFC 2047 encoded
# words, the space between them is lost on decoding: "« Budget 2026 »" arrived as
# "« Budget2026 »". Bodies are already quoted-printable with short lines, so only headers change.
WIRE_POLICY = policy.SMTP.clone(max_line_length=998)
FILE_POLICY = policy.default.clone(max_line_length=998)


def build_message(email: OutgoingEmail, *, sender: str) -> EmailMessage:
    """A multipart/alternative message, text then HTML, both UTF-8.

    Subject and display name are folded to one line first: a CR/LF in user input must not
    start a new header (the email package would refuse it outright). Non-ASCII names and
    subjects are RFC 2047 encoded, so no SMTPUTF8 support is needed from the server.
    Raises ValueError if the recipient address cannot be written in a header.
    """
    # Built with \n line ends; aiosmtplib writes it out with \r\n, the development mailbox as is.
    message = EmailMessage(policy=policy.default)
    message["From"] = sender
    message["To"] = _recipient(email)
    message["Subject"] = single_line(email.subject, limit=SUBJECT_MAX_LENGTH)
    message["Date"] = format_datetime(system_now())
    message["Message-ID"] = email.message_id
    # RFC 3834: out-of-office replies and autoresponders must not answer a notification.
    message["Auto-Submitted"] = "auto-generated"
    # quoted-printable keeps lines short and 7-bit whatever the server supports.
    message.set_content(email.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(email.html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in email.attachments:
        # The message becomes multipart/mixed: the text/HTML alternative, then each file.
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=single_line(attachment.filename, limit=NAME_MAX_LENGTH),
        )
    return message


def _recipient(email: OutgoingEmail) -> Address:
    name = single_line(email.to_name or "", limit=NAME_MAX_LENGTH)
    if "@" not in email.to_address:  # the header parser fails oddly on some of these
        raise ValueError(f"cannot send to {email.to_address!r}: not an email address")
    try:
        return Address(display_name=name, addr_spec=email.to_address)
    except (ValueError, HeaderParseError) as error:
        raise ValueError(f"cannot send to {email.to_address!r}: {error}") from error


async def _wire_bytes(email: OutgoingEmail, *, sender: str, wire_policy: policy.Policy) -> bytes:
    """The message as bytes, with an unwritable address reported as a delivery that can never
    work. Built in a thread: reading and base64-encoding attachments takes the CPU for a while."""
    try:
        return await anyio.to_thread.run_sync(_serialise, email, sender, wire_policy)
    except ValueError as error:
        raise MailDeliveryError(str(error), permanent=True) from error


def _serialise(email: OutgoingEmail, sender: str, wire_policy: policy.Policy) -> bytes:
    return build_message(email, sender=sender).as_bytes(policy=wire_policy)


class SmtpMailer:
    """One SMTP connection per email: notifications are few, and a fresh connection cannot
    be left half-broken by the previous send."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        security: SmtpSecurity,
        timeout: float,
        sender: str,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._security = security
        self._timeout = timeout
        self._sender = sender
        self._envelope_sender = _address_of(sender)

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"SmtpMailer({self._host}:{self._port}, security={self._security.value})"

    async def send(self, email: OutgoingEmail) -> None:
        message = await _wire_bytes(email, sender=self._sender, wire_policy=WIRE_POLICY)
        try:
            await aiosmtplib.send(
                message,
                sender=self._envelope_sender,
                recipients=[email.to_address],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security is SmtpSecurity.tls,
                start_tls=self._security is SmtpSecurity.starttls,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            raise _delivery_error(error) from error


def _address_of(sender: str) -> str:
    """'Cachet <no-reply@example.org>' -> 'no-reply@example.org', for MAIL FROM."""
    address = parseaddr(sender)[1]
    if "@" not in address:
        raise ValueError(f"mail sender {sender!r} has no address")
    return address


def _delivery_error(error: Exception) -> MailDeliveryError:
    """5xx replies are final; everything else (4xx, network, timeouts) may pass later."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        codes = [refusal.code for refusal in error.recipients]
        detail = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        return MailDeliveryError(f"recipient refused: {detail}", permanent=min(codes) >= 500)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return MailDeliveryError(
            f"{type(error).__name__}: {error.code} {error.message}",
            permanent=500 <= error.code < 600,
        )
    return MailDeliveryError(f"{type(error).__name__}: {error}", permanent=False)


@dataclass(frozen=True)
class MailboxEntry:
    id: str
    to_address: str
    subject: str
    date: datetime


@dataclass(frozen=True)
class MailboxMessage:
    id: str
    to_address: str
    subject: str
    date: datetime
    text: str
    html: str


# <nanoseconds since the epoch, 20 digits>-<8 hex>: names sort by time and never collide.
_MAILBOX_ID = re.compile(r"^\d{20}-[0-9a-f]{8}$")


class DevMailbox:
    """Development stand-in for SMTP: each email becomes <id>.eml in a directory, readable
    by any mail client and listed by the service for people trying it out.

    send() writes off the event loop; list() and read() are plain file reads, so async
    callers run them in a thread.
    """

    def __init__(self, directory: Path, *, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    async def send(self, email: OutgoingEmail) -> None:
        data = await _wire_bytes(email, sender=self._sender, wire_policy=FILE_POLICY)
        try:
            await anyio.to_thread.run_sync(self._write, data)
        except OSError as error:
            raise MailDeliveryError(f"mailbox write failed: {error}", permanent=False) from error

    def _write(self, data: bytes) -> None:
        """Written under a dot name, then renamed: list() never sees half a message."""
        private_folder(self.directory)
        message_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        partial = self.directory / f".{message_id}.eml.part"
        try:
            write_private(partial, data)  # its links are live: 0600 like every data file
            os.replace(partial, self.directory / f"{message_id}.eml")
        finally:
            partial.unlink(missing_ok=True)

    def list(self) -> builtins.list[MailboxEntry]:
        """Every message, newest first (headers only)."""
        if not self.directory.is_dir():
            return []
        names = sorted(
            (path.stem for path in self.directory.glob("*.eml") if _MAILBOX_ID.match(path.stem)),
            reverse=True,
        )
        parser = BytesHeaderParser(policy=policy.default)
        entries = []
        for name in names:
            headers = parser.parsebytes(self._path(name).read_bytes())
            entries.append(MailboxEntry(name, *_summary(headers)))
        return entries

    def read(self, message_id: str) -> MailboxMessage | None:
        """One message with its text and HTML; None for an unknown or malformed id."""
        if not _MAILBOX_ID.match(message_id):
            return None  # the id becomes a file name: nothing but our own pattern gets there
        try:
            data = self._path(message_id).read_bytes()
        except FileNotFoundError:
            return None
        message = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(message, EmailMessage)  # policy.default parses to EmailMessage
        return MailboxMessage(
            message_id, *_summary(message), _body(message, "plain"), _body(message, "html")
        )

    def _path(self, message_id: str) -> Path:
        return self.directory / f"{message_id}.eml"


def _summary(message: EmailMessage) -> tuple[str, str, datetime]:
    """To address, subject and date, as list() and read() show them."""
    addresses = message["To"].addresses if message["To"] else ()
    to_address = addresses[0].addr_spec if addresses else ""
    return to_address, str(message["Subject"] or ""), message["Date"].datetime


def _body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return ""
    content: str = part.get_content()
    return content


def build_mailer(settings: Settings) -> Mailer:
    """SMTP when a host is configured, else the development mailbox under data_dir/mail."""
    if settings.smtp_host is None:
        return DevMailbox(settings.mail_dir, sender=settings.mail_from)
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        security=settings.smtp_security,
        timeout=settings.smtp_timeout_seconds,
        sender=settings.mail_from,
    )
