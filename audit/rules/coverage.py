"""Coverage family: hosts that could not be audited, or only partly. Scope: host."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from audit.model import HostOutcome, IssueReason, Severity
from audit.rules.base import Hit, HostContext, Scope, Settings, rule, shell_quote

_SSH_V = "ssh -v -p {port} -- {userat}{address} true"


def _values(ctx: HostContext) -> dict[str, str]:
    """The inventory's host as template values, shell-quoted: `address`, `port`, `userat`
    ("USER@" or nothing), `name`, and `known_host` (the host's known_hosts entry name)."""
    host = ctx.result.host
    port = host.port or 22
    return {
        "address": shell_quote(host.address),
        "port": str(port),
        "userat": f"{shell_quote(host.user)}@" if host.user else "",
        "name": shell_quote(host.name),
        "known_host": shell_quote(f"[{host.address}]:{port}"),
    }


def _outcome_rule(outcome: HostOutcome) -> Callable[[HostContext, Settings], Iterable[Hit]]:
    def check(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
        if ctx.result.outcome is outcome:
            yield Hit(subject="ssh", detail=ctx.result.detail or outcome.value, values=_values(ctx))

    return check


host_unreachable = rule(
    "HOST_UNREACHABLE",
    family="coverage",
    title="Host could not be reached; it was not audited",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose=_SSH_V,
    fix=(
        "Check that {name} resolves and that sshd listens on port {port} "
        "(nc -vz -- {address} {port}); fix the inventory address if the host moved."
    ),
)(_outcome_rule(HostOutcome.UNREACHABLE))

host_auth_failed = rule(
    "HOST_AUTH_FAILED",
    family="coverage",
    title="SSH authentication failed; host was not audited",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose=_SSH_V,
    fix=(
        "Give the audit user a key the host accepts (ansible_user, "
        "ansible_ssh_private_key_file or ~/.ssh/config) and check its authorized_keys."
    ),
)(_outcome_rule(HostOutcome.AUTH_FAILED))

host_key_mismatch = rule(
    "HOST_KEY_MISMATCH",
    family="coverage",
    title="SSH host key changed: possible interception, nothing collected",
    severity=Severity.CRITICAL,
    scope=Scope.HOST,
    diagnose="ssh-keyscan -p {port} -- {address} | ssh-keygen -lf -",
    fix=(
        "Confirm the new key out of band (console, provisioning records). Only if the "
        "change is legitimate, replace the entry: ssh-keygen -R {known_host} and "
        "re-run with --accept-new-host-keys."
    ),
)(_outcome_rule(HostOutcome.KEY_MISMATCH))

host_key_unknown = rule(
    "HOST_KEY_UNKNOWN",
    family="coverage",
    title="SSH host key not in known_hosts; host was not audited",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose="ssh-keyscan -p {port} -- {address} | ssh-keygen -lf -",
    fix=(
        "Verify the fingerprint out of band, then add it to known_hosts, or re-run once "
        "with --accept-new-host-keys."
    ),
)(_outcome_rule(HostOutcome.KEY_UNKNOWN))


@rule(
    "COLLECTION_PARTIAL",
    family="coverage",
    title="Collection was incomplete on this host",
    severity=Severity.MEDIUM,
    scope=Scope.HOST,
    diagnose="printf '%s\\0' {path} | ssh -p {port} -- {userat}{address} 'xargs -0 ls -ld --'",
    fix="{fix}",
)
def collection_partial(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    """The diagnose sends the path on stdin (NUL-terminated, to xargs -0): the remote shell
    never parses it, so quoting it once for the local shell is enough."""
    result = ctx.result
    if result.outcome is HostOutcome.INVENTORY_ERROR:
        yield Hit(
            subject="inventory",
            detail=result.detail,
            values={**_values(ctx), "path": "/"},
            diagnose=f"certaudit inventory INVENTORY --limit {shell_quote(result.host.name)}",
            fix="Correct the host's definition at the inventory file and line the detail "
            "names; until then the host is not audited.",
        )
        return
    if result.outcome is HostOutcome.FAILED:
        yield Hit(
            subject="collection",
            detail=result.detail or "the collection could not run",
            values={**_values(ctx), "path": "/", "fix": "Check the host's shell and sudo setup."},
        )
        return
    if not result.outcome.audited:
        return
    by_reason: dict[IssueReason, list[str]] = {}
    details: dict[IssueReason, str] = {}
    for issue in result.issues:
        by_reason.setdefault(issue.reason, []).append(issue.path)
        details.setdefault(issue.reason, issue.detail)
    for reason, paths in by_reason.items():
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        yield Hit(
            subject=f"collection: {reason.value}",
            detail=f"{reason.value.replace('_', ' ')}: {shown}"
            + (f" ({details[reason]})" if details[reason] else ""),
            values={**_values(ctx), "path": shell_quote(paths[0]), "fix": _FIXES[reason]},
        )


_FIXES = {
    IssueReason.PERMISSION_DENIED: (
        "Run the audit with ansible_become=true (sudo -n) or grant the audit user read access."
    ),
    IssueReason.TOO_LARGE: "The file exceeds the size cap; check what it is.",
    IssueReason.TOO_MANY_FILES: (
        "A scan root holds more files than the cap; narrow certaudit_cert_paths."
    ),
    IssueReason.TIMEOUT: (
        "A remote command hit its deadline (a hung mount?); check the host, "
        "or raise --host-timeout."
    ),
    IssueReason.TRUNCATED: (
        "The output ended early (connection dropped); re-run the audit for this host."
    ),
    IssueReason.READ_ERROR: "A file could not be read; check the file system on the host.",
    IssueReason.PRIVILEGE_UNAVAILABLE: (
        "sudo -n was refused (password or tty required); allow NOPASSWD for the audit "
        "user or drop ansible_become."
    ),
    IssueReason.UNSUPPORTED: "A capability the collection needs is missing on the host.",
    IssueReason.OUTPUT_CAP: "The host sent more than the output cap; narrow the scan roots.",
}

RULES = (
    host_unreachable,
    host_auth_failed,
    host_key_mismatch,
    host_key_unknown,
    collection_partial,
)
