"""Files and folders under the data directory are the service's alone: 0600 files, 0700 folders.

They hold link tokens (the development mailbox), keys (the secret key, the development PKI)
and customers' documents. Each is created with its final mode, never tightened afterwards, so
there is no moment when another user of the machine could open it.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700


def private_folder(path: Path) -> Path:
    """`mkdir -p` where every folder created is 0700 (Path.mkdir(parents=True) would give the
    parents the default mode). Folders that exist already are left as they are."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with suppress(FileExistsError):  # another process created it in the meantime
            folder.mkdir(mode=PRIVATE_FOLDER)
    return path


def write_private(path: Path, data: bytes) -> None:
    """A new file, 0600 from its creation on; FileExistsError if the name is taken."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def make_private(path: Path) -> None:
    """For a file written by a library that chose its own mode, before it is moved into place."""
    os.chmod(path, PRIVATE_FILE)
