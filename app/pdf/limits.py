"""How much work and memory one upload may cost the gate, and what it lets through to pyHanko."""

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class GateLimits:
    max_pages: int = 500
    max_objects: int = 200_000
    """Objects in the file as it stands, and cross-reference entries over all its revisions."""
    max_stream_bytes: int = 64 * MIB
    """Decoded size of one stream, and of every intermediate stage of its filter chain."""
    max_total_decoded_bytes: int = 256 * MIB
    """Decoded size of all streams of the document together."""
    max_nesting_depth: int = 64
    """Arrays and dictionaries nested directly in one another. qpdf silently drops what lies
    past 500 levels and pyHanko's recursive parser fails near 450: far below both."""
    max_form_fields: int = 1_000
    """Nodes of the AcroForm field tree (fields and their widgets). pyHanko walks the whole
    tree each time it looks for a field: at send, at every signature, on every retry."""
    max_form_depth: int = 32
    """Levels of the AcroForm field tree (/Kids within /Kids)."""
    max_revisions: int = 200
    """Incremental updates, original included: pyHanko reads every revision's cross-reference
    section each time it opens the file, and checks each against the later ones (1,000
    revisions: 150 ms per opening)."""
    cpu_seconds: int = 10
    wall_seconds: float = 20.0
    memory_bytes: int = 1024 * MIB
    """Address-space cap (RLIMIT_AS) of a gate worker process."""
