"""A trust service provider speaking the CSC API v2 on 127.0.0.1, for the tests of
app.providers.csc and app.signing.remote (see ../shared/research/providers.md, section 3).

At start it makes its own CA with `cryptography`: a root, then a signer certificate per
credential the test registers (its key kept here), each naming this server's CRL. It serves

    POST /csc/v2/info                  public; names itself as the OAuth server (oauth2)
    POST /csc/v2/oauth2/token          client_credentials, form-encoded (or HTTP Basic)
    POST /csc/v2/credentials/list      by userID; credentialInfo, certificates, certInfo, authInfo
    POST /csc/v2/credentials/info      key{status,algo,len}, cert{...}, auth{explicit, PIN}
    POST /csc/v2/credentials/authorize PIN, numSignatures == len(hashes) <= multisign: a SAD
                                       bound to those hashes (SCAL 2), short-lived
    POST /csc/v2/signatures/signHash   bearer token, that SAD, exactly those hashes, a signAlgo
                                       of the key: PKCS#1 v1.5 or ECDSA signatures, in order
    GET  /crl/root.crl                 the root's CRL, issued afresh at each request

Errors are OAuth-style, {"error", "error_description"} with 400 or 401. Every /csc/v2 request is
recorded (method, parsed body, size); failures are scripted per method (429, 5xx, a reply slower
than the client's timeout). It runs on its own thread and event loop, so it keeps answering
while a test blocks in pyHanko's synchronous API.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID = "cachet-tests"
CLIENT_SECRET = "csc-client-secret"
PIN = "246810"
TOKEN_LIFETIME_SECONDS = 3600

SHA256, SHA384, SHA512 = (
    "2.16.840.1.101.3.4.2.1",
    "2.16.840.1.101.3.4.2.2",
    "2.16.840.1.101.3.4.2.3",
)
HASHES: dict[str, hashes.HashAlgorithm] = {
    SHA256: hashes.SHA256(),
    SHA384: hashes.SHA384(),
    SHA512: hashes.SHA512(),
}
RSA_ENCRYPTION, SHA256_WITH_RSA = "1.2.840.113549.1.1.1", "1.2.840.113549.1.1.11"
EC_PUBLIC_KEY, ECDSA_WITH_SHA256 = "1.2.840.10045.2.1", "1.2.840.10045.4.3.2"
# signAlgo -> the hash it implies (None: hashAlgorithmOID says it).
SIGN_ALGORITHMS: dict[str, str | None] = {
    RSA_ENCRYPTION: None,
    SHA256_WITH_RSA: SHA256,
    EC_PUBLIC_KEY: None,
    ECDSA_WITH_SHA256: SHA256,
}
METHODS = [
    "info",
    "oauth2/token",
    "credentials/list",
    "credentials/info",
    "credentials/authorize",
    "signatures/signHash",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class Credential:
    credential_id: str
    user_id: str
    key: PrivateKey
    certificate: x509.Certificate
    key_status: str  # enabled | disabled
    cert_status: str  # valid | expired
    multisign: int
    pin: str | None  # None: implicit authorization

    @property
    def algorithms(self) -> list[str]:
        if isinstance(self.key, rsa.RSAPrivateKey):
            return [RSA_ENCRYPTION, SHA256_WITH_RSA]
        return [EC_PUBLIC_KEY, ECDSA_WITH_SHA256]

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)


@dataclass
class Authorization:
    """A SAD: for one credential, exactly these hashes, this many signatures, until then."""

    credential_id: str
    hashes: list[str]
    hash_oid: str
    remaining: int
    expires_at: float  # time.monotonic()


@dataclass(frozen=True)
class Seen:
    method: str
    body: dict[str, Any]  # the JSON body, or the token request's form
    size: int  # bytes on the wire


@dataclass(frozen=True)
class Scripted:
    """The next request to `method` answers `status` (after `delay` seconds), or, with no
    status, only comes `delay` seconds late."""

    method: str
    status: int | None = None
    delay: float = 0.0


class _Refusal(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


@dataclass
class FakeCsc:
    base_url: str = ""
    client_secret: str = CLIENT_SECRET
    sad_lifetime_seconds: float = 300.0
    info_changes: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Credential] = field(default_factory=dict)
    authorizations: dict[str, Authorization] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    script: list[Scripted] = field(default_factory=list)
    crl_fetches: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self.crl_url = f"{self.base_url}/crl/root.crl"
        self.root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root = _root_certificate(self.root_key)
        self._server = uvicorn.Server(
            uvicorn.Config(self.app(), log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    # --- life --------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake CSC server did not start")
            time.sleep(0.02)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # --- what tests set up and read ----------------------------------------------------

    def add_credential(
        self,
        user_id: str,
        given_name: str,
        surname: str,
        *,
        key_type: str = "rsa",
        key_status: str = "enabled",
        expired: bool = False,
        multisign: int = 1,
        pin: str | None = PIN,
    ) -> str:
        """A credential of `user_id` (their e-mail), with a fresh key and a certificate from
        this CA naming the person; its id."""
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if key_type == "rsa"
            else ec.generate_private_key(ec.SECP256R1())
        )
        credential_id = f"cred-{len(self.credentials) + 1}-{secrets.token_hex(4)}"
        certificate = self._issue(user_id, given_name, surname, key, expired=expired)
        self.credentials[credential_id] = Credential(
            credential_id=credential_id,
            user_id=user_id,
            key=key,
            certificate=certificate,
            key_status=key_status,
            cert_status="expired" if expired else "valid",
            multisign=multisign,
            pin=pin,
        )
        return credential_id

    def fail_next(self, method: str, *, status: int | None = None, delay: float = 0.0) -> None:
        self.script.append(Scripted(method, status, delay))

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [seen.body for seen in self.seen if seen.method == method]

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def write_root_pem(self, path: Path) -> Path:
        path.write_bytes(self.root_pem())
        return path

    def crl(self) -> x509.CertificateRevocationList:
        """The root's CRL as of now (nothing revoked), valid a week."""
        now = datetime.now(UTC).replace(microsecond=0)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.root.subject)
            .last_update(now - timedelta(minutes=1))
            .next_update(now + timedelta(days=7))
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
        )
        return builder.sign(self.root_key, hashes.SHA256())

    # --- the CA ------------------------------------------------------------------------

    def _issue(
        self, user_id: str, given_name: str, surname: str, key: PrivateKey, *, expired: bool
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        not_before, not_after = (
            (now - timedelta(days=730), now - timedelta(days=1))
            if expired
            else (now - timedelta(hours=1), now + timedelta(days=365))
        )
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
                x509.NameAttribute(NameOID.SURNAME, surname),
                x509.NameAttribute(NameOID.COMMON_NAME, f"{given_name} {surname}"),
            ]
        )
        crl_point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(self.crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_signing_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
            .add_extension(x509.CRLDistributionPoints([crl_point]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(user_id)]), critical=False)
        )
        return builder.sign(self.root_key, hashes.SHA256())

    # --- HTTP --------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/csc/v2/{method:path}", self._csc, methods=["POST"]),
                Route("/crl/root.crl", self._crl, methods=["GET"]),
            ]
        )

    async def _crl(self, request: Request) -> Response:
        self.crl_fetches += 1
        der = self.crl().public_bytes(serialization.Encoding.DER)
        return Response(der, media_type="application/pkix-crl")

    async def _csc(self, request: Request) -> Response:
        method = request.path_params["method"]
        raw = await request.body()
        try:
            body = _parsed(method, raw, request.headers.get("authorization", ""))
            self.seen.append(Seen(method, body, len(raw)))
            scripted = await self._scripted(method)
            if scripted is not None:
                return scripted
            if method not in ("info", "oauth2/token"):
                self._check_bearer(request.headers.get("authorization", ""))
            return JSONResponse(self._answer(method, body))
        except _Refusal as refusal:
            return JSONResponse(
                {"error": refusal.error, "error_description": refusal.description},
                refusal.status,
            )

    async def _scripted(self, method: str) -> Response | None:
        for index, scripted in enumerate(self.script):
            if scripted.method == method:
                del self.script[index]
                await asyncio.sleep(scripted.delay)
                if scripted.status is None:
                    return None
                headers = {"Retry-After": "1"} if scripted.status == 429 else {}
                error = {"error": "server_error", "error_description": "scripted failure"}
                return JSONResponse(error, scripted.status, headers=headers)
        return None

    def _check_bearer(self, authorization: str) -> None:
        scheme, _, token = authorization.partition(" ")
        expiry = self.tokens.get(token)
        if scheme.lower() != "bearer" or expiry is None or time.monotonic() > expiry:
            raise _Refusal(401, "invalid_token", "The access token is missing, invalid or expired")

    def _answer(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        handlers = {
            "info": self._info,
            "oauth2/token": self._token,
            "credentials/list": self._list,
            "credentials/info": self._credential_info,
            "credentials/authorize": self._authorize,
            "signatures/signHash": self._sign_hash,
        }
        handler = handlers.get(method)
        if handler is None:
            raise _Refusal(400, "invalid_request", f"Unknown method {method}")
        return handler(body)

    # --- methods -----------------------------------------------------------------------

    def _info(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "specs": "2.0.0.2",
            "name": "Fake QTSP",
            "logo": f"{self.base_url}/logo.png",
            "region": "FR",
            "lang": "en-US",
            "description": "A CSC v2 trust service for Cachet's tests",
            "authType": ["oauth2client"],
            "oauth2": f"{self.base_url}/csc/v2",
            "methods": [m for m in METHODS if m not in ("info", "oauth2/token")],
            "signAlgorithms": {"algos": list(SIGN_ALGORITHMS)},
            **self.info_changes,
        }

    def _token(self, form: dict[str, Any]) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise _Refusal(400, "unsupported_grant_type", "Only client_credentials is supported")
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != self.client_secret:
            raise _Refusal(401, "invalid_client", "Client authentication failed")
        token = secrets.token_urlsafe(24)
        self.tokens[token] = time.monotonic() + TOKEN_LIFETIME_SECONDS
        return {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}

    def _list(self, body: dict[str, Any]) -> dict[str, Any]:
        user_id = body.get("userID")
        if not isinstance(user_id, str) or not user_id:
            raise _Refusal(
                400, "invalid_request", "Missing (or invalid type) string parameter userID"
            )
        mine = [c for c in self.credentials.values() if c.user_id == user_id]
        answer: dict[str, Any] = {"credentialIDs": [c.credential_id for c in mine]}
        if body.get("credentialInfo"):
            answer["credentialInfos"] = [
                {"credentialID": c.credential_id, **self._describe(c, body)} for c in mine
            ]
        return answer

    def _credential_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._describe(self._credential(body), body)

    def _describe(self, credential: Credential, body: dict[str, Any]) -> dict[str, Any]:
        certificates = {
            "none": [],
            "single": [credential.der],
            "chain": [credential.der, self.root.public_bytes(serialization.Encoding.DER)],
        }[body.get("certificates", "single")]
        certificate = credential.certificate
        cert: dict[str, Any] = {
            "status": credential.cert_status,
            "certificates": [base64.b64encode(der).decode() for der in certificates],
        }
        if body.get("certInfo"):
            cert |= {
                "issuerDN": certificate.issuer.rfc4514_string(),
                "serialNumber": format(certificate.serial_number, "x"),
                "subjectDN": certificate.subject.rfc4514_string(),
                "validFrom": f"{certificate.not_valid_before_utc:%Y%m%d%H%M%SZ}",
                "validTo": f"{certificate.not_valid_after_utc:%Y%m%d%H%M%SZ}",
            }
        key = credential.key
        description: dict[str, Any] = {
            "description": f"Signing key of {credential.user_id}",
            "signatureQualifier": "eu_eidas_aes",
            "key": {
                "status": credential.key_status,
                "algo": credential.algorithms,
                "len": key.key_size,
            },
            "cert": cert,
            "multisign": credential.multisign,
            "SCAL": "2",
            "lang": "en-US",
        }
        if body.get("authInfo"):
            description["auth"] = _auth_description(credential)
        return description

    def _authorize(self, body: dict[str, Any]) -> dict[str, Any]:
        credential = self._credential(body)
        hash_oid, hashes_b64 = _hashes(body)
        count = body.get("numSignatures")
        if count != len(hashes_b64):
            raise _Refusal(400, "invalid_request", "numSignatures does not match the hashes")
        if count > credential.multisign:
            raise _Refusal(400, "invalid_request", "numSignatures exceeds multisign")
        if credential.key_status != "enabled":
            raise _Refusal(400, "invalid_request", "The credential's key is disabled")
        if credential.cert_status != "valid":
            raise _Refusal(400, "invalid_request", "The credential's certificate is expired")
        if credential.pin is not None and _given_pin(body) != credential.pin:
            raise _Refusal(400, "invalid_request", "Invalid PIN")
        sad = secrets.token_urlsafe(32)
        self.authorizations[sad] = Authorization(
            credential_id=credential.credential_id,
            hashes=list(hashes_b64),
            hash_oid=hash_oid,
            remaining=count,
            expires_at=time.monotonic() + self.sad_lifetime_seconds,
        )
        return {"SAD": sad, "expiresIn": int(self.sad_lifetime_seconds)}

    def _sign_hash(self, body: dict[str, Any]) -> dict[str, Any]:
        credential = self._credential(body)
        sign_algo = body.get("signAlgo")
        if sign_algo not in credential.algorithms:
            raise _Refusal(400, "invalid_request", "Unsupported signAlgo for this credential")
        if SIGN_ALGORITHMS[sign_algo] is not None:
            body = {"hashAlgorithmOID": SIGN_ALGORITHMS[sign_algo], **body}
        hash_oid, hashes_b64 = _hashes(body)
        authorization = self.authorizations.get(str(body.get("SAD")))
        if authorization is None or authorization.credential_id != credential.credential_id:
            raise _Refusal(400, "invalid_request", "Invalid SAD")
        if time.monotonic() > authorization.expires_at:
            raise _Refusal(400, "invalid_request", "The SAD has expired")
        if authorization.remaining < len(hashes_b64):
            raise _Refusal(400, "invalid_request", "The SAD has been used")
        # SCAL 2: the SAD authorizes these hashes and no others.
        if sorted(hashes_b64) != sorted(authorization.hashes) or hash_oid != authorization.hash_oid:
            raise _Refusal(400, "invalid_request", "Hashes differ from those authorized")
        authorization.remaining -= len(hashes_b64)
        signatures = [
            _sign(credential.key, base64.b64decode(value), HASHES[hash_oid]) for value in hashes_b64
        ]
        return {"signatures": [base64.b64encode(s).decode() for s in signatures]}

    def _credential(self, body: dict[str, Any]) -> Credential:
        credential = self.credentials.get(str(body.get("credentialID")))
        if credential is None:
            raise _Refusal(400, "invalid_request", "Invalid parameter credentialID")
        return credential


def _parsed(method: str, raw: bytes, authorization: str) -> dict[str, Any]:
    if method == "oauth2/token":
        form: dict[str, Any] = dict(parse_qsl(raw.decode()))
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "basic":  # client_secret_basic, as RFC 6749 prefers
            client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
            form |= {"client_id": client_id, "client_secret": secret}
        return form
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _Refusal(400, "invalid_request", "The body is not JSON") from None
    if not isinstance(body, dict):
        raise _Refusal(400, "invalid_request", "The body is not a JSON object")
    return body


def _hashes(body: dict[str, Any]) -> tuple[str, list[str]]:
    """hashAlgorithmOID and hashes, each hash checked to be a digest of that algorithm."""
    hash_oid = body.get("hashAlgorithmOID")
    if hash_oid not in HASHES:
        raise _Refusal(400, "invalid_request", "Missing or unsupported hashAlgorithmOID")
    values = body.get("hashes")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _Refusal(400, "invalid_request", "Missing (or invalid type) array parameter hashes")
    for value in values:
        try:
            digest = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _Refusal(400, "invalid_request", "A hash is not base64") from None
        if len(digest) != HASHES[hash_oid].digest_size:
            raise _Refusal(400, "invalid_request", "A hash has the wrong length")
    return hash_oid, values


def _given_pin(body: dict[str, Any]) -> str | None:
    for item in body.get("authData") or []:
        if isinstance(item, dict) and item.get("id") == "PIN":
            return str(item.get("value"))
    return None


def _auth_description(credential: Credential) -> dict[str, Any]:
    if credential.pin is None:
        return {"mode": "implicit"}
    pin_object = {
        "type": "Password",
        "id": "PIN",
        "format": "N",
        "label": "PIN",
        "description": "The PIN of the signing key",
    }
    return {"mode": "explicit", "expression": "PIN", "objects": [pin_object]}


def _sign(key: PrivateKey, digest: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, PKCS1v15(), Prehashed(algorithm))
    return key.sign(digest, ec.ECDSA(Prehashed(algorithm)))


def _signing_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _root_certificate(key: rsa.RSAPrivateKey) -> x509.Certificate:
    now = datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Fake QTSP"),
            x509.NameAttribute(NameOID.COMMON_NAME, "Fake QTSP Root CA"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(key, hashes.SHA256())
