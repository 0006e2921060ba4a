"""Measure what PDF streams decode to without holding more than one chunk of the result.

A few kilobytes of FlateDecode can inflate to gigabytes, and filters can be chained (Flate inside
Flate inflates a second time), so every stage of a filter chain is decoded incrementally and
each stage's output is counted against the per-stream cap before any more of it is produced.
"""

import base64
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from itertools import takewhile

import pikepdf

from app.pdf.limits import GateLimits
from app.pdf.qpdf import raise_if_out_of_memory
from app.pdf.results import PdfRejected

_CHUNK = 1024 * 1024
_MAX_CHAIN = 16
"""Real files use one to three filters; a longer chain only serves to multiply a bomb."""

Decoder = Callable[[Iterable[bytes]], Iterator[bytes]]

_WHITESPACE = b" \t\r\n\f\0"
_A85_GROUPS = re.compile(rb"(?:z|[!-u]{5})*")


def _inflate(chunks: Iterable[bytes]) -> Iterator[bytes]:
    inflater = zlib.decompressobj()
    try:
        for chunk in chunks:
            pending = chunk
            while pending and not inflater.eof:
                # max_length is what keeps a bomb from materialising: at most one chunk exists.
                yield inflater.decompress(pending, _CHUNK)
                pending = inflater.unconsumed_tail
            if inflater.eof:
                return
    except zlib.error:
        # qpdf and viewers also stop at corrupt deflate data and keep what came before it.
        return


