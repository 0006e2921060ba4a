"""A test PKI from certomancer, served by its real Animator on 127.0.0.1 (TSA, OCSP, CRLs).

Root CA -> intermediate CA -> "Cachet Test Seal" (digital_signature + non_repudiation),
root -> TSA, intermediate -> OCSP responder. The Animator runs on its own thread and event
loop, so it keeps answering while the tests' loop is busy or blocked in a sync pyHanko call.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from asn1crypto import ocsp, pem
from asn1crypto import x509 as asn1_x509
from certomancer.integrations.aiohttp_animator import build_animator_app
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    KeyLabel,
    ServiceLabel,
)
from certomancer.registry.pki_arch import PKIArchitecture
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from app.signing.keys import CachedKeySigner, Seal

ARCH = "cachet"
VALIDITY = {"valid-from": "2020-01-01T00:00:00+0000", "valid-to": "2050-01-01T00:00:00+0000"}
KEY_LABELS = ("root", "interm", "seal", "tsa", "tsa-short", "interm-ocsp")
SHORT_TSA_DAYS = 120
"""The "short" TSA's certificate expires this many days after the PKI starts: archive
timestamps made with it are due for renewal once the service clock is moved forward."""
P12_PASSWORD = "test-p12-secret"


def _write_rsa_key(path: Path) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key


def _tsa_certificate(validity: dict[str, str]) -> dict[str, Any]:
    return {
        "issuer": "root",
        "validity": validity,
        "extensions": [
            {
                "id": "key_usage",
                "critical": True,
                "smart-value": {"schema": "key-usage", "params": ["digital_signature"]},
            },
            {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]},
        ],
    }


def _short_validity() -> dict[str, str]:
    until = datetime.now(UTC) + timedelta(days=SHORT_TSA_DAYS)
    return {"valid-from": VALIDITY["valid-from"], "valid-to": f"{until:%Y-%m-%dT%H:%M:%S}+0000"}


def _certomancer_config(url_prefix: str, key_dir: Path) -> dict[str, Any]:
    return {
        "external-url-prefix": url_prefix,
        "keysets": {
            ARCH: {
                "path-prefix": str(key_dir),
                "keys": {label: {"path": f"{label}.key.pem"} for label in KEY_LABELS},
            }
        },
        "pki-architectures": {
            ARCH: {
                "keyset": ARCH,
                "entity-defaults": {"country-name": "FR", "organization-name": "Cachet Tests"},
                "entities": {
                    "root": {"common-name": "Cachet Test Root CA"},
                    "interm": {"common-name": "Cachet Test Issuing CA"},
                    "seal": {"common-name": "Cachet Test Seal"},
                    "tsa": {"common-name": "Cachet Test TSA"},
                    "interm-ocsp": {"common-name": "Cachet Test OCSP Responder"},
                    "tsa-short": {"common-name": "Cachet Test Short-lived TSA"},
                },
                "certs": {
                    "root": {
                        "subject": "root",
                        "issuer": "root",
                        "validity": VALIDITY,
                        "profiles": [{"id": "simple-ca", "params": {"crl-repo": "root"}}],
                    },
                    "interm": {
                        "issuer": "root",
                        "validity": VALIDITY,
                        "profiles": [
                            {
                                "id": "simple-ca",
                                "params": {
                                    "max-path-len": 0,
                                    "crl-repo": "interm",
                                    "ocsp-service": "interm",
                                },
                            }
                        ],
                    },
                    "interm-ocsp": {
                        "issuer": "interm",
                        "validity": VALIDITY,
                        "profiles": ["ocsp-responder"],
                    },
                    "seal": {
                        "issuer": "interm",
                        "validity": VALIDITY,
                        "profiles": ["digsig-commitment"],
                    },
                    "tsa": _tsa_certificate(VALIDITY),
                    "tsa-short": _tsa_certificate(_short_validity()),
                },
                "services": {
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "interm-ocsp",
                            "signing-key": "interm-ocsp",
                        }
                    },
                    "crl-repo": {
                        "root": {
                            "for-issuer": "root",
                            "signing-key": "root",
                            "simulated-update-schedule": "P90D",
                        },
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "P7D",
                        },
                    },
                    "time-stamping": {
                        "tsa": {"signing-key": "tsa", "signing-cert": "tsa"},
                        "tsa-short": {"signing-key": "tsa-short", "signing-cert": "tsa-short"},
                    },
                },
            }
        },
    }


class Animator:
    """certomancer's aiohttp Animator on a listening socket, run by a private thread.

    `refusing` names services that answer 503 for now ("ocsp", "crls", "tsa"): a responder or
    CRL server that is down, as archiving meets it in production."""

    def __init__(self, arch: PKIArchitecture, sock: socket.socket) -> None:
        self._arch = arch
        self._sock = sock
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.refusing: frozenset[str] = frozenset()

    @contextmanager
    def refused(self, *services: str) -> Iterator[None]:
        """The named services answer 503 within the block."""
        before = self.refusing
        self.refusing = before | set(services)
        try:
            yield
        finally:
            self.refusing = before

    @web.middleware
    async def _refuse(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        parts = request.path.strip("/").split("/")
        if len(parts) > 1 and parts[1] in self.refusing:
            return web.Response(status=503, text="down for the test")
        return await handler(request)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)

    async def _serve(self) -> None:
        app = build_animator_app({self._arch.arch_label: self._arch}, with_web_ui=False)
        app.middlewares.append(self._refuse)
        app.router.add_get("/{arch}/ocsp/{label}/{request:.+}", self._ocsp_get)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def _ocsp_get(self, request: web.Request) -> web.Response:
        """OCSP over GET (RFC 6960 A.1), which NSS -- hence pdfsig -- uses for small requests;
        certomancer's Animator only answers POST."""
        label = ServiceLabel(request.match_info["label"])
        der = base64.b64decode(urllib.parse.unquote(request.match_info["request"]))
        # Whole seconds: NSS refuses GeneralizedTime with fractions ("Improperly formatted
        # time string"), and certomancer's own (POST) route answers with microseconds.
        at_time = datetime.now(UTC).replace(microsecond=0)
        responder = self._arch.service_registry.summon_responder(label, at_time)
        response = responder.build_ocsp_response(ocsp.OCSPRequest.load(der))
        return web.Response(body=response.dump(), content_type="application/ocsp-response")

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@dataclass
class TestPki:
    __test__ = False  # not a pytest test class despite its name

    directory: Path
    arch: PKIArchitecture
    base_url: str
    root: asn1_x509.Certificate
    intermediate: asn1_x509.Certificate
    seal_cert: asn1_x509.Certificate
    tsa_cert: asn1_x509.Certificate
    root_pem: Path
    seal_key_pem: Path
    seal_cert_pem: Path
    chain_pem: Path  # intermediate + root, PEM
    seal_p12: Path
    p12_password: str
    tsa_url: str
    short_tsa_url: str
    """A TSA whose certificate expires SHORT_TSA_DAYS after the start (same root)."""
    animator: Animator

    @property
    def intermediate_key_pem(self) -> Path:
        return self.directory / "keys" / "interm.key.pem"

    @property
    def intermediate_cert_pem(self) -> Path:
        return self.directory / "interm.cert.pem"

    @property
    def intermediate_p12(self) -> Path:
        """The intermediate's key, certificate and root, under p12_password."""
        return self.directory / "interm.p12"

    def issuing_ca_settings(self) -> dict[str, Any]:
        """The intermediate as Cachet's issuing CA (PEM files): signers' certificates then
        chain to the same root as the seal's, which every test trusts already."""
        return {
            "issuing_ca_key_file": self.intermediate_key_pem,
            "issuing_ca_cert_file": self.intermediate_cert_pem,
            "issuing_ca_chain_file": self.root_pem,
        }

    def seal(self) -> Seal:
        """The test seal: cached-key signer, HTTP timestamps from the Animator, root trusted."""
        signer = CachedKeySigner(
            self.seal_cert,
            serialization.load_pem_private_key(self.seal_key_pem.read_bytes(), password=None),
            chain=(self.intermediate, self.root),
        )
        return Seal(
            signer=signer,
            timestamper=HTTPTimeStamper(self.tsa_url),
            trust_roots=(self.root,),
            source=f"certomancer test PKI at {self.base_url}",
        )

    def dummy_timestamper(self) -> DummyTimeStamper:
        """An in-process TSA with the same TSA certificate, for tests without network."""
        return DummyTimeStamper(
            tsa_cert=self.tsa_cert,
            tsa_key=self.arch.key_set.get_private_key(KeyLabel("tsa")),
        )

    def cert(self, label: str) -> asn1_x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    def close(self) -> None:
        self.animator.stop()


