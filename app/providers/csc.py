"""Remote signing at a trust service provider through the Cloud Signature Consortium API v2.

Only digests leave the service: the trust service holds the signer's key, returns raw signature
values, and app.signing.remote wraps them in the CMS. One credential, opened and used:

    info                   (public) the service speaks CSC 2.x and offers the methods used here
    oauth2/token           client_credentials with Cachet's client id and secret, form-encoded,
                           at the authorization server `info` names: a bearer token
    credentials/list       the signer's credentials (userID: their e-mail address), unless
                           CACHET_CSC_CREDENTIAL_ID names one: the one whose certificate names
                           the verified person, key enabled, certificate valid
    credentials/info       that credential's chain (signer first), key algorithms, auth mode
    credentials/authorize  the digests about to be signed (and the PIN when asked): a SAD that
                           a SCAL 2 service binds to exactly those digests
    signatures/signHash    the SAD and the same digests: the raw signatures, in their order

Synchronous, over httpx.Client: it runs in a signing worker process, called from plain code
(opening the credential) and from inside pyHanko's own event loop (asyncio.run per signature);
an AsyncClient belongs to the loop it first ran in and would not survive the second call.

Failures come in two kinds, plain exceptions that carry only their message (they cross the
signing worker's process boundary by pickling):
    CscUnavailable   not now (429, 5xx, timeout, connection): the signing job retries later
    CscRefused       not as configured, whenever tried: refused client credentials, no
                     credential in the person's name, key disabled, certificate expired or not
                     the person's, PIN missing or wrong, not CSC v2
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from app.clock import system_now
from app.config import Settings
from app.providers.http import json_or_empty, provider_sync_client

__all__ = [
    "SHA256",
    "CscCredential",
    "CscRefused",
    "CscUnavailable",
    "comparable_name",
    "names_person",
    "open_csc_credential",
]

API_PATH = "/csc/v2"
NEEDED_METHODS = ("credentials/info", "credentials/authorize", "signatures/signHash")
LIST_METHOD = "credentials/list"
TOKEN_RENEW_MARGIN_SECONDS = 30.0
LIST_PAGES_MAX = 20

SHA256 = "2.16.840.1.101.3.4.2.1"
SHA384 = "2.16.840.1.101.3.4.2.2"
SHA512 = "2.16.840.1.101.3.4.2.3"
DIGEST_SIZES = {SHA256: 32, SHA384: 48, SHA512: 64}

# signAlgo, best first: the OID that names the digest too, then the bare key algorithm (which
# CSC pairs with hashAlgorithmOID). Both are PKCS#1 v1.5 for RSA, as pyHanko's CMS declares.
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
RSA_WITH = {
    SHA256: "1.2.840.113549.1.1.11",
    SHA384: "1.2.840.113549.1.1.12",
    SHA512: "1.2.840.113549.1.1.13",
}
ECDSA_WITH = {
    SHA256: "1.2.840.10045.4.3.2",
    SHA384: "1.2.840.10045.4.3.3",
    SHA512: "1.2.840.10045.4.3.4",
}


class CscUnavailable(Exception):
    """The trust service did not answer, or answered "not now": the same signature may be made
    later."""


class CscRefused(Exception):
    """The trust service refused, or cannot sign for this person as configured: retrying the
    same signature will not help."""


# --- opening a credential ---------------------------------------------------------------


@contextmanager
def open_csc_credential(
    settings: Settings, person_given_name: str, person_surname: str, email: str | None
) -> Iterator[CscCredential]:
    """The credential to sign with for this verified person, its HTTP client open until the
    block ends. Blocking (it talks to the trust service): call it in the signing worker.

    Raises CscRefused when no usable credential names the person, CscUnavailable when the
    service cannot be reached or is overloaded."""
    base_url, client_id, client_secret = _configured(settings)
    person = _Person(person_given_name, person_surname)
    with provider_sync_client(timeout=settings.csc_timeout_seconds) as client:
        session = _Session(client, base_url, client_id, client_secret)
        session.start()
        credential_id = settings.csc_credential_id or _find_credential_id(session, person, email)
        yield _open_credential(session, credential_id, person, settings.csc_pin)


def _configured(settings: Settings) -> tuple[str, str, str]:
    values = {
        "CACHET_CSC_BASE_URL": settings.csc_base_url,
        "CACHET_CSC_CLIENT_ID": settings.csc_client_id,
        "CACHET_CSC_CLIENT_SECRET": settings.csc_client_secret,
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise CscRefused("signing through a CSC trust service needs " + ", ".join(missing))
    base_url, client_id, client_secret = (str(value) for value in values.values())
    return base_url, client_id, client_secret


@dataclass(frozen=True)
class _Person:
    given_name: str
    surname: str

    def __str__(self) -> str:
        return f"{self.given_name} {self.surname}"


def _find_credential_id(session: _Session, person: _Person, email: str | None) -> str:
    """Among the signer's credentials, the usable one in their name (the latest to expire when
    there are several). A homonym's credential is never listed: the list is by e-mail."""
    if not email:
        raise CscRefused("the signer has no e-mail address to find their CSC credential by")
    if LIST_METHOD not in session.methods:
        raise CscRefused(
            "the trust service does not offer credentials/list: set CACHET_CSC_CREDENTIAL_ID"
        )
    named = [
        (description, certificate)
        for description in _list_credentials(session, email)
        if (certificate := _signer_certificate(description)) is not None
        and names_person(certificate, person.given_name, person.surname)
    ]
    if not named:
        raise CscRefused(
            f"no credential of {email} at the trust service is in the name of {person}"
        )
    now = system_now()
    usable = [pair for pair in named if not _problems(*pair, now=now)]
    if not usable:
        reasons = "; ".join(
            f"{description.credential_id}: {', '.join(_problems(description, cert, now=now))}"
            for description, cert in named
        )
        raise CscRefused(
            f"the credentials of {email} in the name of {person} cannot sign: {reasons}"
        )
    description, _ = max(usable, key=lambda pair: pair[1].not_valid_after_utc)
    return description.credential_id