def _ascii_hex(chunks: Iterable[bytes]) -> Iterator[bytes]:
    carry = b""
    for chunk in chunks:
        end = chunk.find(b">")
        digits = carry + (chunk if end < 0 else chunk[:end]).translate(None, _WHITESPACE)
        even = len(digits) - len(digits) % 2
        try:
            yield bytes.fromhex(digits[:even].decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return
        carry = digits[even:]
        if end >= 0:
            break
    if carry:
        with suppress(UnicodeDecodeError, ValueError):
            yield bytes.fromhex((carry + b"0").decode("ascii"))  # an odd last digit means "x0"


def _ascii85(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        end = chunk.find(b"~")  # "~" only occurs in the "~>" end marker
        text = pending + (chunk if end < 0 else chunk[:end]).translate(None, _WHITESPACE)
        aligned = _A85_GROUPS.match(text).end()  # type: ignore[union-attr]  # "*" always matches
        if len(text) - aligned >= 5:
            return  # an invalid character, not just a group split across chunks
        try:
            yield base64.a85decode(text[:aligned])
        except ValueError:
            return
        pending = text[aligned:]
        if end >= 0:
            break
    if pending:
        with suppress(ValueError):
            yield base64.a85decode(pending)


def _run_length(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        data = pending + chunk
        out = bytearray()
        pos = 0
        while pos < len(data):
            length = data[pos]
            if length == 128:  # end of data
                yield bytes(out)
                return
            end = pos + length + 2 if length < 128 else pos + 2
            if end > len(data):
                break
            out += data[pos + 1 : end] if length < 128 else data[pos + 1 : end] * (257 - length)
            pos = end
            if len(out) >= _CHUNK:
                yield bytes(out)
                out.clear()
        pending = data[pos:]
        yield bytes(out)


# Abbreviated names are only valid on inline images, but accepting them here costs nothing.
_BOUNDED: dict[str, Decoder] = {
    "/FlateDecode": _inflate,
    "/Fl": _inflate,
    "/ASCIIHexDecode": _ascii_hex,
    "/AHx": _ascii_hex,
    "/ASCII85Decode": _ascii85,
    "/A85": _ascii85,
    "/RunLengthDecode": _run_length,
    "/RL": _run_length,
}
# LZW cannot be bounded cheaply in Python; qpdf decodes it and the worker's memory cap is the limit.
_QPDF_ONLY = frozenset({"/LZWDecode", "/LZW"})
# Image codecs are decoded by renderers only (qpdf and pyHanko never do); counting stops there.
_IMAGE_CODECS = frozenset(
    {"/DCTDecode", "/DCT", "/JPXDecode", "/JBIG2Decode", "/CCITTFaxDecode", "/CCF"}
)
_KNOWN = _BOUNDED.keys() | _QPDF_ONLY | _IMAGE_CODECS


def filter_names(stream: pikepdf.Stream) -> list[str]:
    if "/Filter" not in stream:
        return []
    value = stream["/Filter"]
    if isinstance(value, pikepdf.Name):
        return [str(value)]
    if isinstance(value, pikepdf.Array) and all(isinstance(item, pikepdf.Name) for item in value):
        return [str(item) for item in value]
    raise PdfRejected("damaged", "a stream's /Filter is neither a name nor an array of names")


def _chunked(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        yield bytes(view[start : start + _CHUNK])


class DecodeBudget:
    """Decoded bytes one document may still produce, across all of its streams."""

    def __init__(self, limits: GateLimits) -> None:
        self._per_stream = limits.max_stream_bytes
        self._total_cap = limits.max_total_decoded_bytes
        self._spent = 0

    def measure(self, stream: pikepdf.Stream) -> None:
        """Spend the stream's decoded size; PdfRejected("decompression_bomb") past a cap."""
        names = filter_names(stream)
        if not names:
            # Unfiltered bytes cannot outgrow the file itself: count them without reading them.
            length = stream.stream_dict.get("/Length")
            self._spend(int(length) if isinstance(length, int) else 0)
            return
        self._require_supported(names)
        decoded_stages = list(takewhile(lambda name: name not in _IMAGE_CODECS, names))
        if names and not decoded_stages:
            return
        if not _QPDF_ONLY.intersection(decoded_stages):
            size = self._size_by_stages(stream.read_raw_bytes(), decoded_stages)
        elif len(decoded_stages) == len(names):
            size = self._size_by_qpdf(stream)
        else:
            # qpdf decodes a chain all or nothing and cannot decode image codecs, so LZW in front
            # of one stays undecoded here; only a renderer would go further.
            size = len(stream.read_raw_bytes())
        self._spend(size)

    def _require_supported(self, names: list[str]) -> None:
        unknown = [name for name in names if name not in _KNOWN]
        if unknown:
            raise PdfRejected("damaged", f"a stream uses the unsupported filter {unknown[0]}")
        if len(names) > _MAX_CHAIN:
            raise PdfRejected(
                "decompression_bomb", f"a stream chains {len(names)} filters (at most {_MAX_CHAIN})"
            )

    def _size_by_stages(self, raw: bytes, stages: list[str]) -> int:
        chunks: Iterator[bytes] = _chunked(raw)
        for name in stages:
            chunks = self._capped(_BOUNDED[name](chunks), name)
        return sum(len(chunk) for chunk in chunks)

    def _capped(self, chunks: Iterator[bytes], stage: str) -> Iterator[bytes]:
        produced = 0
        for chunk in chunks:
            produced += len(chunk)
            if produced > self._per_stream:
                raise PdfRejected(
                    "decompression_bomb",
                    f"a stream's {stage} stage decodes to more than {self._per_stream} bytes",
                )
            yield chunk

    def _size_by_qpdf(self, stream: pikepdf.Stream) -> int:
        try:
            size = len(stream.read_bytes(decode_level=pikepdf.StreamDecodeLevel.specialized))
        except pikepdf.PdfError as exc:
            raise_if_out_of_memory(exc)
            # Corrupt LZW data: qpdf gives up on the stream, and so would a viewer.
            size = len(stream.read_raw_bytes())
        if size > self._per_stream:
            raise PdfRejected(
                "decompression_bomb", f"a stream decodes to more than {self._per_stream} bytes"
            )
        return size

    def _spend(self, size: int) -> None:
        self._spent += size
        if self._spent > self._total_cap:
            raise PdfRejected(
                "decompression_bomb",
                f"the streams together decode to more than {self._total_cap} bytes",
            )
