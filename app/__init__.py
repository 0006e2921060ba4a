"""Cachet: approval and PAdES signature workflows for a file-sharing platform."""
