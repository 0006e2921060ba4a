"""Long-term validation data (PAdES B-LT): the revocation status of every certificate that the
signatures and timestamps of a PDF rest on, obtained hard-fail and written to its document
security store (DSS).

The archive timestamp (B-LTA) and its renewal use it (pades.py); so can a signature that must
carry its validation data at once. The functions are async: call them inside pyHanko's event
loop (asyncio.run in a worker thread), with a context from
Seal.validation_context(require_revocation=True), closed afterwards.

Hard-fail, in three steps:
1. Each certificate chain is validated with revocation data *required* for every certificate
   below its trust root (pyhanko-certvalidator's "require" policy: the OCSP responder when the
   certificate names one, its CRL when it does not or the responder fails).
2. What was gathered is checked to cover each of those certificates -- an OCSP answer about it,
   or a CRL from its issuer -- before anything is written: that is what the DSS will hold.
3. The DSS is written: the chains, the OCSP answers and the CRLs.
Revocation data that cannot be obtained raises Unavailable, naming the certificate and where it
says its status is published: the responder may answer later. A chain that fails for another
reason (untrusted, revoked, expired) raises ChainRejected: no retry will mend it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InsufficientRevinfoError,
    PathBuildingError,
    PathValidationError,
)
from pyhanko_certvalidator.path import ValidationPath

from app.signing.failures import Unavailable

__all__ = [
    "Chain",
    "ChainRejected",
    "chains_of",
    "embed_validation_data",
    "first_expiry",
    "timestamper_chain",
    "uncovered_certificates",
]


class ChainRejected(Exception):
    """A certificate chain does not validate for a reason other than missing revocation data:
    no path to a trusted root, a revoked or expired certificate. Retrying will not help."""


@dataclass(frozen=True)
class Chain:
    """A certificate to validate, what it vouches for, and the certificates sent with it."""

    what: str
    certificate: asn1_x509.Certificate
    others: tuple[asn1_x509.Certificate, ...]


def chains_of(embedded: EmbeddedPdfSignature) -> list[Chain]:
    """The signer's chain and the chain of each timestamp token the signature carries (its
    signature timestamp, any content timestamp). For a document timestamp: its TSA's chain."""
    kind = "document timestamp" if embedded.sig_object_type == "/DocTimeStamp" else "signature"
    name = f"the {kind} {embedded.field_name!r}"
    chains = [_chain(embedded.signed_data, name)]
    for signed in (False, True):
        for token in extract_tst_data_iter(embedded.signer_info, signed=signed):
            chains.append(_chain(token, f"the timestamp of {name}"))
    return chains


async def timestamper_chain(timestamper: TimeStamper, md_algorithm: str) -> Chain:
    """The chain of the TSA that is about to timestamp, from the token pyHanko asks for once to
    size its signatures (cached by the timestamper): its revocation data must go into the DSS
    that the timestamp will cover."""
    token = await timestamper.async_dummy_response(md_algorithm)
    return _chain(token["content"], "the timestamp authority")


def _chain(signed_data: cms.SignedData, what: str) -> Chain:
    info = extract_certificate_info(signed_data)
    return Chain(what, info.signer_cert, tuple(info.other_certs))


async def embed_validation_data(
    writer: BasePdfFileWriter, chains: Sequence[Chain], context: ValidationContext
) -> list[ValidationPath]:
    """Validate every chain hard-fail, check the revocation data gathered covers each of their
    certificates, and write chains and data to the writer's DSS (no VRI: PAdES needs none).
    Returns the validation paths, in the order of `chains`.

    Raises Unavailable when a certificate's revocation data cannot be had, ChainRejected when
    a chain fails otherwise. Nothing is written to the writer unless everything is covered."""
    paths = [await _validated_path(chain, context) for chain in chains]
    missing = uncovered_certificates(paths, context.ocsps, context.crls)
    if missing:
        raise Unavailable(f"no revocation data for {_describe_all(missing)}")
    DocumentSecurityStore.supply_dss_in_writer(
        writer, None, paths=paths, validation_context=context
    )
    return paths


