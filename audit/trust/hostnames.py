"""Whether a certificate covers a host name: dNSName and iPAddress SANs, never the CN."""

from __future__ import annotations

import ipaddress

from audit.model import CertInfo


def matches_hostname(cert: CertInfo, name: str) -> bool:
    """Whether `name` is covered by the certificate's SANs.

    dNSName SANs only, never the Common Name; case-insensitive; a trailing dot ignored; a
    wildcard only as the whole left-most label ("*.example.com" covers "a.example.com",
    not "example.com" nor "a.b.example.com"), and not directly above a one-label suffix
    ("*.com"). An IP literal (with or without brackets) matches iPAddress SANs only.
    """
    host = name.strip().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return any(_same_ip(ip, entry) for entry in cert.ip_addresses)
    host = a_label(host)
    if not host:
        return False
    return any(_dns_match(a_label(pattern.rstrip(".")), host) for pattern in cert.dns_names)


def a_label(name: str) -> str:
    """The name in lower case, with non-ASCII labels IDNA-encoded (unchanged if that fails)."""
    name = name.lower()
    if name.isascii():
        return name
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _same_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        return ipaddress.ip_address(entry) == ip
    except ValueError:
        return False


def _dns_match(pattern: str, host: str) -> bool:
    if not pattern:
        return False
    if "*" not in pattern:
        return pattern == host
    p_labels = pattern.split(".")
    h_labels = host.split(".")
    if p_labels[0] != "*" or "*" in ".".join(p_labels[1:]) or len(p_labels) < 3:
        return False
    return len(h_labels) == len(p_labels) and bool(h_labels[0]) and h_labels[1:] == p_labels[1:]