def _list_credentials(session: _Session, email: str) -> list[_Description]:
    body: dict[str, object] = {
        "userID": email,
        "credentialInfo": True,
        "certificates": "single",
        "certInfo": True,
        "authInfo": True,
    }
    found: list[_Description] = []
    for _ in range(LIST_PAGES_MAX):
        answer = session.call(LIST_METHOD, body)
        ids = _strings(answer.get("credentialIDs"), LIST_METHOD, "credentialIDs")
        infos = answer.get("credentialInfos")
        if isinstance(infos, list) and len(infos) == len(ids):
            found += [_description(cid, info) for cid, info in zip(ids, infos, strict=True)]
        else:  # a service that ignores credentialInfo: ask about each one
            found += [_describe(session, cid) for cid in ids]
        page = answer.get("nextPageToken")
        if not isinstance(page, str) or not page:
            return found
        body = {**body, "pageToken": page}
    raise CscRefused(f"credentials/list of {email} did not end after {LIST_PAGES_MAX} pages")


def _open_credential(
    session: _Session, credential_id: str, person: _Person, pin: str | None
) -> CscCredential:
    """The credential's full description, checked before any document is touched: it names the
    person (a configured credential id too: an advanced signature is the person's own), its key
    is enabled, its certificate valid, and it can be authorized without the person."""
    description = _describe(session, credential_id)
    certificate = _signer_certificate(description)
    if certificate is None:
        raise CscRefused(f"the trust service gives no certificate for credential {credential_id}")
    if not names_person(certificate, person.given_name, person.surname):
        raise CscRefused(
            f"the certificate of credential {credential_id} "
            f"({certificate.subject.rfc4514_string()}) is not in the name of {person}"
        )
    problems = _problems(description, certificate, now=system_now())
    if problems:
        raise CscRefused(f"credential {credential_id} cannot sign: {', '.join(problems)}")
    return CscCredential(
        session, description, _key_kind(certificate, credential_id), _auth_data(description, pin)
    )


# --- the credential -----------------------------------------------------------------------


