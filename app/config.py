"""Every setting of the service, read once from the environment (prefix CACHET_)."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


SmsProviderName = Literal["dev", "brevo", "twilio", "ovh"]
IdvProviderName = Literal["dev", "veriff", "onfido"]
AdvancedSignerName = Literal["local_ca", "csc"]


class Environment(StrEnum):
    development = "development"
    production = "production"


class LogFormat(StrEnum):
    json = "json"
    text = "text"


class SmtpSecurity(StrEnum):
    none = "none"
    starttls = "starttls"
    tls = "tls"


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_durations(text: str) -> list[timedelta]:
    """'5s,5m,2h' -> [5 s, 5 min, 2 h]. Raises ValueError with the faulty item."""
    delays = []
    for item in (part.strip() for part in text.split(",")):
        unit = DURATION_UNITS.get(item[-1:])
        try:
            amount = float(item[:-1])
        except ValueError:
            amount = -1
        if unit is None or amount < 0:
            raise ValueError(f"{item!r} is not a duration like 5s, 5m, 2h or 1d")
        delays.append(timedelta(seconds=amount * unit))
    return delays


class Settings(BaseSettings):
    """Nothing else in the code reads os.environ: add a field here instead."""

    model_config = SettingsConfigDict(env_prefix="CACHET_", extra="ignore")

    env: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://... ; unset: embedded PostgreSQL under data_dir/postgres",
    )
    db_pool_size: int = 10
    migrate_on_start: bool | None = Field(
        default=None, description="apply migrations at start; default: only in development"
    )
    sender_app: bool | None = Field(
        default=None,
        description="serve the sender's screens, a reference frontend on the public API, at "
        "/app; default: only in development",
    )

    blob_url: str | None = Field(
        default=None,
        description="where documents are kept: file:///path, or s3://bucket/prefix with the "
        "CACHET_S3_* settings; unset: files under data_dir/blobs",
    )
    s3_endpoint: str | None = Field(
        default=None,
        description="an S3-compatible store's URL (SeaweedFS, MinIO, Ceph…); unset: AWS S3",
    )
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    envelope_size_limit_bytes: int = 15 * MIB
    pdf_max_pages: int = 500
    pdf_max_objects: int = 200_000
    pdf_gate_workers: int = 2
    pdf_gate_cpu_seconds: int = 10
    pdf_gate_wall_seconds: float = 20.0
    pdf_gate_memory_bytes: int = 1024 * MIB
    signing_workers: int = Field(
        default=2,
        ge=1,
        description="worker processes that make signatures, archive timestamps and evidence "
        "PDFs (pyHanko parses the documents there, never in the service's event loop)",
    )
    signing_cpu_seconds: int = Field(
        default=120, gt=0, description="CPU time one signing operation may use"
    )
    signing_wall_seconds: float = Field(
        default=300.0,
        gt=0,
        description="wall time one signing operation may take (timestamp and revocation "
        "requests included)",
    )
    signing_memory_bytes: int = Field(
        default=2048 * MIB, description="address-space limit of a signing worker"
    )
    pdf_max_nesting_depth: int = Field(
        default=64,
        description="PDF gate: arrays and dictionaries nested directly in one another, at most",
    )
    pdf_max_form_fields: int = Field(
        default=1_000,
        description="PDF gate: nodes of a form's field tree (fields and widgets), at most; "
        "pyHanko walks the tree at send and at every signature",
    )
    pdf_max_form_depth: int = Field(
        default=32, description="PDF gate: levels of a form's field tree, at most"
    )
    pdf_max_revisions: int = Field(
        default=200,
        description="PDF gate: revisions (the original and its incremental updates), at most",
    )
    stamp_text_max_length: int = 60
    json_body_limit_bytes: int = MIB
    signature_image_max_bytes: int = Field(
        default=512 * 1024, description="largest handwritten signature PNG accepted by /sign"
    )
    idempotency_ttl_hours: int = 72
    log_level: str = "INFO"
    log_format: LogFormat | None = Field(
        default=None,
        description="json (one object per line) or text; unset: json in production, text in "
        "development",
    )

    public_url: str | None = Field(
        default=None, description="the service's own base URL; default http://HOST:PORT"
    )
    signing_url: str | None = Field(
        default=None,
        description="recipient link template with {token}; default PUBLIC_URL/sign/{token}",
    )
    frame_ancestors: str = Field(
        default="'self'",
        description="who may show the signing page in a frame (embedded signing): the CSP "
        "frame-ancestors sources, space-separated: 'self', 'none', or origins such as "
        "https://app.example.com; the page posts its cachet.signed / cachet.approved / "
        "cachet.declined message to these origins only",
    )
    secret_key: str | None = Field(
        default=None,
        description="encrypts webhook secrets at rest; required in production, "
        "generated under data_dir in development",
    )

    smtp_host: str | None = Field(
        default=None, description="unset: mail goes to the development mailbox (data_dir/mail)"
    )
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: SmtpSecurity = SmtpSecurity.none
    smtp_timeout_seconds: float = 15.0
    mail_from: str = "Cachet <no-reply@cachet.localhost>"
    mail_attachments_max_bytes: int = Field(
        default=10 * MIB,
        description="completion emails carry the signed PDFs up to this total; above: the link",
    )

    web_workers: int = Field(
        default=1,
        ge=1,
        description="API processes `cachet serve` runs (uvicorn workers on one port); "
        "`cachet serve --workers N` overrides it",
    )
    run_jobs: bool = Field(
        default=True,
        # CACHET_WORKER_IN_PROCESS was its name before `cachet serve --workers`: still read.
        validation_alias=AliasChoices("run_jobs", "CACHET_RUN_JOBS", "CACHET_WORKER_IN_PROCESS"),
        description="run a job worker inside each `cachet serve` process; false: the API "
        "only, jobs left to `cachet worker` processes (CACHET_WORKER_IN_PROCESS, its former "
        "name, is still read)",
    )
    worker_concurrency: int = Field(
        default=10,
        ge=1,
        description="jobs one worker claims at a time; it holds at most twice as many "
        "(`cachet worker --concurrency N` overrides it)",
    )
    job_max_attempts: int = 8
    job_retry_max_delay_seconds: float = 600.0
    job_transient_max_delay_seconds: float = Field(
        default=900.0,
        gt=0,
        description="longest wait between retries of a job waiting for a service (a TSA or "
        "OCSP responder down): such jobs are retried until it answers, and the envelope shows "
        "the pending problem meanwhile",
    )
    job_heartbeat_timeout_seconds: float = 30.0
    sweep_interval_seconds: float = 30.0

    recipient_session_idle_minutes: int = 30
    session_max_seconds: int = Field(
        default=8 * 3600,
        gt=0,
        description="a recipient session ends this long after it was opened, however busy",
    )
    default_expiry_days: int = 30
    reminder_cooldown_minutes: int = 60

    webhook_retry_schedule: str = "5s,5m,30m,2h,5h,10h,14h,20h,24h"
    webhook_timeout_seconds: float = 15.0
    webhook_disable_after_days: float = 5.0

    # The platform seal: set at most one key source. None: a development PKI under data_dir/pki.
    signing_key_file: Path | None = Field(
        default=None, description="PEM private key of the platform seal (with SIGNING_CERT_FILE)"
    )
    signing_cert_file: Path | None = Field(
        default=None, description="PEM certificate of the platform seal"
    )
    signing_chain_file: Path | None = Field(
        default=None,
        description="PEM bundle: the seal certificate's intermediates and root (PEM and PKCS#11)",
    )
    signing_key_password: str | None = Field(
        default=None, description="password of SIGNING_KEY_FILE, when it is encrypted"
    )
    signing_pkcs12_file: Path | None = Field(
        default=None, description="PKCS#12 (.p12/.pfx) holding the seal key, certificate, chain"
    )
    signing_pkcs12_password: str | None = None
    signing_pkcs11_module: Path | None = Field(
        default=None, description="PKCS#11 module (.so) of the HSM or token holding the seal key"
    )
    signing_pkcs11_token_label: str | None = None
    signing_pkcs11_pin: str | None = None
    signing_pkcs11_key_label: str | None = None
    signing_pkcs11_cert_label: str | None = Field(
        default=None, description="label of the seal certificate on the token; default: key label"
    )
    signing_certify: bool = Field(
        default=False,
        description="at send, certify each document with the platform seal (DocMDP: only form "
        "filling and signing allowed afterwards) after creating the signature fields",
    )
    tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 timestamp server; unset: the development TSA (refused in production)",
    )
    trust_roots_file: Path | None = Field(
        default=None,
        description="PEM bundle of extra trusted roots (e.g. the TSA's) for validating signatures",
    )

    # Long-term validation (PAdES B-LTA): archive renewal and validation reports.
    archive_renew_before_days: int = Field(
        default=90,
        ge=1,
        description="renew a signed document's archive timestamp (fresh validation data and a "
        "new document timestamp) once its certificate expires within this many days",
    )
    validation_max_bytes: int = Field(
        default=50 * MIB,
        description="largest PDF POST /v1/validations accepts (a signed file can be larger "
        "than its upload)",
    )

    # Hardening of the HTTP edge, the data directory and the proxies believed (issue 10).
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="a connection must deliver a request's line and headers within this; an "
        "idle new connection is closed after it too",
    )
    http_body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="longest wait for the next part of a request body; then 408 body_timeout "
        "and the connection is closed",
    )
    http_keepalive_seconds: int = Field(
        default=5, gt=0, description="an idle keep-alive connection is closed after this"
    )
    http_max_connections: int = Field(
        default=1000,
        gt=0,
        description="open connections at most; a request on a connection beyond it gets 503",
    )
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks (10.0.0.0/8) of the reverse proxies "
        "whose X-Forwarded-For and X-Forwarded-Proto are believed; default: none",
    )
    tmp_max_age_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="temporary files (uploads, job scratch) unchanged for this long were left by "
        "a killed process; removed at start and by the sweep",
    )

    # eIDAS simple: one-time codes by SMS (issue 11). Each provider's own settings below.
    sms_provider: SmsProviderName = Field(
        default="dev",
        description="dev (development only: DATA_DIR/sms, GET /dev/sms), brevo, twilio or ovh",
    )
    sms_sender: str | None = Field(
        default=None, description="the sender shown on the phone (alphanumeric, ≤ 11 chars)"
    )
    sms_base_url: str | None = Field(
        default=None, description="the provider's API base URL, to point it elsewhere"
    )
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    sms_callback_token: str | None = Field(
        default=None,
        description="Brevo: the secret its delivery events carry (in the status URL Cachet "
        "gives it, or as a bearer token); default: derived from CACHET_SECRET_KEY",
    )
    brevo_api_key: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    ovh_application_key: str | None = None
    ovh_application_secret: str | None = None
    ovh_consumer_key: str | None = None
    ovh_sms_service_name: str | None = None
    otp_verified_seconds: int = Field(
        default=600,
        gt=0,
        description="how long a verified SMS code lets its session sign",
    )
    otp_send_wait_seconds: float = Field(
        default=3.0,
        ge=0,
        description="how long POST /v1/signing/otp waits for the provider's answer, so that a "
        "number it refuses is told at once (the send itself is a job, retried if it must)",
    )

    # eIDAS advanced: identity verification and a certificate in the signer's name (issue 12).
    idv_provider: IdvProviderName = Field(
        default="dev",
        description="dev (development only: GET /dev/identity/{session_id}), veriff or onfido",
    )
    idv_base_url: str | None = Field(
        default=None, description="the identity provider's API base URL, to point it elsewhere"
    )
    idv_timeout_seconds: float = Field(default=10.0, gt=0)
    idv_return_url: str | None = Field(
        default=None,
        description="where the provider's hosted check sends the signer back (a page of the "
        "platform); unset: the provider's own closing page. Never the signer's link: it is a "
        "credential",
    )
    idv_max_attempts: int = Field(
        default=3, ge=1, description="identity verification sessions a signer may start"
    )
    idv_poll_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often a pending verification is read from the provider when its "
        "callback has not come",
    )
    idv_session_hours: float = Field(
        default=24.0,
        gt=0,
        description="a verification still pending this long after it started is expired",
    )
    veriff_api_key: str | None = None
    veriff_shared_secret: str | None = None
    onfido_api_token: str | None = None
    onfido_webhook_token: str | None = None
    onfido_workflow_id: str | None = None

    advanced_signer: AdvancedSignerName = Field(
        default="local_ca",
        description="local_ca: a one-shot certificate from Cachet's issuing CA per signature; "
        "csc: remote signing at a trust service provider (CSC API v2)",
    )
    # Cachet's issuing CA (local_ca): at most one key source, like the seal's. None: the
    # development PKI's issuing CA (refused in production).
    issuing_ca_key_file: Path | None = Field(
        default=None, description="PEM private key of the CA that issues signers' certificates"
    )
    issuing_ca_cert_file: Path | None = Field(
        default=None, description="PEM certificate of the issuing CA"
    )
    issuing_ca_chain_file: Path | None = Field(
        default=None, description="PEM bundle: the issuing CA's own intermediates and root"
    )
    issuing_ca_key_password: str | None = None
    issuing_ca_pkcs12_file: Path | None = Field(
        default=None, description="PKCS#12 holding the issuing CA's key, certificate and chain"
    )
    issuing_ca_pkcs12_password: str | None = None
    issuing_ca_pkcs11_module: Path | None = Field(
        default=None, description="PKCS#11 module (.so) of the token holding the issuing CA key"
    )
    issuing_ca_pkcs11_token_label: str | None = None
    issuing_ca_pkcs11_pin: str | None = None
    issuing_ca_pkcs11_key_label: str | None = None
    issuing_ca_pkcs11_cert_label: str | None = None
    signer_certificate_minutes: int = Field(
        default=60, ge=5, description="lifetime of a one-shot signer certificate"
    )
    signer_certificate_policy_oid: str | None = Field(
        default=None,
        description="certificate policy OID put in signers' certificates; default: Cachet's "
        "development arc (replace with the operator's policy in production)",
    )

    csc_base_url: str | None = Field(
        default=None, description="the trust service's CSC API base (…/csc/v2 is appended)"
    )
    csc_client_id: str | None = None
    csc_client_secret: str | None = None
    csc_credential_id: str | None = Field(
        default=None,
        description="the credential to sign with; unset: the signer's own, found with "
        "credentials/list by their e-mail address (userID) and certificate name",
    )
    csc_pin: str | None = Field(
        default=None, description="PIN sent in authData when the credential asks for one"
    )
    csc_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("signing_url")
    @classmethod
    def _has_token_placeholder(cls, value: str | None) -> str | None:
        if value is not None and "{token}" not in value:
            raise ValueError("must contain {token}")
        return value

    @field_validator("frame_ancestors")
    @classmethod
    def _are_frame_sources(cls, value: str) -> str:
        sources = value.split()
        if not sources:
            raise ValueError("give 'none', 'self' or origins such as https://app.example.com")
        if "'none'" in sources and len(sources) > 1:
            raise ValueError("'none' stands alone")
        for source in sources:
            if source not in ("'self'", "'none'") and not _ORIGIN.fullmatch(source):
                raise ValueError(f"{source!r} is not an origin (scheme://host[:port])")
        return " ".join(sources)

    @field_validator("blob_url")
    @classmethod
    def _is_blob_url(cls, value: str | None) -> str | None:
        if value is not None:
            _blob_location(value)  # ValueError says what is wrong
        return value

    @model_validator(mode="after")
    def _s3_keys_in_pairs(self) -> Settings:
        # One key without the other would fall back to the host's credentials without a word.
        if bool(self.s3_access_key_id) != bool(self.s3_secret_access_key):
            raise ValueError("CACHET_S3_ACCESS_KEY_ID and CACHET_S3_SECRET_ACCESS_KEY go together")
        return self

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _is_schedule(cls, value: str) -> str:
        parse_durations(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _are_networks(cls, value: str) -> str:
        for item in _comma_list(value):
            ip_network(item, strict=False)  # ValueError names the item
        return value

    @property
    def is_development(self) -> bool:
        return self.env is Environment.development

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        return LogFormat.text if self.is_development else LogFormat.json

    @property
    def auto_migrate(self) -> bool:
        if self.migrate_on_start is None:
            return self.is_development
        return self.migrate_on_start

    @property
    def serves_sender_app(self) -> bool:
        if self.sender_app is None:
            return self.is_development
        return self.sender_app

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def signing_link_template(self) -> str:
        return self.signing_url or self.base_url + "/sign/{token}"

    @property
    def frame_parent_origins(self) -> list[str]:
        """Where the framed page posts its messages: the origins of CACHET_FRAME_ANCESTORS
        ('self' is kept as is: the page reads its own origin)."""
        return [source for source in self.frame_ancestors.split() if source != "'none'"]

    @property
    def webhook_retry_delays(self) -> list[timedelta]:
        return parse_durations(self.webhook_retry_schedule)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _comma_list(self.trusted_proxies)

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def secret_key_file(self) -> Path:
        return self.data_dir / "secret-key"

    @property
    def blob_dir(self) -> Path:
        """The filesystem store's folder: CACHET_BLOB_URL's file:// path, or data_dir/blobs."""
        match _blob_location(self.blob_url):
            case Path() as folder:
                return folder
            case _:
                return self.data_dir / "blobs"

    @property
    def s3_bucket_and_prefix(self) -> tuple[str, str] | None:
        """From CACHET_BLOB_URL=s3://bucket/prefix; None when documents are kept in files."""
        match _blob_location(self.blob_url):
            case (str() as bucket, str() as prefix):
                return bucket, prefix
            case _:
                return None

    @property
    def blob_cache_dir(self) -> Path:
        """With S3: the local copies of the documents in use (the PDF tools work on files)."""
        return self.data_dir / "blob-cache"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def dev_api_key_file(self) -> Path:
        return self.data_dir / "dev-api-key"

    @property
    def pki_dir(self) -> Path:
        return self.data_dir / "pki"


# An origin as a browser writes it: no path, no trailing slash, no wildcard.
_ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


def _comma_list(text: str) -> list[str]:
    return [item for item in (part.strip() for part in text.split(",")) if item]


@lru_cache
def get_settings() -> Settings:
    return Settings()


def _blob_location(url: str | None) -> Path | tuple[str, str] | None:
    """CACHET_BLOB_URL read: a folder, an S3 (bucket, prefix), or None for the default."""
    if not url:
        return None
    if url.startswith("file://"):
        folder = url.removeprefix("file://")
        if not folder:
            raise ValueError("file:// needs a folder, as in file:///var/lib/cachet/blobs")
        return Path(folder)
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError("s3:// needs a bucket, as in s3://bucket/prefix")
        return bucket, prefix.strip("/")
    raise ValueError("must start with file:// or s3://")
