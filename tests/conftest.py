"""Shared fixtures: the lab of real sshd hosts in namespaces (tests/lab).

* ``lab`` (session): the default fleet of tests/lab/scenarios.py, built once, on bridge
  calab-br0 in 10.250.0.0/25. Treat it as read-only; tests that change hosts use
  ``make_lab``.
* ``make_lab`` (function): ``make_lab(specs, *, noisy=(), same_files=False, **Lab kwargs)``
  returns a started Lab, closed when the test ends (or on leaving ``with make_lab(...) as
  lab:``). specs are HostSpecs or plain host names; ``noisy`` names hosts that get a noisy
  .bashrc/.profile/Banner/MOTD; ``same_files`` plants ``scenarios.sample_files`` (the same
  certificates and keys) on every host. Bridge calab-br1 in 10.250.0.128/25, so it can run
  while ``lab`` is up; one at a time per test unless you pass another bridge and subnet.
* ``lab_now``: the `now` the session fleet's certificates were made relative to.

Tests using these fixtures are marked ``lab`` automatically (``-m "not lab"`` skips them);
they and any test marked ``lab`` are skipped with the reason when this machine cannot run
the lab (not root, no ``ip netns``, no sshd).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import pytest

from audit.cli import register as register_commands
from tests import pki
from tests.lab.netlab import HostSpec, Lab, unavailable_reason
from tests.lab.scenarios import default_fleet, sample_files

# CERTAUDIT_LAB_SLOT (0-9) lets two test sessions on one machine use disjoint /24s.
_SLOT = int(os.environ.get("CERTAUDIT_LAB_SLOT", "0") or 0) % 10
_BR = "calab-br" if _SLOT == 0 else f"calab{_SLOT}-br"
SESSION_SUBNET, SESSION_BRIDGE = f"10.250.{_SLOT}.0/25", f"{_BR}0"
FACTORY_SUBNET, FACTORY_BRIDGE = f"10.250.{_SLOT}.128/25", f"{_BR}1"
register_commands()  # every CLI command, for tests that drive `audit.cli.app` in process
_LAB_FIXTURES = {"lab", "make_lab"}
#: The type of the ``make_lab`` fixture.
MakeLab = Callable[..., Lab]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    checked = False
    for item in items:
        if _LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)
        if item.get_closest_marker("lab") is None:
            continue
        if not checked:
            reason, checked = unavailable_reason(), True
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"lab unavailable: {reason}"))


@pytest.fixture(scope="session")
def lab_now() -> dt.datetime:
    return pki.utcnow()


@pytest.fixture(scope="session")
def lab(lab_now: dt.datetime) -> Iterator[Lab]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    with Lab(default_fleet(lab_now), subnet=SESSION_SUBNET, bridge=SESSION_BRIDGE) as fleet:
        yield fleet


@pytest.fixture
def make_lab() -> Iterator[MakeLab]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"lab unavailable: {reason}")
    labs: list[Lab] = []

    def factory(
        specs: Sequence[HostSpec | str],
        *,
        noisy: Iterable[str] = (),
        same_files: bool = False,
        **kwargs: Any,
    ) -> Lab:
        noisy_names = set(noisy)
        files = sample_files(pki.utcnow()) if same_files else []
        hosts = []
        for s in specs:
            spec = HostSpec(s) if isinstance(s, str) else s
            hosts.append(
                dataclasses.replace(
                    spec,
                    bashrc_noise=spec.bashrc_noise or spec.name in noisy_names,
                    files=[*files, *spec.files],
                )
            )
        kwargs.setdefault("subnet", FACTORY_SUBNET)
        kwargs.setdefault("bridge", FACTORY_BRIDGE)
        new = Lab(hosts, **kwargs)
        labs.append(new)
        new.start()
        return new

    yield factory
    for made in reversed(labs):
        made.close()