class CscCredential:
    """A credential ready to sign: its certificates, and digests signed remotely on demand.

    Matches app.signing.remote.RemoteKey (certificate_der, chain_der, sign_digests)."""

    def __init__(
        self,
        session: _Session,
        description: _Description,
        key_kind: str,
        auth_data: list[dict[str, str]],
    ) -> None:
        self._session = session
        self._description = description
        self._key_kind = key_kind
        self._auth_data = auth_data

    @property
    def credential_id(self) -> str:
        return self._description.credential_id

    @property
    def certificate_der(self) -> bytes:
        return self._description.certificates[0]

    @property
    def chain_der(self) -> list[bytes]:
        """The certificates above the signer's, as the trust service gives them."""
        return list(self._description.certificates[1:])

    @property
    def key_algorithms(self) -> tuple[str, ...]:
        """The signAlgo OIDs the credential's key accepts."""
        return self._description.key_algorithms

    def sign_digests(self, digests: list[bytes], hash_oid: str) -> list[bytes]:
        """Raw signature values of `digests` (made with the hash `hash_oid`), in order: one
        credentials/authorize for exactly these digests, then one signatures/signHash (per
        `multisign` digests, when there are more)."""
        size = DIGEST_SIZES.get(hash_oid)
        if size is None:
            raise ValueError(f"unsupported hash algorithm {hash_oid}")
        if any(len(digest) != size for digest in digests):
            raise ValueError(f"every digest made with {hash_oid} is {size} bytes long")
        sign_algo = self._sign_algorithm(hash_oid)
        signatures: list[bytes] = []
        step = self._description.multisign
        for start in range(0, len(digests), step):
            batch = digests[start : start + step]
            signatures += self._sign_batch(batch, hash_oid, sign_algo)
        return signatures

    def _sign_algorithm(self, hash_oid: str) -> str:
        if self._key_kind == "rsa":
            candidates = (RSA_WITH[hash_oid], RSA_ENCRYPTION)
        else:
            candidates = (ECDSA_WITH[hash_oid], EC_PUBLIC_KEY)
        for candidate in candidates:
            if candidate in self.key_algorithms:
                return candidate
        raise CscRefused(
            f"credential {self.credential_id} signs with {', '.join(self.key_algorithms)}, "
            f"none of {', '.join(candidates)}"
        )

    def _sign_batch(self, batch: Sequence[bytes], hash_oid: str, sign_algo: str) -> list[bytes]:
        hashes = [base64.b64encode(digest).decode("ascii") for digest in batch]
        sad = self._authorize(hashes, hash_oid)
        answer = self._session.call(
            "signatures/signHash",
            {
                "credentialID": self.credential_id,
                "SAD": sad,
                "hashes": hashes,
                "hashAlgorithmOID": hash_oid,
                "signAlgo": sign_algo,
            },
        )
        values = _strings(answer.get("signatures"), "signatures/signHash", "signatures")
        if len(values) != len(hashes):
            raise CscRefused(
                f"signatures/signHash returned {len(values)} signatures for {len(hashes)} digests"
            )
        return [_decoded(value, "signatures/signHash") for value in values]

    def _authorize(self, hashes: list[str], hash_oid: str) -> str:
        body: dict[str, object] = {
            "credentialID": self.credential_id,
            "numSignatures": len(hashes),
            "hashes": hashes,
            "hashAlgorithmOID": hash_oid,
        }
        if self._auth_data:
            body["authData"] = self._auth_data
        answer = self._session.call("credentials/authorize", body)
        sad = answer.get("SAD")
        if not isinstance(sad, str) or not sad:
            raise CscRefused("credentials/authorize answered without a SAD")
        return sad


def _key_kind(certificate: x509.Certificate, credential_id: str) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ec"
    raise CscRefused(f"credential {credential_id} has a {type(key).__name__}: RSA or ECDSA only")


def _auth_data(description: _Description, pin: str | None) -> list[dict[str, str]]:
    """authData for credentials/authorize. A worker signs unattended: it can give the configured
    PIN, never an OTP sent to the person nor a redirection to the trust service's page."""
    mode = description.auth_mode
    if mode == "implicit":
        return []
    if mode != "explicit":
        raise CscRefused(
            f"credential {description.credential_id} is authorized by {mode!r}, which needs the "
            "person at the trust service: only explicit (PIN) or implicit credentials can be used"
        )
    inputs = description.auth_inputs
    if not inputs:
        return []
    # "PIN", "PIN AND OTP", "PIN OR OTP": without an OR, every input named is needed. A rarer
    # expression that the PIN does not satisfy after all is refused by authorize itself.
    pin_is_enough = "PIN" in inputs and (inputs == {"PIN"} or " OR " in description.expression)
    if not pin_is_enough:
        raise CscRefused(
            f"credential {description.credential_id} asks for {description.expression or inputs}"
            ": only a PIN can be given without the person"
        )
    if not pin:
        raise CscRefused(
            f"credential {description.credential_id} asks for a PIN: set CACHET_CSC_PIN"
        )
    return [{"id": "PIN", "value": pin}]


# --- credential descriptions -------------------------------------------------------------


