"""Key-file family. Key bytes never leave a host: rules see path, owner and mode only."""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import Severity
from audit.rules.base import Hit, HostContext, Scope, Settings, rule, shell_quote


@rule(
    "PRIVATE_KEY_EXPOSED",
    family="keys",
    title="Private key file is readable by group or others",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose="ls -l -- {path}",
    fix=(
        "chmod 600 {path} (or 640 with a dedicated group such as ssl-cert), "
        "then consider the key compromised if untrusted users had access: rotate it."
    ),
)
def private_key_exposed(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    for key in ctx.result.key_files:
        if not key.exposed:
            continue
        who = "others" if key.mode & 0o004 else "group " + key.group
        yield Hit(
            subject=key.path,
            detail=(
                f"{key.path} ({key.kind}) has mode {key.mode & 0o7777:04o}, owner "
                f"{key.owner}:{key.group}: readable by {who}"
            ),
            values={"path": shell_quote(key.path)},
        )


RULES = (private_key_exposed,)
