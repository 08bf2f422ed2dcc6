"""Parsing family: files that look like certificates but do not parse. Scope: host."""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import Severity
from audit.rules.base import Hit, HostContext, Scope, Settings, rule, shell_quote


@rule(
    "CERT_UNPARSEABLE",
    family="parsing",
    title="File looks like a certificate but does not parse",
    severity=Severity.LOW,
    scope=Scope.HOST,
    diagnose="openssl x509 -noout -text -in {path}",
    fix=(
        "Re-export {path} from its source (PEM with complete BEGIN/END CERTIFICATE lines, "
        "or DER), or remove it if nothing uses it."
    ),
)
def cert_unparseable(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    for item in ctx.result.unparseable:
        where = item.path + (f" (certificate #{item.index + 1})" if item.index else "")
        yield Hit(
            subject=item.path,
            detail=f"{where}: {item.reason}",
            values={"path": shell_quote(item.path)},
        )


RULES = (cert_unparseable,)
