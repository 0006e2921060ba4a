"""The signing side of the worker processes that do the service's PDF work.

pyHanko parses the documents it signs (untrusted uploads, once), and a parse of a large file
holds the interpreter for hundreds of milliseconds, mostly in garbage collection: done in a
thread it stalls the service's event loop. So every signature, certification, archive
timestamp and evidence PDF is made in a separate process, under the same CPU, memory and time
caps as the upload gate (app.pdf.gate.PdfGate runs the pool). Each process loads the seal from
the settings once and keeps it; PDF operations receive it as `seal=`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from app.config import Settings
from app.signing.keys import Seal, load_seal
from app.signing.stamp_font import load_fonts

T = TypeVar("T")

_seals: dict[str, Seal] = {}


def prepare_signer(settings: Settings) -> None:
    """Worker initializer: the seal and the stamp fonts, before the first signature needs them."""
    _seal_for(settings)
    load_fonts()


def with_seal(settings: Settings, operation: Callable[..., T], source: str, target: str) -> T:
    """Runs in a worker: `operation(source, target, seal=<the settings' seal>)`."""
    return operation(Path(source), Path(target), seal=_seal_for(settings))


def _seal_for(settings: Settings) -> Seal:
    # Keyed by the settings themselves: a test (or an operator's reload) that changes them
    # gets the seal they describe, not the one loaded first.
    key = settings.model_dump_json()
    if key not in _seals:
        _seals[key] = load_seal(settings)
    return _seals[key]
