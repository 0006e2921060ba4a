"""Print the OpenAPI document the app serves: `python -m app.openapi > openapi/openapi.json`."""

from __future__ import annotations

import json
from typing import Any

from app.config import Settings
from app.main import create_app


def openapi_document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def render() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
