"""Fixtures for the report tests: the sample run, golden files, a headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.report import sample as sample_module

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture(scope="session")
def sample() -> sample_module.Sample:
    return sample_module.build()


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """golden(name, text): compare with tests/report/golden/NAME; UPDATE_GOLDEN=1 rewrites it."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("UPDATE_GOLDEN") == "1":
            path.write_text(text, encoding="utf-8", newline="\n")
            return
        assert path.is_file(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
        expected = path.read_text(encoding="utf-8")
        assert text == expected, (
            f"{name} differs from the golden file (UPDATE_GOLDEN=1 rewrites it)"
        )

    return check


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One headless Chromium per test module, fresh profile; skipped when unavailable."""
    pytest.importorskip("websockets")
    from tests.report import cdp

    if cdp.chromium_path() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with cdp.browser(profile) as b:
        yield b
