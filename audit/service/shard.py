"""Shards: `certaudit run --shard K/N` audits one of N stable partitions of the inventory.

A host belongs to shard `int(sha256(name)[:8]) mod N`: the same in every process, on every
machine and every Python version (never `hash()`, which is salted per process), so N
runners given the same inventory split it between them with every host in exactly one
shard. K counts from 0, as a Kubernetes Job's completion index does.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from audit.errors import ConfigError
from audit.model import Host

_SHARD = re.compile(r"(\d+)/(\d+)")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 <= index < count)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ConfigError(
                f"--shard {self.index}/{self.count}: K must be from 0 to N-1 and N at least 1"
            )

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """ "2/4" -> Shard(2, 4); ConfigError otherwise."""
    m = _SHARD.fullmatch(text.strip())
    if m is None:
        raise ConfigError(
            f"--shard {text!r}: expected K/N, shard K (from 0) of N, e.g. 0/4",
            hint="in a Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX/N",
        )
    return Shard(int(m.group(1)), int(m.group(2)))


def shard_of(name: str, count: int) -> int:
    """The shard (0..count-1) the host `name` belongs to."""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % count


def in_shard(hosts: Sequence[Host], shard: Shard | None) -> tuple[Host, ...]:
    """The hosts of the shard, in inventory order (every host when shard is None)."""
    if shard is None:
        return tuple(hosts)
    return tuple(h for h in hosts if shard.holds(h.name))
