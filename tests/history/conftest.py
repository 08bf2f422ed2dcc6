"""The certificates the history tests store (built once per session)."""

from __future__ import annotations

import pytest

from audit.model import CertInfo
from tests.history.sample import make_pkiset


@pytest.fixture(scope="session")
def pkiset() -> dict[str, CertInfo]:
    return make_pkiset()
