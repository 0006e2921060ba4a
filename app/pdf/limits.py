"""How much work and memory one upload may cost the gate."""

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class GateLimits:
    max_pages: int = 500
    max_objects: int = 200_000
    max_stream_bytes: int = 64 * MIB
    """Decoded size of one stream, and of every intermediate stage of its filter chain."""
    max_total_decoded_bytes: int = 256 * MIB
    """Decoded size of all streams of the document together."""
    cpu_seconds: int = 10
    wall_seconds: float = 20.0
    memory_bytes: int = 1024 * MIB
    """Address-space cap (RLIMIT_AS) of a gate worker process."""
