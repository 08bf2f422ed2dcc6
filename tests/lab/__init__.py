"""The lab: real OpenSSH hosts in Linux namespaces, for tests, `make demo` and benchmarks."""

from tests.lab.netlab import (
    LAB_NETWORK,
    Dir,
    Entry,
    File,
    Host,
    HostSpec,
    Lab,
    LabError,
    LabUnavailable,
    Service,
    Symlink,
    cleanup_stale,
    diff_snapshots,
    unavailable_reason,
)

__all__ = [
    "LAB_NETWORK",
    "Dir",
    "Entry",
    "File",
    "Host",
    "HostSpec",
    "Lab",
    "LabError",
    "LabUnavailable",
    "Service",
    "Symlink",
    "cleanup_stale",
    "diff_snapshots",
    "unavailable_reason",
]
