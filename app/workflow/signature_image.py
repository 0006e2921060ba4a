"""The handwritten signature image a signer sends: decoded, checked, and described.

The image ends up inside every signed PDF, so it is held to what a PDF viewer can show safely:
a real PNG, small in bytes and in pixels (a tiny file can still declare a huge canvas).
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

from PIL import Image

from app.errors import FieldError, ValidationFailed

MAX_SIDE_PIXELS = 2000
MIN_SIDE_PIXELS = 16
_DATA_URL_PREFIX = "data:image/png;base64,"
_POINTER = "/signature_image"


@dataclass(frozen=True)
class SignatureImage:
    png: bytes
    width: int
    height: int


def decode_signature_image(encoded: str, *, max_bytes: int) -> SignatureImage:
    """Raise ValidationFailed (422 `invalid_signature_image`) unless `encoded` is a sane PNG."""
    raw = _base64_bytes(encoded, max_bytes=max_bytes)
    width, height = _png_size(raw)
    return SignatureImage(png=raw, width=width, height=height)


def _base64_bytes(encoded: str, *, max_bytes: int) -> bytes:
    text = encoded.removeprefix(_DATA_URL_PREFIX)
    # Checked before decoding, so an oversized payload costs no decoding work.
    if len(text) > (max_bytes // 3 + 1) * 4:
        raise _invalid(f"The image is larger than {max_bytes} bytes.")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _invalid("signature_image is not valid base64.") from None
    if len(raw) > max_bytes:
        raise _invalid(f"The image is larger than {max_bytes} bytes.")
    return raw


def _png_size(raw: bytes) -> tuple[int, int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=["PNG"]) as image:
                width, height = image.size
                _require_sides_within(width, height)
                image.load()  # decodes every chunk: a truncated or corrupt PNG fails here
    except ValidationFailed:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning):
        raise _invalid("signature_image is not a readable PNG image.") from None
    except Image.DecompressionBombError:
        raise _invalid("The image declares too many pixels.") from None
    return width, height


def _require_sides_within(width: int, height: int) -> None:
    if max(width, height) > MAX_SIDE_PIXELS:
        raise _invalid(f"The image is {width}x{height} pixels; at most {MAX_SIDE_PIXELS} a side.")
    if min(width, height) < MIN_SIDE_PIXELS:
        raise _invalid(f"The image is {width}x{height} pixels; at least {MIN_SIDE_PIXELS} a side.")


def _invalid(detail: str) -> ValidationFailed:
    return ValidationFailed("invalid_signature_image", detail, [FieldError(_POINTER, detail)])