async def _validated_path(chain: Chain, context: ValidationContext) -> ValidationPath:
    validator = CertificateValidator(
        chain.certificate, intermediate_certs=chain.others, validation_context=context
    )
    try:
        path: ValidationPath = await validator.async_validate_usage(key_usage=set())  # type: ignore[no-untyped-call]
    except InsufficientRevinfoError as error:
        lacking = await _lacking_revocation_data(chain, context)
        raise Unavailable(
            f"could not obtain revocation data for {_describe_all(lacking)}, in the chain of "
            f"{chain.what}: {error.failure_msg}"
        ) from error
    except (PathValidationError, PathBuildingError) as error:
        detail = getattr(error, "failure_msg", None) or str(error)
        raise ChainRejected(
            f"the certificate chain of {chain.what} ({_describe(chain.certificate)}) does not "
            f"validate: {detail}"
        ) from error
    return path


async def _lacking_revocation_data(
    chain: Chain, context: ValidationContext
) -> list[asn1_x509.Certificate]:
    """The certificates of the chain that no revocation data gathered so far covers, to name in
    the error; the end certificate itself if not even a path can be built."""
    try:
        candidates = await context.path_builder.async_build_paths(chain.certificate)
    except PathBuildingError:
        return [chain.certificate]
    lacking = uncovered_certificates(candidates[:1], context.ocsps, context.crls)
    return lacking or [chain.certificate]


# --- coverage -------------------------------------------------------------------------------


def uncovered_certificates(
    paths: Iterable[ValidationPath],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
    crls: Iterable[asn1_crl.CertificateList],
) -> list[asn1_x509.Certificate]:
    """Every certificate below a trust root in `paths` for which neither a successful OCSP
    answer saying "good" nor a CRL from its issuer not listing it is among the data given.

    This judges presence and relevance, not signatures or freshness: the validation that
    gathered the data checked those. Each certificate once, in path order."""
    answers = [single for response in ocsps for single in _good_answers(response)]
    lists = list(crls)
    seen: set[bytes] = set()
    missing = []
    for path in paths:
        for cert in path.iter_certs(include_root=False):
            if cert.sha256 in seen:
                continue
            seen.add(cert.sha256)
            if not any(_answers_for(single, cert) for single in answers) and not any(
                _lists_issuer_of(crl, cert) for crl in lists
            ):
                missing.append(cert)
    return missing


def _good_answers(response: asn1_ocsp.OCSPResponse) -> Iterator[asn1_ocsp.SingleResponse]:
    if response["response_status"].native != "successful":
        return
    basic = response["response_bytes"]["response"].parsed
    for single in basic["tbs_response_data"]["responses"]:
        if single["cert_status"].name == "good":
            yield single


def _answers_for(single: asn1_ocsp.SingleResponse, cert: asn1_x509.Certificate) -> bool:
    cert_id = single["cert_id"]
    if cert_id["serial_number"].native != cert.serial_number:
        return False
    algorithm = cert_id["hash_algorithm"]["algorithm"].native
    issuer_hash = hashlib.new(algorithm, cert["tbs_certificate"]["issuer"].dump()).digest()
    return bool(cert_id["issuer_name_hash"].native == issuer_hash)


def _lists_issuer_of(crl: asn1_crl.CertificateList, cert: asn1_x509.Certificate) -> bool:
    if crl.issuer != cert.issuer:
        return False
    revoked = crl["tbs_cert_list"]["revoked_certificates"]
    return all(entry["user_certificate"].native != cert.serial_number for entry in revoked)


# --- words and dates ------------------------------------------------------------------------


def first_expiry(path: ValidationPath) -> datetime:
    """When the first certificate of the path, root included, stops being valid: what a
    timestamp made under it is good for, unless another timestamp covers it before then."""
    expiries: list[datetime] = [cert.not_valid_after for cert in path.iter_certs(include_root=True)]
    return min(expiries)


def _describe_all(certificates: Sequence[asn1_x509.Certificate]) -> str:
    return "; ".join(_describe(cert) for cert in certificates)


def _describe(cert: asn1_x509.Certificate) -> str:
    """The certificate's name and where it says its revocation status is published."""
    where = [f"OCSP {url}" for url in cert.ocsp_urls]
    where += [f"CRL {point.url}" for point in cert.crl_distribution_points if point.url]
    published = ", ".join(where) if where else "it names no OCSP responder or CRL"
    return f"certificate {_common_name(cert)!r} ({published})"


def _common_name(cert: asn1_x509.Certificate) -> str:
    name = cert.subject.native.get("common_name")
    if isinstance(name, list):
        name = name[0] if name else None
    return name if isinstance(name, str) and name else str(cert.subject.human_friendly)
