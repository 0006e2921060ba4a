"""Sealing and signing PDFs with pyHanko: the platform seal, PAdES signatures, the evidence PDF."""
