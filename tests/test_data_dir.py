"""The data directory after a real run of `cachet serve` in development (uploads, a signature,
emails in the development mailbox, the development PKI and keys): every file 0600, every
folder 0700; and temporary files left by a killed process are gone after the start."""

from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import make_pdf
from tests.support.cli import fresh_database, serving
from tests.support.polling import eventually
from tests.workflow.signing_support import b64, signature_png

SIGNER = "signer@example.com"


def leave_temp_files(data_dir: Path) -> None:
    """What a killed upload and a killed job leave behind, two hours ago; and a file of an
    upload still arriving in another process (written to a moment ago)."""
    tmp = data_dir / "tmp"
    tmp.mkdir(parents=True, mode=0o700)
    data_dir.chmod(0o700)
    for name in ("upload-killed", "signed-killed", ".x.pdf.1234.partial"):
        (tmp / name).write_bytes(b"half")
        (tmp / name).chmod(0o600)
        two_hours_ago = time.time() - 7200
        os.utime(tmp / name, (two_hours_ago, two_hours_ago))
    (tmp / "upload-arriving").write_bytes(b"in flight")
    (tmp / "upload-arriving").chmod(0o600)


async def sign_one_envelope(client: httpx.AsyncClient) -> str:
    """Upload, stamp, send, open the emailed link, sign; returns the envelope id once the
    envelope is completed (signed PDF and sealed evidence stored)."""
    body = {"kind": "signature", "name": "Permissions", "sender": {"email": "s@example.com"}}
    envelope = (await client.post("/v1/envelopes", json=body)).json()
    base = f"/v1/envelopes/{envelope['id']}"
    document = await client.post(
        f"{base}/documents",
        params={"filename": "contract.pdf"},
        content=make_pdf(),
        headers={"Content-Type": "application/pdf"},
    )
    assert document.status_code == 201, document.text
    recipient = (await client.post(f"{base}/recipients", json={"email": SIGNER})).json()
    stamp = {"page": 1, "x": 50, "y": 600, "width": 180, "height": 60, "style": "plain"}
    placed = await client.put(
        f"{base}/documents/{document.json()['id']}/stamps/{recipient['id']}", json=stamp
    )
    assert placed.status_code in (200, 201), placed.text
    sent = await client.post(f"{base}/send")
    assert sent.status_code == 200, sent.text

    token = await invitation_token(client)
    session = await client.post("/v1/signing/sessions", json={"token": token})
    assert session.status_code == 201, session.text
    as_signer = {"Authorization": f"Bearer {session.json()['session_token']}"}
    signing = {"consent": True, "signature_image": b64(signature_png())}
    signed = await client.post("/v1/signing/sign", json=signing, headers=as_signer)
    assert signed.status_code == 202, signed.text

    async def envelope_now() -> dict[str, Any]:
        data: dict[str, Any] = (await client.get(base)).json()
        return data

    await eventually(envelope_now, lambda e: e["status"] == "completed", within=90, every=0.3)
    return str(envelope["id"])


async def invitation_token(client: httpx.AsyncClient) -> str:
    async def mailbox() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await client.get("/dev/mailbox")).json()["data"]
        return data

    listing = await eventually(mailbox, lambda m: any(e["to"] == SIGNER for e in m), within=30)
    entry = next(e for e in listing if e["to"] == SIGNER)
    text = (await client.get(f"/dev/mailbox/{entry['id']}")).json()["text"]
    found = re.search(r"/sign/([\w-]+)", text)
    assert found, text
    return found[1]


def modes(data_dir: Path) -> dict[str, str]:
    """Every path under data_dir (itself included) with its permission bits."""
    found = {".": oct(stat.S_IMODE(data_dir.stat().st_mode))}
    for path in data_dir.rglob("*"):
        found[str(path.relative_to(data_dir))] = oct(stat.S_IMODE(path.lstat().st_mode))
    return found


async def test_a_real_run_leaves_only_private_files(workdir: Path, postgres_url: str) -> None:
    data_dir = workdir / "data"
    leave_temp_files(data_dir)
    async with (
        fresh_database(postgres_url) as database_url,
        serving(data_dir, log_name="serve", database_url=database_url) as server,
    ):
        await server.wait_ready()
        key = (data_dir / "dev-api-key").read_text().strip()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:
            await sign_one_envelope(c)

    everything = modes(data_dir)
    # What the run made: keys, the development PKI, blobs (uploads, signed versions, the
    # signature image, the evidence PDF) and the emails.
    assert {"secret-key", "dev-api-key", "pki/seal.key.pem", "pki/root.cert.pem"} <= set(everything)
    assert len([p for p in everything if p.startswith("blobs/") and len(p) > 70]) >= 4
    assert len([p for p in everything if p.startswith("mail/") and p.endswith(".eml")]) >= 1
    wrong = {
        path: mode
        for path, mode in everything.items()
        if mode != ("0o700" if (data_dir / path).is_dir() else "0o600")
    }
    assert wrong == {}, f"not private: {wrong}"

    # The start removed what killed processes had left, not the upload still arriving.
    assert sorted(p for p in everything if p.startswith("tmp/")) == ["tmp/upload-arriving"]
    assert "removed 3 temporary file(s)" in server.output()
