"""Content-addressed, immutable blob store: a blob's name is the SHA-256 of its bytes."""
