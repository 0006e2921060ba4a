"""What the sender's screens may call: the operations of openapi/openapi.json, nothing else."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


@cache
def documented_operations() -> frozenset[tuple[str, str]]:
    """(METHOD, path template) of every operation the OpenAPI document describes."""
    paths = json.loads(OPENAPI.read_text())["paths"]
    return frozenset(
        (method.upper(), template)
        for template, operations in paths.items()
        for method in operations
        if method in HTTP_METHODS
    )


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts) + "$"
    )


def operation_of(method: str, url: str) -> tuple[str, str] | None:
    """The documented operation a request is, or None when the document has no such one."""
    path = urlsplit(url).path
    for known_method, template in sorted(documented_operations()):
        if known_method == method and _template_pattern(template).match(path):
            return known_method, template
    return None
