"""Why a signing operation could not be done, in the two kinds the workflow treats apart.

`Unavailable`: something outside could not be reached (the TSA, an OCSP responder, a CRL
server): the same operation may well succeed later, so it is retried on a long schedule and
never blamed on the document. Any other exception from this package is about the document or
the keys, and retrying it will not help for long.
"""

from __future__ import annotations


class Unavailable(Exception):
    """A service the signature depends on did not answer, or answered with an error."""
