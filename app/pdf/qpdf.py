"""What qpdf's errors mean to the gate."""

import pikepdf


def raise_if_out_of_memory(exc: pikepdf.PdfError) -> None:
    """qpdf reports a failed allocation (the worker's RLIMIT_AS at work) as an ordinary PdfError;
    turn it back into MemoryError, so a bomb ends as "too_complex" and not as "damaged"."""
    if "std::bad_alloc" in str(exc):
        raise MemoryError(str(exc)) from exc
