"""What production refuses: every development stand-in, named at once before anything starts.

Development runs with nothing configured because each outside service has a stand-in: an
embedded PostgreSQL, a generated secret key, a mailbox of .eml files on disk (live links in
clear), links built from the address it listens on, a development PKI and TSA. In production
each of them is a mistake, so `cachet serve` and `cachet worker` check REQUIREMENTS first and
exit with every missing setting named. A new provider (SMS codes, identity checks) adds its own
line to REQUIREMENTS, and its setting to the README's production section.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.config import Settings
from app.providers.factory import missing_sms_settings
from app.providers.identity_factory import missing_idv_settings
from app.signing.issuing import development_issuing_ca_in_use
from app.signing.keys import SealConfigError, configured_source


@dataclass(frozen=True)
class Requirement:
    """One setting production needs, and the development stand-in used without it."""

    setting: str  # what to set, as the operator writes it
    stand_in: str  # what development does instead
    met: Callable[[Settings], bool]

    def problem(self) -> str:
        return f"{self.setting} is required (development would use {self.stand_in})"


def _seal_configured(settings: Settings) -> bool:
    try:
        return configured_source(settings) is not None
    except SealConfigError:
        return True  # configured, inconsistently: load_seal names what to fix


DATABASE = Requirement(
    "CACHET_DATABASE_URL",
    "an embedded PostgreSQL under the data directory",
    lambda s: bool(s.database_url),
)
REQUIREMENTS: tuple[Requirement, ...] = (
    DATABASE,
    Requirement(
        "CACHET_SECRET_KEY",
        "a key generated into a file of the data directory",
        lambda s: bool(s.secret_key),
    ),
    Requirement(
        "CACHET_SMTP_HOST",
        "the mailbox on disk: emails never leave, their live links sit in .eml files",
        lambda s: bool(s.smtp_host),
    ),
    Requirement(
        "CACHET_PUBLIC_URL (or CACHET_SIGNING_URL)",
        "links to http://HOST:PORT/sign/{token}, the address the service listens on",
        lambda s: bool(s.public_url or s.signing_url),
    ),
    Requirement(
        "CACHET_SIGNING_KEY_FILE and CACHET_SIGNING_CERT_FILE, or CACHET_SIGNING_PKCS12_FILE, "
        "or CACHET_SIGNING_PKCS11_MODULE",
        "the development PKI's seal",
        _seal_configured,
    ),
    Requirement("CACHET_TSA_URL", "the development TSA", lambda s: bool(s.tsa_url)),
    Requirement(
        "CACHET_ISSUING_CA_KEY_FILE and CACHET_ISSUING_CA_CERT_FILE, or "
        "CACHET_ISSUING_CA_PKCS12_FILE, or CACHET_ISSUING_CA_PKCS11_MODULE (or "
        "CACHET_ADVANCED_SIGNER=csc)",
        "the development PKI's signers CA for eIDAS advanced signers' certificates",
        lambda s: not development_issuing_ca_in_use(s),
    ),
    Requirement(
        "CACHET_SMS_PROVIDER (brevo, twilio or ovh) and its credentials",
        "an outbox of text messages on disk, codes in clear",
        lambda s: s.sms_provider != "dev" and not missing_sms_settings(s),
    ),
    Requirement(
        "CACHET_IDV_PROVIDER (veriff or onfido) and its credentials",
        "identity checks approved by a button on a development page",
        lambda s: s.idv_provider != "dev" and not missing_idv_settings(s),
    ),
    Requirement(
        "CACHET_CSC_BASE_URL, CACHET_CSC_CLIENT_ID and CACHET_CSC_CLIENT_SECRET "
        "(CACHET_ADVANCED_SIGNER=csc)",
        "nothing: remote signing cannot work without its trust service",
        lambda s: (
            s.advanced_signer != "csc"
            or bool(s.csc_base_url and s.csc_client_id and s.csc_client_secret)
        ),
    ),
)


class ProductionNotReady(RuntimeError):
    """Raised by require_production_ready; the message names every missing setting."""


def production_problems(
    settings: Settings, requirements: Sequence[Requirement] = REQUIREMENTS
) -> list[str]:
    """Every requirement production leaves unmet; always empty in development."""
    if settings.is_development:
        return []
    return [requirement.problem() for requirement in requirements if not requirement.met(settings)]


def refusal(problems: Sequence[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return f"CACHET_ENV=production refuses to start with development stand-ins:\n{lines}"


def require_production_ready(settings: Settings) -> None:
    """For the service's own start (also when run without the `cachet` command)."""
    problems = production_problems(settings)
    if problems:
        raise ProductionNotReady(refusal(problems))
