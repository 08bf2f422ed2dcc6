"""certaudit's answer (through the `inventory` use case) against Ansible's, for one
inventory or one --limit pattern: a list of differences, empty when they agree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from audit.errors import InventoryError
from audit.service.inventory import HostPlan, InventoryListing, InventorySettings, list_inventory
from tests.parity.ansible_side import UNUSABLE, Call, Listing, endpoint, listed_hosts, read_listing
from tests.parity.cases import Case

FIELDS = ("address", "port", "user", "key_file", "become")


@dataclass(frozen=True)
class Answers:
    """What Ansible said about one inventory."""

    listing: Call
    host: Call | None
    """`ansible-inventory --host` for the first host, if there is one."""


def certaudit(path: Path, limit: str | None = None) -> InventoryListing | InventoryError:
    try:
        return list_inventory(InventorySettings(inventory=path, limit=limit))
    except InventoryError as exc:
        return exc


def _ours(plan: HostPlan) -> dict[str, object]:
    if plan.error is not None:
        return dict.fromkeys(FIELDS, UNUSABLE)
    return {f: getattr(plan, f) for f in FIELDS}


def _refusal(case: Case, answers: Answers, ours: InventoryListing | InventoryError) -> list[str]:
    """Ansible skipped a file it could not parse (keeping what it had read of it, with a
    warning); certaudit refuses the inventory, naming that file."""
    unparsed = [os.path.realpath(s) for s in answers.listing.unparsed]
    if not isinstance(ours, InventoryError):
        return [f"Ansible could not parse {unparsed}; certaudit read it"]
    if os.path.realpath(ours.path) not in unparsed or ours.line is None:
        return [f"certaudit refused at {ours.path}:{ours.line}, Ansible skipped {unparsed}"]
    return []


def _expected_warnings(case: Case, ours: InventoryListing) -> list[str]:
    wanted = [d.warning for d in case.deliberate] + list(case.warnings)
    out = []
    for rel, line, fragment in wanted:
        where = str(case.folder / rel) + (f":{line}: " if line else "")
        if not any(w.startswith(where) and fragment in w for w in ours.warnings):
            out.append(f"no warning at {where} mentioning {fragment!r}")
    return out


def _host_differences(
    case: Case, name: str, theirs: dict[str, object], plan: HostPlan
) -> list[str]:
    skip = {f for d in case.deliberate if d.host == name for f in d.fields}
    ours = _ours(plan)
    if UNUSABLE in ours.values() and (skip or UNUSABLE in theirs.values()):
        return []
    return [
        f"{name}.{f}: Ansible {theirs[f]!r}, certaudit {ours[f]!r}"
        for f in FIELDS
        if f not in skip and theirs[f] != ours[f]
    ]


def compare_inventory(case: Case, answers: Answers) -> list[str]:
    ours = certaudit(case.path)
    if answers.listing.unparsed:
        return _refusal(case, answers, ours)
    if isinstance(ours, InventoryError):
        return [f"certaudit refused ({ours}); Ansible read it"]
    theirs: Listing = read_listing(answers.listing)
    plans = {p.name: p for p in ours.hosts}
    problems = []
    expected = set(theirs.hostvars) - set(case.absent)
    if set(plans) != expected:
        problems.append(
            f"hosts: only Ansible {sorted(expected - set(plans))}, "
            f"only certaudit {sorted(set(plans) - expected)}"
        )
    for name in sorted(expected & set(plans)):
        groups = set(plans[name].groups) - {"all"}
        if groups != theirs.groups[name]:
            problems.append(
                f"{name} groups: Ansible {sorted(theirs.groups[name])}, certaudit {sorted(groups)}"
            )
        problems += _host_differences(
            case, name, endpoint(name, theirs.hostvars[name]), plans[name]
        )
    if answers.host is not None:
        name = min(expected & set(plans)) if expected & set(plans) else None
        if name is not None and answers.host.argv[-1] == name:
            vars_ = json.loads(answers.host.stdout)
            problems += [
                f"--host {p}"
                for p in _host_differences(case, name, endpoint(name, vars_), plans[name])
            ]
    return problems + _expected_warnings(case, ours)


def compare_limit(case: Case, pattern: str, call: Call) -> list[str]:
    """Ansible's `--list-hosts` for the pattern against certaudit's --limit: the same
    hosts (as a set), or both refusing (Ansible lists no host or refuses); a term Ansible
    warns matched nothing is named in a certaudit warning too."""
    ours = certaudit(case.path, pattern)
    theirs = listed_hosts(call)
    if theirs is None or not theirs:
        if isinstance(ours, InventoryError):
            return []
        return [
            f"Ansible refused or selected nothing ({call.stderr.strip()[-200:]!r}); "
            f"certaudit selected {[p.name for p in ours.hosts]}"
        ]
    if isinstance(ours, InventoryError):
        return [f"certaudit refused ({ours}); Ansible selected {theirs}"]
    problems = []
    names = [p.name for p in ours.hosts]
    if set(names) != set(theirs):
        problems.append(f"Ansible {sorted(theirs)}, certaudit {sorted(names)}")
    for term in call.unmatched:
        if not any(term in w for w in ours.warnings):
            problems.append(f"Ansible warns {term!r} matched nothing; certaudit does not")
    return problems
