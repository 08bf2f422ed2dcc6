"""Waivers: reviewed, dated exceptions to findings, read from a YAML file.

A waivers file is a list of entries (or a mapping whose only key `waivers` holds the
list). Each entry names a finding ID from the rule registry, at least one match criterion
and who answers for it until when:

    - id: CERT_SELF_SIGNED
      hosts: "lab:!lab-db01"        # a host pattern in the --limit syntax
      cert_sha256: 3f0c...          # the certificate (hex, colons allowed)
      subject: "CN=*.lab.internal*" # glob on the certificate's subject or CN, or the
                                    # finding's subject
      path: /etc/ssl/lab/*          # glob on the finding's subject or the certificate's
                                    # paths on that host
      reason: lab hosts use the lab CA
      owner: platform-team
      expires: 2025-12-31           # required; at most --waiver-max-days ahead
      ticket: OPS-1234              # optional

A finding is waived by the first waiver in the file that is in force (today is on or
before `expires`) and whose every given criterion matches it. A waived finding stays in
every report, marked with its waiver, but does not count towards the exit status or the
alerting metrics. A waiver whose end date has passed waives nothing and is reported as
expired; one in force that matched no finding is reported as stale.

Every problem in the file is an error naming FILE:LINE, raised before any host is
contacted.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import yaml

from audit.errors import ConfigError, InventoryError
from audit.inventory import select
from audit.model import CertInfo, Finding, HostResult, Waiver
from audit.report.view import host_locations

DEFAULT_NAME = "certaudit-waivers.yml"
"""The waivers file a run reads when it sits beside the inventory."""
DEFAULT_MAX_DAYS = 365
"""How far ahead a waiver may end, by default (--waiver-max-days)."""
MAX_FILE = 1024 * 1024
MAX_ERRORS = 20
"""Errors listed at most in one message (the count of the others is given)."""

MATCH_KEYS = ("hosts", "cert_sha256", "subject", "path")
TEXT_KEYS = ("reason", "owner")
KEYS = ("id", *MATCH_KEYS, *TEXT_KEYS, "expires", "ticket")

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"


@dataclass(frozen=True)
class WaiverSet:
    """The waivers of one file, with the hosts each one's host pattern selects."""

    path: Path
    waivers: tuple[Waiver, ...] = ()
    selected: tuple[frozenset[str] | None, ...] = ()
    """Per waiver: the host names its `hosts` pattern selects (None: no pattern)."""


@dataclass(frozen=True)
class Applied:
    """Findings with their waivers set, and the waivers to report."""

    findings: tuple[Finding, ...]
    expired: tuple[Waiver, ...]
    stale: tuple[Waiver, ...]


def default_file(inventory: Path) -> Path | None:
    """certaudit-waivers.yml beside the inventory file or folder, when it exists."""
    candidate = inventory.parent / DEFAULT_NAME
    return candidate if candidate.is_file() else None


class WaiversError(ConfigError):
    """A waivers file with problems: each one is "FILE:LINE: message" in `problems`."""

    def __init__(self, path: Path, problems: Sequence[str], *, hint: str = "") -> None:
        message = problems[0] if len(problems) == 1 else f"{path}: {len(problems)} problems"
        super().__init__(message, hint=hint)
        self.problems = tuple(problems)


