"""Certificates embedded in a kubeconfig given to `inspect` (a local file), read as YAML.

Only the values of exactly `certificate-authority-data` (clusters[].cluster) and
`client-certificate-data` (users[].user) are read: a misspelled key, another case, a key
elsewhere in the document, and `client-key-data` never are. YAML covers every way users
write them (plain, quoted, block scalars) and JSON kubeconfigs. Each value is base64 of
PEM; only the certificates in it are returned (a key someone put there is dropped).

On hosts the same keys are read by the collection script itself, which decodes them there
and sends only the certificate blocks (remote.sh, KPEM).

Contract: `certificates` is pure and never raises; it returns [] for anything that is
not a kubeconfig with such data.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Any

import yaml

from audit.certparse import ParsedItem, parse_bytes

KEYS = {
    "clusters": ("cluster", "certificate-authority-data"),
    "users": ("user", "client-certificate-data"),
}
_MAX = 4 * 1024 * 1024


def _values(doc: Any) -> list[str]:
    out: list[str] = []
    if not isinstance(doc, dict):
        return out
    for section, (inner, key) in KEYS.items():
        entries = doc.get(section)
        if not isinstance(entries, list):
            continue
        for entry in entries:
            body = entry.get(inner) if isinstance(entry, dict) else None
            value = body.get(key) if isinstance(body, dict) else None
            if isinstance(value, str):
                out.append(value)
    return out


def certificates(data: bytes) -> list[ParsedItem]:
    """The certificates a kubeconfig embeds, in document order ([] when none)."""
    try:
        if len(data) > _MAX or b"-data" not in data:
            return []
        doc = yaml.safe_load(data)
        items: list[ParsedItem] = []
        for value in _values(doc):
            try:
                pem = base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                continue
            items += [i for i in parse_bytes(pem) if i.cert is not None]
        return [replace(item, index=n) for n, item in enumerate(items)]
    except Exception:  # the contract: anything else is not a kubeconfig with data
        return []
