"""The identity provider the settings name, built once per process."""

from __future__ import annotations

from app.config import Settings
from app.providers.dev_identity import DevIdentity
from app.providers.identity import IdentityProvider
from app.providers.onfido import OnfidoIdentity
from app.providers.veriff import VeriffIdentity

# What each provider needs besides CACHET_IDV_PROVIDER, as the operator writes it.
REQUIRED_IDV_SETTINGS: dict[str, tuple[str, ...]] = {
    "dev": (),
    "veriff": ("veriff_api_key", "veriff_shared_secret"),
    "onfido": ("onfido_api_token", "onfido_webhook_token", "onfido_workflow_id"),
}


def missing_idv_settings(settings: Settings) -> list[str]:
    """The provider's settings left unset, named as environment variables."""
    return [
        f"CACHET_{name.upper()}"
        for name in REQUIRED_IDV_SETTINGS[settings.idv_provider]
        if not getattr(settings, name)
    ]


def require_idv_settings(settings: Settings) -> None:
    """Raises ValueError naming the settings the configured provider still lacks."""
    missing = missing_idv_settings(settings)
    if missing:
        raise ValueError(f"CACHET_IDV_PROVIDER={settings.idv_provider} needs {', '.join(missing)}")


def build_identity_provider(settings: Settings) -> IdentityProvider:
    require_idv_settings(settings)
    timeout, base = settings.idv_timeout_seconds, settings.idv_base_url
    match settings.idv_provider:
        case "veriff":
            return VeriffIdentity(
                api_key=settings.veriff_api_key or "",
                shared_secret=settings.veriff_shared_secret or "",
                base_url=base,
                timeout=timeout,
            )
        case "onfido":
            return OnfidoIdentity(
                api_token=settings.onfido_api_token or "",
                webhook_token=settings.onfido_webhook_token or "",
                workflow_id=settings.onfido_workflow_id or "",
                base_url=base,
                timeout=timeout,
            )
    return DevIdentity(settings.data_dir / "identity", settings.base_url)
