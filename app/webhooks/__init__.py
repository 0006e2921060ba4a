"""Outbound webhooks: Standard Webhooks signatures, the SSRF guard, pinned delivery, retries."""
