"""Validity family: expired, expiring, not yet valid. Scope: a certificate at a location."""

from __future__ import annotations

from collections.abc import Iterable

from audit.model import LocationKind, Severity
from audit.rules.base import (
    CertContext,
    Hit,
    Scope,
    Settings,
    cert_values,
    days_between,
    render,
    rule,
)
from audit.rules.renewal import renewal_diagnose, renewal_fix

_X509_DATES = "openssl x509 -noout -subject -dates -in {path}"
_SERVED_DATES = (
    "echo | openssl s_client -connect {address}:{port} -servername {servername} 2>/dev/null"
    " | openssl x509 -noout -subject -dates"
)


def _values(ctx: CertContext) -> dict[str, str]:
    return cert_values(ctx)


def _diagnose_for(ctx: CertContext) -> str | None:
    if ctx.location.kind is LocationKind.LISTENER:
        return _SERVED_DATES
    return renewal_diagnose(ctx)


def _where(ctx: CertContext) -> str:
    if ctx.location.kind is LocationKind.LISTENER:
        where = "served on " + ctx.location.path
        if ctx.location.index:
            where += f" (position {ctx.location.index} of the chain, issued by {ctx.cert.issuer})"
        return where
    return "in " + ctx.location.path


_OFF_PATH = (
    "; it is not on the path clients verify (an extra or stale cross-signed certificate): "
    "modern clients ignore it, old ones (OpenSSL 1.0.x, old Android) may fail on it"
)
_OFF_PATH_FIX = (
    "Remove this certificate from the chain the service sends (the chain or fullchain file "
    "behind {target}) and reload; the verified path does not need it."
)


@rule(
    "CERT_EXPIRED",
    family="validity",
    title="Certificate has expired",
    severity=Severity.CRITICAL,
    scope=Scope.CERT,
    diagnose=_X509_DATES,
    fix=(
        "Renew the certificate (certbot renew, or request a new one from the issuing CA), "
        "deploy it in place of {target} and reload the service that uses it."
    ),
)
def cert_expired(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    cert = ctx.cert
    if cert.not_after >= settings.now:
        return
    days = days_between(cert.not_after, settings.now)
    live = ctx.served or ctx.location.kind is LocationKind.LISTENER
    if ctx.off_path:
        status, severity = _OFF_PATH, Severity.MEDIUM
    elif live:
        status, severity = "; a listener serves it", Severity.CRITICAL
    else:
        status, severity = "; no listener serves it", Severity.MEDIUM
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} expired on {cert.not_after:%Y-%m-%d %H:%M} UTC "
            f"({-days:.0f} days ago)" + status
        ),
        values=_values(ctx),
        diagnose=_diagnose_for(ctx),
        severity=severity,
        cert_sha256=cert.sha256,
        days_left=days,
        fix=render(_OFF_PATH_FIX, _values(ctx)) if ctx.off_path else renewal_fix(ctx, settings.now),
    )


@rule(
    "CERT_EXPIRING",
    family="validity",
    title="Certificate expires soon",
    severity=Severity.MEDIUM,
    scope=Scope.CERT,
    diagnose=_X509_DATES,
    fix=(
        "Renew before it expires and confirm the renewal is automated (certbot timer, "
        "cert-manager); deploy the new certificate to {target} and reload the service."
    ),
)
def cert_expiring(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    cert = ctx.cert
    if cert.not_after < settings.now:
        return
    days = days_between(cert.not_after, settings.now)
    windows = sorted(settings.expiry_windows, reverse=True)
    if not windows or days > windows[0]:
        return
    # Widest window -> medium, next -> high, narrowest (and any further) -> critical.
    ladder = [Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]
    severity = Severity.MEDIUM
    window = windows[0]
    for i, limit in enumerate(windows):
        if days <= limit:
            severity = ladder[min(i, len(ladder) - 1)]
            window = limit
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} expires on {cert.not_after:%Y-%m-%d %H:%M} UTC, "
            f"in {days:.1f} days (inside the {window}-day window)"
            + (_OFF_PATH if ctx.off_path else "")
        ),
        values=_values(ctx),
        diagnose=_diagnose_for(ctx),
        severity=Severity.LOW if ctx.off_path else severity,
        fix=render(_OFF_PATH_FIX, _values(ctx)) if ctx.off_path else renewal_fix(ctx, settings.now),
        cert_sha256=cert.sha256,
        days_left=days,
    )


@rule(
    "CERT_NOT_YET_VALID",
    family="validity",
    title="Certificate is not valid yet",
    severity=Severity.HIGH,
    scope=Scope.CERT,
    diagnose=_X509_DATES,
    fix=(
        "Check the clock of the host that issued it and of this host (timedatectl); "
        "until notBefore passes, clients reject it: deploy the previous certificate meanwhile."
    ),
)
def cert_not_yet_valid(ctx: CertContext, settings: Settings) -> Iterable[Hit]:
    cert = ctx.cert
    if cert.not_before <= settings.now:
        return
    days = days_between(cert.not_before, settings.now)
    yield Hit(
        subject=ctx.location.path,
        detail=(
            f"{cert.subject} {_where(ctx)} becomes valid only on "
            f"{cert.not_before:%Y-%m-%d %H:%M} UTC, in {days:.1f} days"
        ),
        values=_values(ctx),
        diagnose=_diagnose_for(ctx),
        cert_sha256=cert.sha256,
        days_left=days_between(cert.not_after, settings.now),
    )


RULES = (cert_expired, cert_expiring, cert_not_yet_valid)