class _Errors:
    """Problems found in one file, each as "FILE:LINE: message"."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, node: yaml.Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.items.append(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")

    def raise_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_ERRORS]
        if len(self.items) > MAX_ERRORS:
            shown.append(f"... and {len(self.items) - MAX_ERRORS} more")
        raise WaiversError(
            self.path,
            shown,
            hint="every waiver needs id, a match (hosts, cert_sha256, subject or path), "
            "reason, owner and expires (YYYY-MM-DD)",
        )


def _read(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE + 1)
    except OSError as exc:
        raise ConfigError(f"--waivers {path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE:
        raise ConfigError(f"--waivers {path}: larger than 1 MiB")
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def _compose(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _entries(root: yaml.Node | None, errors: _Errors) -> list[yaml.Node]:
    """The list of waiver entries: the document itself, or its `waivers` key."""
    if root is None:
        return []
    if isinstance(root, yaml.MappingNode):
        keys = [k.value for k, _ in root.value if isinstance(k, yaml.ScalarNode)]
        if keys != ["waivers"]:
            errors.add(root, "expected a list of waivers, or a mapping with only `waivers:`")
            return []
        root = root.value[0][1]
        if isinstance(root, yaml.ScalarNode) and root.value in ("", "~", "null"):
            return []
    if not isinstance(root, yaml.SequenceNode) or root.tag != _SEQ:
        errors.add(root, "expected a list of waivers")
        return []
    return list(root.value)


def _fields(node: yaml.Node, errors: _Errors) -> dict[str, yaml.ScalarNode] | None:
    """An entry's keys -> their scalar values; None when the entry is not a mapping."""
    if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
        errors.add(node, "a waiver must be a mapping (id:, reason:, owner:, expires:, ...)")
        return None
    out: dict[str, yaml.ScalarNode] = {}
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name not in KEYS:
            errors.add(key, f"unknown key {name!r} (expected one of {', '.join(KEYS)})")
            continue
        if name in out:
            errors.add(key, f"{name} given twice")
            continue
        if not isinstance(value, yaml.ScalarNode) or value.value.strip() == "":
            errors.add(value, f"{name} must be a single non-empty value")
            continue
        out[name] = value
    return out


def _expiry(
    node: yaml.ScalarNode | None, entry: yaml.Node, errors: _Errors, today: date, max_days: int
) -> date | None:
    if node is None:
        errors.add(entry, "expires is required: no waiver without an end date")
        return None
    text = node.value.strip()
    try:
        if not _DATE.match(text):
            raise ValueError
        expires = date.fromisoformat(text)
    except ValueError:
        errors.add(node, f"expires {text!r} is not a date (YYYY-MM-DD)")
        return None
    if expires > today + timedelta(days=max_days):
        errors.add(
            node,
            f"expires {expires} is more than {max_days} days ahead "
            f"(at most {today + timedelta(days=max_days)}; --waiver-max-days)",
        )
        return None
    return expires


@dataclass(frozen=True)
class _Hosts:
    """What a host pattern is checked against: the run's hosts and groups."""

    names: Sequence[str]
    groups: Mapping[str, Sequence[str]]

    def select(self, pattern: str) -> frozenset[str]:
        """The host names the pattern selects (empty when it selects none of them).
        Raises InventoryError for a malformed pattern."""
        try:
            return frozenset(select(self.names, pattern, self.groups))
        except InventoryError as exc:
            if "leaves no host" in exc.message:  # well-formed, selects none of these hosts
                return frozenset()
            raise


def _waiver(
    entry: yaml.Node,
    errors: _Errors,
    *,
    today: date,
    max_days: int,
    known_ids: Collection[str],
    hosts: _Hosts,
) -> tuple[Waiver, frozenset[str] | None] | None:
    """One entry, checked; None (with errors recorded) when it is not usable."""
    before = len(errors.items)
    fields = _fields(entry, errors)
    if fields is None:
        return None
    text = {k: v.value.strip() for k, v in fields.items()}
    if "id" not in text:
        errors.add(entry, "id is required (a finding ID, e.g. CERT_SELF_SIGNED)")
    elif text["id"] not in known_ids:
        errors.add(fields["id"], f"{text['id']!r} is not a finding ID of this version")
    for key in TEXT_KEYS:
        if key not in text:
            errors.add(entry, f"{key} is required")
    if not any(k in text for k in MATCH_KEYS):
        errors.add(entry, f"a waiver needs a match: one of {', '.join(MATCH_KEYS)}")
    sha = text.get("cert_sha256")
    if sha is not None:
        sha = sha.replace(":", "").lower()
        if not _SHA256.match(sha):
            errors.add(fields["cert_sha256"], "cert_sha256 must be 64 hex digits")
    selected = None
    if "hosts" in text:
        try:
            selected = hosts.select(text["hosts"])
        except InventoryError as exc:
            errors.add(fields["hosts"], f"hosts {text['hosts']!r}: {exc.message}")
    expires = _expiry(fields.get("expires"), entry, errors, today, max_days)
    if len(errors.items) > before or expires is None:
        return None
    waiver = Waiver(
        id=text["id"],
        reason=text["reason"],
        owner=text["owner"],
        expires=expires,
        source=f"{errors.path}:{entry.start_mark.line + 1}",
        hosts=text.get("hosts"),
        cert_sha256=sha,
        subject=text.get("subject"),
        path=text.get("path"),
        ticket=text.get("ticket"),
    )
    return waiver, selected


