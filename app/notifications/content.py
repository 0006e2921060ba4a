"""What each notification email says, in French and English: subject, HTML and text parts.

Pure rendering over plain values: the caller resolves names, links and documents, this module
only words them. Templates live in `templates/<locale>/<kind>.{subject.txt,html,txt}`; the HTML
parts extend the shared `templates/layout.html`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

SUBJECT_MAX_LENGTH = 200
DEFAULT_LOCALE = "fr"

# Expiry dates are shown as a calendar day in the product's zone: a deadline stored as
# 23:30 UTC is the next morning for a French reader.
DISPLAY_ZONE_NAME = "Europe/Paris"


class EmailKind(StrEnum):
    invitation = "invitation"
    reminder = "reminder"
    declined = "declined"
    canceled = "canceled"
    completed_sender = "completed_sender"
    completed_signer = "completed_signer"
    expired = "expired"
    failed = "failed"


@dataclass(frozen=True)
class DocumentLine:
    filename: str
    size_bytes: int


@dataclass(frozen=True)
class EmailContext:
    """Everything an email may show; each kind uses the fields it needs."""

    envelope_kind: str  # "approval" or "signature": the verbs differ
    envelope_name: str | None
    sender_name: str
    sender_email: str | None
    recipient_name: str | None
    message: str | None
    documents: Sequence[DocumentLine]
    link: str | None = None
    expires_at: datetime | None = None
    reason: str | None = None
    actor_name: str | None = None


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class _Locale:
    months: tuple[str, ...]
    size_units: tuple[str, ...]  # bytes, then each power of 1024
    decimal_separator: str
    quotes: tuple[str, str]  # around an envelope name, with French no-break spaces inside
    unnamed_envelope: Mapping[str, str]  # envelope kind -> fallback name


_LOCALES: Mapping[str, _Locale] = {
    "fr": _Locale(
        months=(
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        size_units=("o", "ko", "Mo", "Go"),
        decimal_separator=",",
        quotes=("«\u00a0", "\u00a0»"),
        unnamed_envelope={"approval": "Documents à approuver", "signature": "Documents à signer"},
    ),
    "en": _Locale(
        months=(
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        size_units=("B", "KB", "MB", "GB"),
        decimal_separator=".",
        quotes=("“", "”"),
        unnamed_envelope={"approval": "Documents to approve", "signature": "Documents to sign"},
    ),
}

# Kinds whose email is pointless without a link: the reader has to act or download.
_LINK_REQUIRED = frozenset({EmailKind.invitation, EmailKind.reminder, EmailKind.completed_signer})

# Anything a mail header or a subject line must not carry: control characters (CR, LF, NEL,
# TAB...) and the Unicode line and paragraph separators, which str.splitlines() breaks on.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Only ASCII spaces collapse: \s would also eat the no-break spaces French typography needs.
_SPACES = re.compile(r" {2,}")


def render_email(kind: EmailKind, locale: str, context: EmailContext) -> RenderedEmail:
    """The subject, HTML and text of one email. Unknown locales get French.

    Raises ValueError when the context lacks what this kind needs (a link, who declined) or
    carries a link that is not http(s).
    """
    locale = resolve_locale(locale)
    _check_context(kind, context)
    variables = _template_variables(locale, context)
    environment = _environment()

    def render(suffix: str) -> str:
        return environment.get_template(f"{locale}/{kind.value}.{suffix}").render(variables)

    return RenderedEmail(
        subject=single_line(render("subject.txt"), limit=SUBJECT_MAX_LENGTH),
        html=render("html"),
        text=render("txt"),
    )


def resolve_locale(locale: str) -> str:
    """'en-GB' -> 'en'; anything without templates -> the product default, French."""
    language = locale.replace("_", "-").split("-")[0].lower()
    return language if language in _LOCALES else DEFAULT_LOCALE


def single_line(text: str, *, limit: int) -> str:
    """One header-safe line: line breaks and control characters become spaces, runs of
    spaces collapse, and the result is cut to `limit` characters (ending with '…')."""
    line = _SPACES.sub(" ", _LINE_BREAKING.sub(" ", text)).strip()
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def format_size(size_bytes: int, locale: str) -> str:
    """2_200_000 -> '2,1 Mo' (fr) or '2.1 MB' (en); one decimal below 10, none above."""
    data = _LOCALES[resolve_locale(locale)]
    value = float(size_bytes)
    unit = 0
    while unit < len(data.size_units) - 1 and _rounded(value) >= 1024:
        value /= 1024
        unit += 1
    number = _rounded(value)
    shown = f"{number:.0f}" if number >= 10 or number.is_integer() else f"{number:.1f}"
    # A no-break space keeps the number and its unit on one line.
    return shown.replace(".", data.decimal_separator) + "\u00a0" + data.size_units[unit]


def _rounded(value: float) -> float:
    return float(round(value)) if value >= 10 else round(value, 1)


def format_date(moment: datetime, locale: str) -> str:
    """'27 novembre 2026' (fr) or '27 November 2026' (en), as a day in the product's zone.
    A naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    day = moment.astimezone(_display_zone())
    month = _LOCALES[resolve_locale(locale)].months[day.month - 1]
    return f"{day.day} {month} {day.year}"


@lru_cache(maxsize=1)
def _display_zone() -> tzinfo:
    try:
        return ZoneInfo(DISPLAY_ZONE_NAME)
    except ZoneInfoNotFoundError:  # no tz database on this host: a UTC day beats no email
        return UTC


def _check_context(kind: EmailKind, context: EmailContext) -> None:
    if context.envelope_kind not in ("approval", "signature"):
        raise ValueError(f"unknown envelope kind {context.envelope_kind!r}")
    if kind in _LINK_REQUIRED and not context.link:
        raise ValueError(f"a {kind.value} email needs a link")
    if context.link and urlsplit(context.link).scheme not in ("http", "https"):
        raise ValueError("links in emails must be http or https")
    if kind is EmailKind.declined and not context.actor_name:
        raise ValueError("a declined email needs the name of who declined")


@dataclass(frozen=True)
class _DocumentView:
    filename: str
    size: str


def _template_variables(locale: str, context: EmailContext) -> dict[str, Any]:
    data = _LOCALES[locale]
    envelope_name = context.envelope_name or data.unnamed_envelope[context.envelope_kind]
    opening, closing = data.quotes
    return {
        "locale": locale,
        "is_approval": context.envelope_kind == "approval",
        "quoted_name": opening + envelope_name + closing,
        "sender_name": context.sender_name,
        "sender_email": context.sender_email,
        "recipient_name": context.recipient_name,
        "message": context.message,
        "documents": [
            _DocumentView(line.filename, format_size(line.size_bytes, locale))
            for line in context.documents
        ],
        "link": context.link,
        "expires_on": format_date(context.expires_at, locale) if context.expires_at else None,
        "reason": context.reason,
        "actor_name": context.actor_name,
    }


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("app.notifications", "templates"),
        # HTML parts escape every value (names, messages, filenames come from users); the
        # subject and text parts are plain text and must show the values unchanged.
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["line_breaks"] = _line_breaks
    # French puts a no-break space before ':' ; a named global keeps it visible in templates.
    environment.globals["nbsp"] = "\u00a0"
    return environment


def _line_breaks(text: str) -> Markup:
    """A multi-line message as HTML: each line escaped, joined by <br>."""
    return Markup("<br>\n").join(escape(line) for line in text.splitlines())
