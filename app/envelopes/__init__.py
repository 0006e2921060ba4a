"""Envelopes in draft: documents, recipients, stamps, and the rules that say when to send."""
