"""The append-only, hash-chained event log of every envelope."""