def load_waivers(
    path: Path,
    *,
    today: date,
    known_ids: Collection[str],
    hosts: Sequence[str],
    groups: Mapping[str, Sequence[str]],
    max_days: int = DEFAULT_MAX_DAYS,
) -> WaiverSet:
    """Read and check a waivers file. `known_ids` are the finding IDs of the rule registry;
    `hosts` and `groups` are the run's (host patterns are resolved against them).
    Raises ConfigError naming FILE:LINE for every problem found."""
    if max_days < 0:
        raise ConfigError(f"--waiver-max-days {max_days}: must be 0 or more")
    if not path.is_file():
        raise ConfigError(f"--waivers {path}: no such file")
    root = _compose(path, _read(path))
    errors = _Errors(path)
    checked = []
    for entry in _entries(root, errors):
        one = _waiver(
            entry,
            errors,
            today=today,
            max_days=max_days,
            known_ids=known_ids,
            hosts=_Hosts(hosts, groups),
        )
        if one is not None:
            checked.append(one)
    errors.raise_any()
    return WaiverSet(path, tuple(w for w, _ in checked), tuple(s for _, s in checked))


@dataclass(frozen=True)
class _Evidence:
    """What the match criteria look at beyond the finding itself."""

    certs: Mapping[str, CertInfo]
    paths: Mapping[tuple[str, str], frozenset[str]]
    """(host, certificate SHA-256) -> the paths (and endpoints) it was found at."""

    @classmethod
    def of(cls, results: Iterable[HostResult]) -> _Evidence:
        certs: dict[str, CertInfo] = {}
        paths: dict[tuple[str, str], set[str]] = {}
        for r in results:
            for cert, loc in host_locations(r):
                certs.setdefault(cert.sha256, cert)
                paths.setdefault((r.host.name, cert.sha256), set()).add(loc.path)
        return cls(certs, {k: frozenset(v) for k, v in paths.items()})


def _glob(pattern: str, texts: Iterable[str | None]) -> bool:
    return any(t is not None and fnmatch.fnmatchcase(t, pattern) for t in texts)


def matches(
    waiver: Waiver, selected: frozenset[str] | None, finding: Finding, evidence: _Evidence
) -> bool:
    """Whether every criterion the waiver gives matches the finding (the date aside)."""
    if waiver.id != finding.id:
        return False
    if selected is not None and finding.host not in selected:
        return False
    if waiver.cert_sha256 is not None and finding.cert_sha256 != waiver.cert_sha256:
        return False
    cert = evidence.certs.get(finding.cert_sha256 or "")
    if waiver.subject is not None:
        names = (finding.subject, cert.subject, cert.common_name) if cert else (finding.subject,)
        if not _glob(waiver.subject, names):
            return False
    if waiver.path is not None:
        paths = evidence.paths.get((finding.host, finding.cert_sha256 or ""), frozenset())
        if not _glob(waiver.path, (finding.subject, *sorted(paths))):
            return False
    return True


def apply_waivers(
    findings: Sequence[Finding], results: Iterable[HostResult], waivers: WaiverSet, today: date
) -> Applied:
    """Mark each finding with the first waiver in force that matches it. Findings keep
    their order; expired waivers waive nothing."""
    evidence = _Evidence.of(results)
    in_force = [w.expires >= today for w in waivers.waivers]
    used = [False] * len(waivers.waivers)
    out = []
    for finding in findings:
        chosen = None
        for i, waiver in enumerate(waivers.waivers):
            if not in_force[i] or not matches(waiver, waivers.selected[i], finding, evidence):
                continue
            used[i] = True
            chosen = waiver
            break
        out.append(replace(finding, waiver=chosen) if chosen is not None else finding)
    expired = tuple(w for i, w in enumerate(waivers.waivers) if not in_force[i])
    stale = tuple(w for i, w in enumerate(waivers.waivers) if in_force[i] and not used[i])
    return Applied(tuple(out), expired, stale)
