"""A bare FastAPI endpoint that streams a request body and hashes it: the HTTP floor.

python -m bench.bare_upload PORT
"""

from __future__ import annotations

import hashlib
import sys

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/upload")
async def upload(request: Request) -> dict[str, object]:
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
