"""The public side of Cachet's certificate authorities.

The development PKI: its root certificate, the root's CRL, its OCSP responder. The development
seal, TSA and signers CA certificates name {base_url}/pki/root.crl as their CRL distribution
point and {base_url}/pki/ocsp as their OCSP responder (AIA), so that any validator (pdfsig,
Acrobat, pyHanko) can check them. These routes answer 404 when the development PKI is not in use.

The issuing CA of signers' one-shot certificates (CACHET_ADVANCED_SIGNER=local_ca): its CRL at
{base_url}/pki/signers.crl, named by every such certificate. Cachet is that CA in production
too, so the route answers there; 404 only when advanced signatures are made elsewhere (csc).
"""

from __future__ import annotations

import base64
import binascii

import anyio
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp
from fastapi import APIRouter, Request, Response

from app.api.deps import RuntimeDep
from app.api.problems import problems
from app.errors import BadRequest, NotFound
from app.signing.devpki import DevelopmentPki, NotOurCertificate
from app.signing.issuing import IssuingCa
from app.signing.keys import platform_seal

router = APIRouter(prefix="/pki", tags=["pki"])


def _development_pki(runtime: RuntimeDep) -> DevelopmentPki:
    development_pki = platform_seal(runtime.seal).development_pki
    if development_pki is None:
        raise NotFound("development_pki")
    return development_pki


@router.get(
    "/root.crl",
    operation_id="getDevelopmentRootCrl",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pkix-crl": {"schema": {"type": "string", "format": "binary"}}},
            "description": "DER CRL signed by the development root, valid for 7 days",
        },
        **problems(404),
    },
)
async def get_root_crl(runtime: RuntimeDep) -> Response:
    """The development root's certificate revocation list (DER). 404 `development_pki_not_found`
    when the seal uses a configured key and the development TSA is not in use either."""
    pki = _development_pki(runtime)
    crl = await anyio.to_thread.run_sync(pki.current_crl)  # RSA signing when it is a day old
    return Response(
        crl.public_bytes(serialization.Encoding.DER),
        media_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _issuing_ca(runtime: RuntimeDep) -> IssuingCa:
    issuing_ca = platform_seal(runtime.seal).issuing_ca
    if issuing_ca is None:
        raise NotFound("issuing_ca")
    return issuing_ca


@router.get(
    "/signers.crl",
    operation_id="getSignersCrl",
    response_class=Response,
    responses={
        200: {
            "content": {"application/pkix-crl": {"schema": {"type": "string", "format": "binary"}}},
            "description": "DER CRL of signers' one-shot certificates, signed by Cachet's issuing "
            "CA, valid for 3 days (it lists none: each key is destroyed after its one signature)",
        },
        **problems(404),
    },
)
async def get_signers_crl(runtime: RuntimeDep) -> Response:
    """The CRL of the one-shot certificates Cachet's issuing CA gives eIDAS advanced signers
    (DER), named by each of them. 404 `issuing_ca_not_found` when advanced signatures are made
    at a remote provider (CACHET_ADVANCED_SIGNER=csc)."""
    issuing_ca = _issuing_ca(runtime)
    # The CA key signs once the list is an hour old (an HSM round trip, perhaps): off the loop.
    crl = await anyio.to_thread.run_sync(issuing_ca.current_crl)
    return Response(
        crl.dump(),
        media_type="application/pkix-crl",
        headers={"Cache-Control": "public, max-age=600"},
    )


@router.get(
    "/root.pem",
    operation_id="getDevelopmentRootCertificate",
    response_class=Response,
    responses={
        200: {
            "content": {"application/x-pem-file": {"schema": {"type": "string"}}},
            "description": "The development root CA certificate, to trust in pdfsig or Acrobat",
        },
        **problems(404),
    },
)
async def get_root_certificate(runtime: RuntimeDep) -> Response:
    """The development root CA certificate (PEM). Trust it in a PDF reader to see development
    signatures as valid; never trust it anywhere else. 404 when the PKI is not in use."""
    pki = _development_pki(runtime)
    return Response(pki.root_pem, media_type="application/x-pem-file")


OCSP_RESPONSE = {
    200: {
        "content": {
            "application/ocsp-response": {"schema": {"type": "string", "format": "binary"}}
        },
        "description": "An OCSP response (RFC 6960) signed by the development root: 'good' for "
        "its certificates, 'unauthorized' for a certificate it did not issue",
    },
    **problems(400, 404),
}


@router.post(
    "/ocsp",
    operation_id="answerDevelopmentOcspRequest",
    response_class=Response,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/ocsp-request": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
    responses=OCSP_RESPONSE,
)
async def post_ocsp(runtime: RuntimeDep, request: Request) -> Response:
    """The development root's OCSP responder (RFC 6960, POST). 400 `malformed_ocsp_request`
    when the body is not a DER OCSP request; 404 when the PKI is not in use."""
    pki = _development_pki(runtime)
    return await _answer(pki, await request.body())


@router.get(
    "/ocsp/{encoded:path}",
    operation_id="answerDevelopmentOcspRequestByGet",
    response_class=Response,
    responses=OCSP_RESPONSE,
)
async def get_ocsp(runtime: RuntimeDep, encoded: str) -> Response:
    """The same over GET (RFC 6960 A.1: the request's DER, base64, URL-encoded), which NSS --
    hence pdfsig -- uses for small requests."""
    pki = _development_pki(runtime)
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed() from None
    return await _answer(pki, der)


async def _answer(pki: DevelopmentPki, der: bytes) -> Response:
    try:
        # RSA signing: off the event loop.
        answer = await anyio.to_thread.run_sync(pki.ocsp_response, der)
    except NotOurCertificate:
        answer = ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    except ValueError:
        raise _malformed() from None
    return Response(
        answer.public_bytes(serialization.Encoding.DER),
        media_type="application/ocsp-response",
        headers={"Cache-Control": "no-store"},
    )


def _malformed() -> BadRequest:
    return BadRequest(
        "malformed_ocsp_request",
        "The request is not a DER-encoded OCSP request (RFC 6960).",
        title="Malformed OCSP request",
    )