@dataclass(frozen=True)
class _Description:
    """What credentials/info (or an entry of credentials/list) says about a credential."""

    credential_id: str
    certificates: tuple[bytes, ...]  # DER, the signer's first
    key_status: str
    key_algorithms: tuple[str, ...]
    cert_status: str | None  # None: not said, the certificate's dates decide
    auth_mode: str
    expression: str
    auth_inputs: frozenset[str]
    multisign: int


def _describe(session: _Session, credential_id: str) -> _Description:
    answer = session.call(
        "credentials/info",
        {
            "credentialID": credential_id,
            "certificates": "chain",
            "certInfo": True,
            "authInfo": True,
        },
    )
    return _description(credential_id, answer)


def _description(credential_id: str, answer: object) -> _Description:
    what = f"the description of credential {credential_id}"
    info = _mapping(answer, what)
    key = _mapping(info.get("key"), f"{what} (key)")
    cert = _mapping(info.get("cert", {}), f"{what} (cert)")
    auth = _mapping(info.get("auth", {}), f"{what} (auth)")
    expression = str(auth.get("expression") or "")
    objects = auth.get("objects")
    named_objects = (
        [o.get("id") for o in objects if isinstance(o, dict)] if isinstance(objects, list) else []
    )
    return _Description(
        credential_id=credential_id,
        certificates=tuple(
            _decoded(value, what) for value in _strings(cert.get("certificates", []), what, "cert")
        ),
        key_status=str(key.get("status", "unknown")),
        key_algorithms=tuple(_strings(key.get("algo"), what, "key.algo")),
        cert_status=str(cert["status"]) if "status" in cert else None,
        auth_mode=str(auth.get("mode", "implicit")),
        expression=expression,
        auth_inputs=frozenset(_expression_inputs(expression))
        | frozenset(str(name) for name in named_objects if name),
        multisign=max(1, _integer(info.get("multisign", 1), what)),
    )


def _expression_inputs(expression: str) -> list[str]:
    return [word for word in re.findall(r"[A-Za-z0-9_]+", expression) if word not in ("AND", "OR")]


def _signer_certificate(description: _Description) -> x509.Certificate | None:
    if not description.certificates:
        return None
    try:
        return x509.load_der_x509_certificate(description.certificates[0])
    except ValueError:
        raise CscRefused(
            f"the certificate of credential {description.credential_id} is not DER X.509"
        ) from None


def _problems(
    description: _Description, certificate: x509.Certificate, *, now: datetime
) -> list[str]:
    """Why this credential cannot make a valid signature now; empty when it can."""
    problems = []
    if description.key_status != "enabled":
        problems.append(f"its key is {description.key_status}")
    if description.cert_status not in (None, "valid"):
        problems.append(f"its certificate is {description.cert_status}")
    elif not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        problems.append(
            f"its certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, not now"
        )
    return problems


# --- names --------------------------------------------------------------------------------

# Letters that Unicode does not decompose into a base letter and an accent.
_UNDECOMPOSED = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "\u0131": "i", "æ": "ae", "œ": "oe"}
)
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015'\u2019.,]+")


def comparable_name(name: str) -> str:
    """A name as the certificate and the identity check are compared: case, accents, hyphens,
    apostrophes and spacing do not count ("Jean-Élie" is "jean elie")."""
    folded = unicodedata.normalize("NFKD", name.casefold()).translate(_UNDECOMPOSED)
    letters = "".join(char for char in folded if not unicodedata.combining(char))
    return " ".join(_SEPARATORS.sub(" ", letters).split())


def names_person(certificate: x509.Certificate, given_name: str, surname: str) -> bool:
    """Whether the certificate's subject is this person: its givenName and surname when it has
    both (they then decide alone), otherwise its commonName in either order."""
    given, family = comparable_name(given_name), comparable_name(surname)
    if not given or not family:
        return False
    subject_given = _attribute(certificate, NameOID.GIVEN_NAME)
    subject_family = _attribute(certificate, NameOID.SURNAME)
    if subject_given is not None and subject_family is not None:
        return comparable_name(subject_given) == given and comparable_name(subject_family) == family
    common = _attribute(certificate, NameOID.COMMON_NAME)
    return common is not None and comparable_name(common) in (
        f"{given} {family}",
        f"{family} {given}",
    )


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = certificate.subject.get_attributes_for_oid(oid)
    return " ".join(str(value.value) for value in values) if values else None


# --- the wire -----------------------------------------------------------------------------


