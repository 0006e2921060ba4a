"""Timestamp sources: an RFC 3161 server over HTTP, or the development TSA in process."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import cache

import aiohttp
import certifi
from asn1crypto import cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pyhanko.keys.internal import translate_pyca_cryptography_key_to_asn1
from pyhanko.sign import general
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from app.signing.failures import Unavailable


def _attribute(name: str, value: object) -> cms.CMSAttribute:
    attribute: cms.CMSAttribute = general.simple_cms_attribute(name, value)  # type: ignore[no-untyped-call]
    return attribute


def http_timestamper(url: str) -> TimeStamper:
    # No shared aiohttp session: signing runs in worker threads, each with its own event
    # loop, and a session belongs to the loop that opened it. One per request, then.
    return HttpTimeStamper(url)


class HttpTimeStamper(HTTPTimeStamper):
    """pyHanko's HTTP timestamper, but every per-request session shares one TLS context, and a
    TSA that cannot be reached or refuses is `Unavailable` (naming its URL): worth a retry later.

    pyHanko builds a fresh context for each request, parsing certifi's CA bundle every time:
    about 20 ms of CPU, holding the GIL, per timestamp, even for http:// URLs.
    """

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        try:
            token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
        except TimestampRequestError as error:
            raise tsa_unavailable(self.url, error) from error
        return token

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            response: tsp.TimeStampResp = await super().async_request_tsa_response(req)
        except (TimestampRequestError, OSError) as error:
            raise tsa_unavailable(self.url, error) from error
        return response

    @asynccontextmanager
    async def _acquire_session(self) -> AsyncIterator[aiohttp.ClientSession]:
        connector = aiohttp.TCPConnector(ssl=_tls_context())
        async with aiohttp.ClientSession(connector=connector) as session:
            yield session


def tsa_unavailable(url: str | None, error: BaseException) -> Unavailable:
    """The TSA's failure as the transient kind, with what went wrong underneath."""
    cause = error.__cause__ or error
    where = f"the timestamp authority at {url}" if url else "the timestamp authority"
    return Unavailable(
        f"{where} did not answer: {str(error) or type(error).__name__}"
        + (f" ({cause})" if cause is not error and str(cause) else "")
    )


@cache
def _tls_context() -> ssl.SSLContext:
    # The same trust pyHanko uses (certifi); an SSLContext is safe to share between threads.
    return ssl.create_default_context(cafile=certifi.where())


class DevelopmentTimeStamper(DummyTimeStamper):
    """The development TSA: RFC 3161 tokens signed in process with the development TSA key.

    pyHanko's DummyTimeStamper re-parses its key for every token; this one keeps the parsed
    key (about 29 ms saved per RSA timestamp).
    """

    def __init__(
        self,
        tsa_cert: asn1_x509.Certificate,
        tsa_key: RSAPrivateKey,
        certs_to_embed: Iterable[asn1_x509.Certificate] = (),
    ) -> None:
        super().__init__(
            tsa_cert=tsa_cert,
            tsa_key=translate_pyca_cryptography_key_to_asn1(tsa_key),
            certs_to_embed=SimpleCertificateStore.from_certs(list(certs_to_embed)),  # type: ignore[no-untyped-call]
        )
        self._private_key = tsa_key

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes(
            [
                _attribute("content_type", "tst_info"),
                _attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
                _attribute("signing_certificate", general.as_signing_certificate(self.tsa_cert)),
                _attribute("message_digest", digest.finalize()),
            ]
        )
        signature = self._private_key.sign(
            signed_attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper())
        )
        return signature, signed_attrs
