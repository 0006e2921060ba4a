"""A SoftHSM2 token for the PKCS#11 tests: the test seal's key (label "seal") and the test
PKI's intermediate as Cachet's issuing CA (label "issuing-ca"), each with its certificate.

One token for the whole run: the SoftHSM2 library reads SOFTHSM2_CONF once, when first loaded
into the process, so a second configuration made later would be ignored.
"""

from __future__ import annotations

import glob
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pkcs11
from asn1crypto import x509 as asn1_x509
from pkcs11 import Attribute, CertificateType, ObjectClass

from tests.signing.testpki import TestPki

TOKEN_LABEL = "cachet-seal"
USER_PIN = "1234"
SEAL_LABEL = "seal"
ISSUING_CA_LABEL = "issuing-ca"


@dataclass(frozen=True)
class Token:
    module: Path
    label: str
    pin: str


def softhsm_module() -> Path:
    found = glob.glob("/usr/lib/softhsm/libsofthsm2.so") + glob.glob(
        "/usr/lib/*/softhsm/libsofthsm2.so"
    )
    assert found, "SoftHSM2 is missing: run `make system-deps` (Debian package softhsm2)"
    return Path(found[0])


def make_token(directory: Path, test_pki: TestPki) -> Token:
    """A token in `directory` holding both keys and their certificates. SOFTHSM2_CONF stays set
    for the process."""
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    init = ["--init-token", "--free", "--label", TOKEN_LABEL, "--so-pin", "12345678"]
    subprocess.run(["softhsm2-util", *init, "--pin", USER_PIN], check=True, capture_output=True)
    module = softhsm_module()
    objects = (
        (SEAL_LABEL, b"\x01", test_pki.seal_key_pem, test_pki.seal_cert),
        (ISSUING_CA_LABEL, b"\x02", test_pki.intermediate_key_pem, test_pki.intermediate),
    )
    for label, key_id, key_file, _ in objects:
        key = ["--import", str(key_file), "--token", TOKEN_LABEL, "--label", label]
        subprocess.run(
            ["softhsm2-util", *key, "--id", key_id.hex(), "--pin", USER_PIN],
            check=True,
            capture_output=True,
        )
    token = pkcs11.lib(str(module)).get_token(token_label=TOKEN_LABEL)
    # softhsm2-util imports keys only; the certificates need a read-write session.
    with token.open(rw=True, user_pin=USER_PIN) as session:
        for label, key_id, _, certificate in objects:
            _store_certificate(session, label, key_id, certificate)
    return Token(module, TOKEN_LABEL, USER_PIN)


def _store_certificate(
    session: pkcs11.Session, label: str, key_id: bytes, certificate: asn1_x509.Certificate
) -> None:
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.SUBJECT: certificate.subject.dump(),
            Attribute.VALUE: certificate.dump(),
        }
    )
