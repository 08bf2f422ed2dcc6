"""The host's own trust store family. Scope: host."""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import Severity
from audit.rules.base import Hit, HostContext, Scope, Settings, rule

STANDARD_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
)
"""Where OpenSSL-based clients (curl, Python, Go) look on Debian, RHEL, Alpine, SUSE."""


@rule(
    "CA_BUNDLE_MISSING",
    family="hoststore",
    title="Host has no system CA bundle; its clients cannot verify",
    severity=Severity.HIGH,
    scope=Scope.HOST,
    diagnose="python3 -c 'import ssl; print(ssl.get_default_verify_paths())'; ls -l {paths}",
    fix=(
        "Install the CA bundle: apt-get install ca-certificates (Debian/Ubuntu), "
        "apk add ca-certificates (Alpine), dnf install ca-certificates (RHEL); "
        "never turn verification off instead."
    ),
)
def ca_bundle_missing(ctx: HostContext, settings: Settings) -> Iterable[Hit]:
    result = ctx.result
    if not result.outcome.audited or result.ca_bundles:
        return
    yield Hit(
        subject="system CA bundle",
        detail=(
            "none of the standard CA bundle files exists, so curl, Python and Go clients on "
            "this host fail with 'unable to get local issuer certificate'"
        ),
        values={"paths": " ".join(STANDARD_BUNDLES)},
    )


RULES = (ca_bundle_missing,)
