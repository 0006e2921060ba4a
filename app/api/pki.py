"""The development PKI's public side: its root certificate and the root's CRL.

The development seal and TSA certificates name {base_url}/pki/root.crl as their CRL
distribution point. Both routes answer 404 when the development PKI is not in use.
"""

from __future__ import annotations

import anyio
from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Response

from app.api.deps import RuntimeDep
from app.api.problems import problems
from app.errors import NotFound
from app.signing.devpki import DevelopmentPki
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