class _Session:
    """One conversation with the trust service: its API address, methods and bearer token."""

    def __init__(
        self, client: httpx.Client, base_url: str, client_id: str, client_secret: str
    ) -> None:
        self._client = client
        self._api = base_url.rstrip("/") + API_PATH
        self._token_url = self._api + "/oauth2/token"
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: str | None = None
        self._token_renewal: float | None = None  # time.monotonic() when to fetch another
        self.methods: frozenset[str] = frozenset()

    def start(self) -> None:
        """`info` (public), then a token from the authorization server it names."""
        info = self._post("info", {"lang": "en-US"}, bearer=False)
        self.methods = _checked_methods(info)
        oauth2 = info.get("oauth2")
        if isinstance(oauth2, str) and oauth2:
            self._token_url = oauth2.rstrip("/") + "/oauth2/token"
        self._fetch_token()

    def call(self, method: str, body: dict[str, object]) -> dict[str, object]:
        """A CSC method with the bearer token. A token the service no longer takes (expired or
        revoked before its announced time) is replaced once: nothing was done with it."""
        try:
            return self._post(method, body, bearer=True)
        except _TokenRejected:
            self._token = None
        try:
            return self._post(method, body, bearer=True)
        except _TokenRejected as rejected:
            raise CscRefused(str(rejected)) from None

    def _bearer(self) -> str:
        renewal = self._token_renewal
        if self._token is None or (renewal is not None and time.monotonic() >= renewal):
            self._fetch_token()
        assert self._token is not None
        return self._token

    def _fetch_token(self) -> None:
        # OAuth 2.0 client credentials (RFC 6749 4.4), form-encoded, the secret in the body
        # as CSC's examples send it (client_secret_post).
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        answer = self._post("oauth2/token", form=form, url=self._token_url, bearer=False)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise CscRefused("oauth2/token answered without an access_token")
        self._token = token
        lifetime = answer.get("expires_in")
        self._token_renewal = (
            time.monotonic() + float(lifetime) - TOKEN_RENEW_MARGIN_SECONDS
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool)
            else None
        )

    def _post(
        self,
        method: str,
        body: dict[str, object] | None = None,
        *,
        form: dict[str, str] | None = None,
        url: str | None = None,
        bearer: bool,
    ) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {self._bearer()}"} if bearer else {}
        try:
            response = self._client.post(
                url or f"{self._api}/{method}", json=body, data=form, headers=headers
            )
        except httpx.TimeoutException as error:
            raise CscUnavailable(f"the trust service did not answer {method} in time") from error
        except httpx.HTTPError as error:
            raise CscUnavailable(
                f"the trust service could not be reached for {method}: {type(error).__name__}"
            ) from error
        answer = json_or_empty(response)
        if bearer and response.status_code == 401 and answer.get("error") == "invalid_token":
            raise _TokenRejected(f"the trust service refused the access token for {method}")
        if not response.is_success:
            raise _failure(method, response, answer)
        return answer


class _TokenRejected(Exception):
    """401 invalid_token: the bearer token is not (or no longer) good."""


def _checked_methods(info: dict[str, object]) -> frozenset[str]:
    specs = str(info.get("specs") or "")
    if not specs.startswith("2"):
        raise CscRefused(f"the trust service speaks CSC API {specs or '(unnamed)'}, not 2.x")
    methods = frozenset(_strings(info.get("methods"), "info", "methods"))
    missing = [method for method in NEEDED_METHODS if method not in methods]
    if missing:
        raise CscRefused(f"the trust service does not offer {', '.join(missing)}")
    auth_types = info.get("authType")
    if isinstance(auth_types, list) and "oauth2client" not in auth_types:
        raise CscRefused(
            f"the trust service does not take OAuth client credentials (authType {auth_types})"
        )
    return methods


def _failure(method: str, response: httpx.Response, answer: dict[str, object]) -> Exception:
    status = response.status_code
    error, description = answer.get("error"), answer.get("error_description")
    said = f": {error}" if error else ""
    said += f" ({description})" if description else ""
    if status == 429 or status >= 500:
        wait = response.headers.get("Retry-After")
        later = f", retry after {wait} s" if wait else ""
        return CscUnavailable(
            f"the trust service answered {method} with HTTP {status}{said}{later}"
        )
    return CscRefused(f"the trust service refused {method} with HTTP {status}{said}")


def _mapping(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise CscRefused(f"{what} is not a JSON object")
    return value


def _strings(value: object, what: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CscRefused(f"{what}: {name} is not a list of strings")
    return list(value)


def _integer(value: object, what: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise CscRefused(f"{what}: {value!r} is not a number") from None


def _decoded(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CscRefused(f"{what}: a value is not base64") from None
