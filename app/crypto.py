"""The service's secret key: encrypts webhook secrets at rest, derives recipients' link tokens,
keys the evidence chain.

Link tokens are HMACs of the recipient's id under a key derived from the secret key, so the
database only ever holds their SHA-256: a dump of the database opens no envelope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from app.config import Settings
from app.files import private_folder, write_private


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        master = secret_key.encode()
        self._fernet = Fernet(base64.urlsafe_b64encode(_subkey(master, b"cachet/webhook-secrets")))
        self._token_key = _subkey(master, b"cachet/link-tokens")
        self._evidence_key = _subkey(master, b"cachet/evidence-chain")
        self._otp_key = _subkey(master, b"cachet/one-time-codes")

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise ValueError("secret was encrypted under another secret key") from error

    def link_token(self, recipient_id: uuid.UUID) -> str:
        """256 bits, stable for a recipient: reminders carry the same link as the invitation."""
        digest = hmac.new(self._token_key, recipient_id.bytes, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def evidence_mac(self, message: bytes) -> str:
        """Keys the evidence chain: whoever rewrites events or the chain's anchor needs this."""
        return hmac.new(self._evidence_key, message, hashlib.sha256).hexdigest()

    def evidence_mac_matches(self, message: bytes, mac: str) -> bool:
        return hmac.compare_digest(self.evidence_mac(message), mac)

    def provider_token(self, name: str) -> str:
        """A stable secret for a provider's callbacks that carry no signature of their own."""
        digest = hmac.new(self._token_key, b"provider:" + name.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def otp_mac(self, code_id: uuid.UUID, code: str) -> str:
        """What is stored of a one-time code: an HMAC bound to its row, never the code."""
        return hmac.new(self._otp_key, code_id.bytes + code.encode(), hashlib.sha256).hexdigest()

    def otp_matches(self, code_id: uuid.UUID, code: str, mac: str) -> bool:
        return hmac.compare_digest(self.otp_mac(code_id, code), mac)


def _subkey(master: bytes, purpose: bytes) -> bytes:
    return hmac.new(master, purpose, hashlib.sha256).digest()


def load_secret_key(settings: Settings) -> str:
    """The configured key, or in development one generated once under the data directory."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.is_development:
        raise RuntimeError("CACHET_SECRET_KEY is required when CACHET_ENV=production")
    return _development_key(settings.secret_key_file)


def _development_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(32)
    private_folder(path.parent)
    try:
        write_private(path, (key + "\n").encode())
    except FileExistsError:  # another process of this service created it first
        return path.read_text().strip()
    return key