def _pem(cert: asn1_x509.Certificate) -> bytes:
    armored: bytes = pem.armor("CERTIFICATE", cert.dump())
    return armored


def start_test_pki(directory: Path) -> TestPki:
    """Keys, certificates and files under `directory`; the Animator listening on 127.0.0.1."""
    key_dir = directory / "keys"
    key_dir.mkdir(parents=True, exist_ok=True)
    for label in KEY_LABELS:
        _write_rsa_key(key_dir / f"{label}.key.pem")

    # Bind first: the port goes into every URL the certificates carry (CRL DP, AIA, TSA).
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = CertomancerConfig(_certomancer_config(base_url, key_dir), key_search_dir=str(key_dir))
    arch = config.get_pki_arch(ArchLabel(ARCH))

    root, interm = arch.get_cert(CertLabel("root")), arch.get_cert(CertLabel("interm"))
    seal_cert, tsa_cert = arch.get_cert(CertLabel("seal")), arch.get_cert(CertLabel("tsa"))
    files = {
        "root.pem": _pem(root),
        "seal.cert.pem": _pem(seal_cert),
        "chain.pem": _pem(interm) + _pem(root),
        "seal.p12": arch.package_pkcs12(CertLabel("seal"), password=P12_PASSWORD.encode()),
        "interm.cert.pem": _pem(interm),
        "interm.p12": arch.package_pkcs12(CertLabel("interm"), password=P12_PASSWORD.encode()),
    }
    for name, content in files.items():
        (directory / name).write_bytes(content)

    animator = Animator(arch, sock)
    animator.start()
    return TestPki(
        directory=directory,
        arch=arch,
        base_url=base_url,
        root=root,
        intermediate=interm,
        seal_cert=seal_cert,
        tsa_cert=tsa_cert,
        root_pem=directory / "root.pem",
        seal_key_pem=key_dir / "seal.key.pem",
        seal_cert_pem=directory / "seal.cert.pem",
        chain_pem=directory / "chain.pem",
        seal_p12=directory / "seal.p12",
        p12_password=P12_PASSWORD,
        tsa_url=f"{base_url}/{ARCH}/tsa/tsa",
        short_tsa_url=f"{base_url}/{ARCH}/tsa/tsa-short",
        animator=animator,
    )
