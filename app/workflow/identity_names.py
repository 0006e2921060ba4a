"""Whether the names an identity document carries are the recipient's, as the sender wrote them.

Compared after normalising what differs between how people write a name and how a document
prints it: case, accents and ligatures ("Élodie" = "ELODIE", "Œuvray" = "Oeuvray"), hyphens,
apostrophes and spacing ("Jean-Pierre" = "Jean Pierre"), and the order of given names. A
document lists every given name while people usually give one or two: each name the sender
wrote must be on the document, not the reverse ("Marie" matches "Marie Anne Claire"; "Anne"
alone does too, being one of them). The same holds for surnames ("Martin" matches
"Martin-Dupont"), so a double surname shortened by the sender still matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

# Letters that Unicode does not decompose into a base letter and a mark.
LIGATURES = str.maketrans(
    {"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "\u0131": "i"}
)
# Spaces, hyphens and dashes (U+2010-2015), apostrophes (U+2019), acute accent, dot, comma.
SEPARATORS = re.compile("[\\s\\-\u2010-\u2015'\u2019`\u00b4.,]+")


def name_words(name: str) -> list[str]:
    """The words of a name, without case, accents or punctuation: "Jean-Élie" -> [jean, elie]."""
    folded = unicodedata.normalize("NFKD", name.casefold()).translate(LIGATURES)
    bare = "".join(c for c in folded if not unicodedata.combining(c))
    return [word for word in SEPARATORS.split(bare) if word]


def _within(declared: str, verified: str) -> bool:
    """Every word of the declared name is among the verified ones (as many times)."""
    wanted, found = Counter(name_words(declared)), Counter(name_words(verified))
    return bool(wanted) and not wanted - found


def names_match(
    declared_first: str, declared_last: str, verified_first: str, verified_last: str
) -> bool:
    """True when the recipient's declared names are the document's (see the module's rules)."""
    return _within(declared_first, verified_first) and _within(declared_last, verified_last)
