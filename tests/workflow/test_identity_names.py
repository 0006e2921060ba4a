"""The names on an identity document against the recipient's, as the sender typed them."""

from __future__ import annotations

import pytest

from app.workflow.identity_names import name_words, names_match


@pytest.mark.parametrize(
    ("declared", "verified"),
    [
        (("Élodie", "Martin"), ("ELODIE", "MARTIN")),  # case and accents
        (("Jean-Pierre", "Durand"), ("JEAN PIERRE", "DURAND")),  # hyphen or space
        (("Marie", "Dupont"), ("Marie Anne Claire", "Dupont")),  # one of the given names
        (("Anne Marie", "Dupont"), ("Marie Anne", "Dupont")),  # given names in another order
        (("Loïc", "Le Bœuf"), ("LOIC", "LE BOEUF")),  # diaeresis and ligature
        (("Renée", "d'Alembert"), ("RENEE", "D ALEMBERT")),  # apostrophe
        (("José", "García-López"), ("JOSE", "GARCIA LOPEZ")),
        (("Paul", "Martin"), ("Paul", "Martin-Dupont")),  # a double surname shortened
    ],
)
def test_the_same_person_written_differently_matches(
    declared: tuple[str, str], verified: tuple[str, str]
) -> None:
    assert names_match(*declared, *verified)


@pytest.mark.parametrize(
    ("declared", "verified"),
    [
        (("Paul", "Martin"), ("Pierre", "Martin")),  # another given name
        (("Paul", "Martin"), ("Paul", "Martine")),  # a near surname is another surname
        (("Marie Anne", "Dupont"), ("Marie", "Dupont")),  # a given name not on the document
        (("Paul", "Martin-Dupont"), ("Paul", "Martin")),  # more surname than the document
        (("Anne", "Anne"), ("Anne", "Martin")),  # the given name is not the surname
        (("", "Martin"), ("Paul", "Martin")),  # nothing declared matches nothing
        (("Paul", "Martin"), ("Martin", "Paul")),  # swapped fields
    ],
)
def test_another_person_does_not_match(
    declared: tuple[str, str], verified: tuple[str, str]
) -> None:
    assert not names_match(*declared, *verified)


def test_a_name_in_words() -> None:
    assert name_words("  Jean\u2013Élie  d\u2019Œuvray ") == ["jean", "elie", "d", "oeuvray"]
    assert name_words("STRAẞE") == name_words("strasse")
