"""Fixtures shared by the signing tests."""

from __future__ import annotations

import pytest

from tests.signing.softhsm import Token, make_token
from tests.signing.testpki import TestPki


@pytest.fixture(scope="session")
def softhsm_token(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Token:
    """The run's SoftHSM2 token: the test seal's key and the intermediate (issuing CA)'s."""
    return make_token(tmp_path_factory.mktemp("softhsm"), test_pki)
