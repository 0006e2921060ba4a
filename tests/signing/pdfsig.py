"""poppler's pdfsig as an independent second opinion on our signatures.

pdfsig checks each signature's CMS against the bytes it covers, with NSS, trusting only the root
given, and asks the signer certificate's OCSP responder. Limits of poppler 22.12 (Debian 12):

- Document timestamps (ETSI.RFC3161) are not validated at all ("not yet been verified").
- Its certificate verdict is NSS's *last error*, read even when verification succeeded (checked
  with gdb: CERT_PKIXVerifyCert returns SECSuccess). Only a successful OCSP check leaves that
  error cleared, so "Certificate is Trusted" needs a live responder; without OCSP (-no-ocsp, or
  the responder down) a good chain comes out as "Unknown issue with Certificate or corrupted
  data" or "issuer isn't Trusted". NSS caches OCSP answers per process, so within one pdfsig
  run only the *first* signature of a given certificate gets a trustworthy verdict; the later
  ones show the generic answer. `certificate_trusted` is None for the generic answer, and still
  False for a definite failure (unknown issuer, revoked, expired).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

_SIGNATURE_VALID = "Signature is Valid."
_UNSIGNED = "The signature form field is not signed."
_CERTIFICATE_VERDICTS = {
    "Certificate is Trusted.": True,
    "Certificate issuer is unknown.": False,
    "Certificate issuer isn't Trusted.": False,
    "Certificate has been Revoked.": False,
    "Certificate has Expired": False,
    "Certificate has Expired.": False,
}


class PdfsigMissing(RuntimeError):
    """pdfsig (poppler-utils) or certutil (libnss3-tools) is not installed."""


@dataclass(frozen=True)
class PdfsigSignature:
    number: int
    field: str
    signer: str
    signature_type: str
    signature_status: str
    certificate_status: str | None
    whole_document: bool
    raw: str

    @property
    def valid(self) -> bool:
        """The CMS signature verifies over the byte ranges it covers."""
        return self.signature_status == _SIGNATURE_VALID

    @property
    def certificate_trusted(self) -> bool | None:
        if self.certificate_status is None:
            return None
        return _CERTIFICATE_VERDICTS.get(self.certificate_status)


def pdfsig_verdicts(
    pdf: Path, trusted_root_pem: Path, *, ocsp: bool = True
) -> list[PdfsigSignature]:
    """Every signature pdfsig finds in `pdf`, in file order; empty signature fields are left out."""
    nss_dir = _nss_db_trusting(trusted_root_pem)
    options = [] if ocsp else ["-no-ocsp"]
    result = subprocess.run(
        [_tool("pdfsig"), *options, "-nssdir", f"sql:{nss_dir}", str(pdf)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "does not contain any signatures" in result.stdout:
        return []
    if result.returncode != 0:
        raise RuntimeError(f"pdfsig failed on {pdf} ({result.returncode}): {result.stderr}")
    return parse_pdfsig(result.stdout)


def parse_pdfsig(output: str) -> list[PdfsigSignature]:
    blocks = re.split(r"^Signature #(\d+):\s*$", output, flags=re.MULTILINE)
    # re.split keeps the captured numbers: [preamble, n1, body1, n2, body2, ...]
    return [
        _signature(int(number), body)
        for number, body in zip(blocks[1::2], blocks[2::2], strict=True)
        if _UNSIGNED not in body
    ]


def _signature(number: int, body: str) -> PdfsigSignature:
    fields = dict(re.findall(r"^\s*- ([^:\n]+): (.*)$", body, flags=re.MULTILINE))
    return PdfsigSignature(
        number=number,
        field=fields.get("Signature Field Name", ""),
        signer=fields.get("Signer Certificate Common Name", ""),
        signature_type=fields.get("Signature Type", ""),
        signature_status=fields.get("Signature Validation", ""),
        certificate_status=fields.get("Certificate Validation"),
        whole_document="- Total document signed" in body,
        raw=body,
    )


# --- NSS database -----------------------------------------------------------------------

_databases: dict[str, Path] = {}
_databases_lock = threading.Lock()


def _nss_db_trusting(root_pem: Path) -> Path:
    """An NSS database in which only this root is trusted, made once per root per process."""
    pem = root_pem.read_bytes()
    key = hashlib.sha256(pem).hexdigest()
    with _databases_lock:
        if key not in _databases:
            _databases[key] = _create_nss_db(root_pem)
        return _databases[key]


def _create_nss_db(root_pem: Path) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="cachet-nss-"))
    certutil = _tool("certutil")
    for command in (
        [certutil, "-N", "--empty-password", "-d", f"sql:{directory}"],
        [
            certutil,
            "-A",
            "-n",
            "root",
            "-t",
            "CT,C,C",
            "-i",
            str(root_pem),
            "-d",
            f"sql:{directory}",
        ],
    ):
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    return directory


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "poppler-utils" if name == "pdfsig" else "libnss3-tools"
        raise PdfsigMissing(f"{name} is not installed (Debian package {package}); it is required")
    return path
