"""kubeadm's certificates by name, and `kubeadm certs check-expiration` read back.

kubeadm names each certificate it manages as `kubeadm certs check-expiration` lists it:
the control-plane certificates under /etc/kubernetes/pki (etcd included), the client
certificates embedded in its kubeconfigs, and its three CAs. `kubeadm certs renew NAME`
renews one of them; the CAs are never renewed by kubeadm.

Contract: `parse_check_expiration` is pure and never raises; a line or an entry it cannot
read is left out.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from datetime import UTC, datetime

PKI_FILES: dict[str, str] = {
    "pki/ca.crt": "ca",
    "pki/apiserver.crt": "apiserver",
    "pki/apiserver-kubelet-client.crt": "apiserver-kubelet-client",
    "pki/apiserver-etcd-client.crt": "apiserver-etcd-client",
    "pki/front-proxy-ca.crt": "front-proxy-ca",
    "pki/front-proxy-client.crt": "front-proxy-client",
    "pki/etcd/ca.crt": "etcd-ca",
    "pki/etcd/server.crt": "etcd-server",
    "pki/etcd/peer.crt": "etcd-peer",
    "pki/etcd/healthcheck-client.crt": "etcd-healthcheck-client",
}
"""Files under the Kubernetes folder -> the kubeadm name of the certificate in them."""

KUBECONFIGS = ("admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf")
"""kubeadm's kubeconfigs whose embedded client certificate `kubeadm certs renew` renews."""

CAS = ("ca", "etcd-ca", "front-proxy-ca")

CA_OF: dict[str, str] = {
    "apiserver-etcd-client": "etcd-ca",
    "etcd-healthcheck-client": "etcd-ca",
    "etcd-peer": "etcd-ca",
    "etcd-server": "etcd-ca",
    "front-proxy-client": "front-proxy-ca",
}
"""The CA that signs each component (every other one: "ca")."""


def ca_of(component: str) -> str:
    """The CA that signs a kubeadm component."""
    return CA_OF.get(component, "ca")


def component(kube_dir: str, path: str, is_ca: bool) -> str | None:
    """The kubeadm name of the certificate at `path` (None: not one of kubeadm's). A
    kubeconfig holds a client certificate (its own name) and a copy of the CA ("ca")."""
    base = kube_dir.rstrip("/") + "/"
    if not path.startswith(base):
        return None
    rel = posixpath.normpath(path[len(base) :])
    if rel in PKI_FILES:
        return PKI_FILES[rel]
    if rel in KUBECONFIGS:
        return "ca" if is_ca else rel
    return None


@dataclass(frozen=True)
class Expiration:
    """One line of `kubeadm certs check-expiration`."""

    name: str
    expires: datetime | None
    authority: str = ""
    """The CA that signs it ("" for a CA)."""
    externally_managed: bool = False
    missing: bool = False


_TABLE_DATE = re.compile(r"([A-Z][a-z]{2} \d{1,2}, \d{4} \d{2}:\d{2}) UTC")
_NAME = re.compile(r"[a-z][a-z0-9.-]{0,63}")


def _date(text: object) -> datetime | None:
    if not isinstance(text, str) or len(text) > 40:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%b %d, %Y %H:%M"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def parse_check_expiration(kind: str, lines: list[str]) -> dict[str, Expiration]:
    """`kubeadm certs check-expiration` output (`-o json`, or the table) -> by name."""
    try:
        if kind == "json":
            return _from_json("\n".join(lines))
        return _from_table(lines)
    except Exception:  # the contract: odd output is left out, never a crash
        return {}


def _from_json(text: str) -> dict[str, Expiration]:
    doc = json.loads(text)
    out: dict[str, Expiration] = {}
    if not isinstance(doc, dict):
        return out
    for key in ("certificates", "certificateAuthorities"):
        for item in doc.get(key) or ():
            if not isinstance(item, dict) or not _NAME.fullmatch(str(item.get("name", ""))):
                continue
            name = str(item["name"])
            authority = item.get("certificateAuthority", "")
            out[name] = Expiration(
                name=name,
                expires=_date(item.get("expirationDate")),
                authority=authority if isinstance(authority, str) else "",
                externally_managed=item.get("externallyManaged") is True,
                missing=item.get("missing") is True,
            )
    return out


def _from_table(lines: list[str]) -> dict[str, Expiration]:
    out: dict[str, Expiration] = {}
    cas = False
    for line in lines:
        words = line.split()
        if not words or line.startswith("["):
            continue
        if words[0] == "CERTIFICATE":
            cas = len(words) > 1 and words[1] == "AUTHORITY"
            continue
        missing = words[0] == "!MISSING!"
        if missing:
            words = words[1:]
        if not words or not _NAME.fullmatch(words[0]):
            continue
        found = _TABLE_DATE.search(line)
        rest = line[found.end() :].split() if found else words[1:]
        authority = rest[1] if not cas and len(rest) >= 3 else ""
        out[words[0]] = Expiration(
            name=words[0],
            expires=_date(found.group(1)) if found else None,
            authority=authority if _NAME.fullmatch(authority) else "",
            externally_managed=bool(rest) and rest[-1] == "yes",
            missing=missing,
        )
    return out
