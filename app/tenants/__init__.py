"""Tenants, their API keys (stored hashed) and their user directory."""
