"""The SMS provider the settings name, built once per process."""

from __future__ import annotations

from app.config import Settings
from app.providers.brevo import BrevoSms
from app.providers.dev_sms import DevSmsOutbox
from app.providers.ovh import OvhSms
from app.providers.sms import SmsProvider
from app.providers.twilio import TwilioSms

# What each provider needs besides CACHET_SMS_PROVIDER, as the operator writes it.
REQUIRED_SETTINGS: dict[str, tuple[str, ...]] = {
    "dev": (),
    "brevo": ("brevo_api_key", "sms_sender"),
    "twilio": ("twilio_account_sid", "twilio_auth_token"),
    "ovh": (
        "ovh_application_key",
        "ovh_application_secret",
        "ovh_consumer_key",
        "ovh_sms_service_name",
    ),
}


def missing_sms_settings(settings: Settings) -> list[str]:
    """The provider's settings left unset, named as environment variables."""
    missing = [
        f"CACHET_{name.upper()}"
        for name in REQUIRED_SETTINGS[settings.sms_provider]
        if not getattr(settings, name)
    ]
    no_origin = not (settings.sms_sender or settings.twilio_messaging_service_sid)
    if settings.sms_provider == "twilio" and no_origin:
        missing.append("CACHET_SMS_SENDER or CACHET_TWILIO_MESSAGING_SERVICE_SID")
    return missing


def require_sms_settings(settings: Settings) -> None:
    """Raises ValueError naming the settings the configured provider still lacks."""
    missing = missing_sms_settings(settings)
    if missing:
        raise ValueError(f"CACHET_SMS_PROVIDER={settings.sms_provider} needs {', '.join(missing)}")


def build_sms_provider(settings: Settings, *, callback_token: str) -> SmsProvider:
    require_sms_settings(settings)
    timeout, base = settings.sms_timeout_seconds, settings.sms_base_url
    match settings.sms_provider:
        case "brevo":
            return BrevoSms(
                api_key=settings.brevo_api_key or "",
                sender=settings.sms_sender or "",
                callback_token=settings.sms_callback_token or callback_token,
                base_url=base,
                timeout=timeout,
            )
        case "twilio":
            return TwilioSms(
                account_sid=settings.twilio_account_sid or "",
                auth_token=settings.twilio_auth_token or "",
                sender=settings.sms_sender,
                messaging_service_sid=settings.twilio_messaging_service_sid,
                base_url=base,
                timeout=timeout,
            )
        case "ovh":
            return OvhSms(
                application_key=settings.ovh_application_key or "",
                application_secret=settings.ovh_application_secret or "",
                consumer_key=settings.ovh_consumer_key or "",
                service_name=settings.ovh_sms_service_name or "",
                sender=settings.sms_sender,
                base_url=base,
                timeout=timeout,
            )
    return DevSmsOutbox(settings.data_dir / "sms")
