"""What the collection script says about listeners and web servers -> model data. Pure.

Listening sockets come from `ss -Htlnp` lines, or, where ss is missing, from the LISTEN
lines of /proc/net/tcp and /proc/net/tcp6 joined with the processes holding their inodes.
Web-server configuration comes as directive records (remote.sh, WEB): the script reads the
files and keeps only what matters for TLS, with file, line and the server block each
directive is in; here the blocks become model.TlsConfig. An argument the host did not
send, because it is not known to be public (an inline key, a PKCS#11 URI and its PIN...),
arrives as a marker: "data:", "engine:", "pkcs11:", "<not a path>" or "<not sent>".

Contract: every function here is total on the record shapes parse.py lets through; odd
values (a port that is not a number, an address that does not parse) are skipped, never
raised.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from audit.model import CollectionIssue, ConfigListen, IssueReason, TlsConfig

US = "\x1f"
"""Separator of the fields of a block id and of a directive's arguments (remote.sh)."""


@dataclass(frozen=True)
class Socket:
    """One listening TCP socket on a host."""

    address: str
    """Bound address without brackets or zone: "0.0.0.0", "::", "127.0.0.1", "::1"..."""
    port: int
    process: str | None = None
    """Name of the owning process (comm), when the privilege allowed to see it."""


_SS_USERS = re.compile(r'users:\(\("((?:[^"\\]|\\.)*)",pid=([0-9]+)')
_ENDPOINT = re.compile(r"^(.*):([0-9]+|\*)$")


def number(text: str, high: int) -> int | None:
    """A decimal number from 0 to high written in ASCII digits (at most 12 of them), else
    None: not "²" or "١" (str.isdigit() accepts them, int() refuses), not 5,000 digits."""
    if not (0 < len(text) <= 12 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= high else None


def _port(text: str) -> int | None:
    return number(text, 65535)


def _address(text: str) -> str | None:
    """ "[::]" -> "::", "127.0.0.53%lo" -> "127.0.0.53", "*" -> "0.0.0.0"; None if odd."""
    text = text.strip()
    if text in ("*", ""):
        return "0.0.0.0"
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    text = text.split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


def parse_ss_line(line: str) -> Socket | None:
    """One line of `ss -Htlnp` (State Recv-Q Send-Q Local Peer [Process]) -> Socket."""
    words = line.split()
    local = None
    for word in words[1:]:
        m = _ENDPOINT.match(word)
        if m and m.group(2) != "*":
            local = m
            break
    if local is None:
        return None
    address = _address(local.group(1))
    port = _port(local.group(2))
    if address is None or not port:
        return None
    users = _SS_USERS.search(line)
    process = users.group(1).replace('\\"', '"') if users else None
    return Socket(address, port, process)


def _proc_address(hexaddr: str) -> str | None:
    try:
        raw = bytes.fromhex(hexaddr)
    except ValueError:
        return None
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    if len(raw) == 16:  # four host-order (little-endian) 32-bit words
        words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
        ip = ipaddress.IPv6Address(words)
        return str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else str(ip)
    return None


def parse_proc_tcp_line(line: str) -> tuple[Socket, str] | None:
    """A LISTEN line of /proc/net/tcp or tcp6 -> (Socket, inode)."""
    fields = line.split()
    if len(fields) < 10 or fields[3] != "0A":
        return None
    hexaddr, _, hexport = fields[1].partition(":")
    address = _proc_address(hexaddr)
    if not re.fullmatch(r"[0-9A-Fa-f]{4}", hexport):
        return None
    port = int(hexport, 16)
    if address is None or not port:
        return None
    return Socket(address, port), fields[9]


def sockets_from(
    ss_lines: Iterable[str],
    proc_lines: Iterable[str],
    owners: Mapping[str, str],
    dropped: list[str] | None = None,
) -> tuple[Socket, ...]:
    """Distinct listening sockets, from ss lines or else /proc lines (+ inode owners).
    A line that makes a parser fail is skipped and, when `dropped` is given, noted there."""
    found: dict[tuple[str, int], Socket] = {}
    for kind, lines in (("ss", ss_lines), ("proc", proc_lines)):
        for line in lines:
            try:
                sock = _socket(kind, line, owners)
            except Exception:  # one odd line costs that line
                if dropped is not None:
                    dropped.append(kind)
                continue
            if sock is None:
                continue
            key = (sock.address, sock.port)
            if key not in found or (found[key].process is None and sock.process):
                found[key] = sock
    return tuple(sorted(found.values(), key=lambda s: (s.port, s.address)))


def _socket(kind: str, line: str, owners: Mapping[str, str]) -> Socket | None:
    if kind == "ss":
        return parse_ss_line(line)
    parsed = parse_proc_tcp_line(line)
    if parsed is None:
        return None
    sock, inode = parsed
    return Socket(sock.address, sock.port, owners.get(inode))


# ---------------------------------------------------------------------------------------
# Web-server configuration


@dataclass(frozen=True)
class WebDirective:
    """One WEB record: a directive that matters for TLS, where it is, and its block."""

    server: str
    file: str
    line: int
    block: str
    """US-separated: "H", main file (context outside server blocks) or "S"/"V"/"F", main
    file, line, file of the nginx server / Apache VirtualHost / HAProxy section."""
    name: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class KeyDigest:
    """A KEYPUB record: the public-key digest derived on the host from a key file."""

    path: str
    status: str
    """ok, noopenssl, unreadable, missing, notfile, failed."""
    sha256: str = ""


@dataclass
class _Block:
    server: str
    kind: str
    file: str
    line: int
    main: str
    listens: list[ConfigListen] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    certs: list[tuple[str, str, int]] = field(default_factory=list)
    keys: list[tuple[str, str, int]] = field(default_factory=list)
    chain: str | None = None
    ssl_on: bool = False


_KEY_CHECK = {
    "ok": "ok",
    "noopenssl": "no_openssl",
    "unreadable": "unreadable",
    "missing": "missing",
    "notfile": "failed",
    "failed": "failed",
}


def _usable_name(name: str) -> str | None:
    """A server_name / ServerName entry usable as SNI, lower-cased; None otherwise."""
    name = name.strip().lower()
    name = re.sub(r"^[a-z]+:/+", "", name)  # ServerName https://x:443 (slashes may be folded)
    name = name.split("/", 1)[0]
    if name.startswith("."):
        name = name[1:]
    if re.fullmatch(r"[a-z0-9.-]+:[0-9]+", name):
        name = name.rsplit(":", 1)[0]
    if not name or name in ("_", "localhost") or "*" in name or "$" in name:
        return None
    if name.startswith("~") or not re.fullmatch(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9])?", name):
        return None
    try:
        ipaddress.ip_address(name)
        return None  # SNI carries host names only
    except ValueError:
        return name


class _Odd(ValueError):
    """A directive holds a value that cannot be read (a port that is not a port)."""


def _config_port(text: str) -> int:
    port = _port(text)
    if port is None:
        raise _Odd(f"port {text[:20]!r}")
    return port


def _split_hostport(text: str, default_port: int | None) -> tuple[str, int] | None:
    """nginx/Apache/HAProxy address forms -> (address, port): "443", "*:443",
    "[::]:443", "10.0.0.1:8443", "10.0.0.1" (default port), "_default_:443"; None for a
    socket file or a marker. Raises _Odd for a port that is not 0-65535 in ASCII digits."""
    text = text.strip()
    if not text or text.startswith(("unix:", "<")) or "@" in text and not text.startswith("ipv"):
        return None  # a socket file, or a marker the host sent in place of the argument
    if text.startswith(("ipv4@", "ipv6@")):
        text = text.split("@", 1)[1]
    if text.isdigit():
        return "", _config_port(text)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        address, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":"):
            return address, _config_port(rest[1:])
        return (address, default_port) if default_port and not rest else None
    if text.count(":") > 1:  # a bare IPv6 address (HAProxy ":::443" too)
        address, _, digits = text.rpartition(":")
    else:
        address, colon, digits = text.partition(":")
        if not colon:
            return (text, default_port) if default_port else None
        digits = digits.split("-", 1)[0]  # HAProxy port range: the first port stands for it
    return address, _config_port(digits)


def parse_block(block: str) -> tuple[str, str, int, str] | None:
    """Block id -> (kind, main file, line, file); kind "H" has line 0 and file = main."""
    parts = block.split(US)
    if len(parts) == 2 and parts[0] == "H":
        return "H", parts[1], 0, parts[1]
    if len(parts) == 4 and parts[0] in ("S", "V", "F"):
        line = number(parts[2], 10**9)
        if line is not None:
            return parts[0], parts[1], line, parts[3]
    return None


_Key = tuple[str, str]


def build_tls_configs(
    host: str,
    directives: Sequence[WebDirective],
    digests: Mapping[str, KeyDigest],
) -> tuple[list[TlsConfig], list[CollectionIssue]]:
    """Server blocks that serve (or name) TLS material, and the issues of checking their
    certificate/key pairs (when the check could not run). A directive or a block that
    makes this fail costs itself alone, stated as an issue."""
    blocks, defaults, order, dropped = _collect_blocks(directives)
    configs: list[TlsConfig] = []
    for key in order:
        b = blocks[key]
        try:
            config = _config(host, b, defaults.get((b.server, "H" + US + b.main)), digests)
        except Exception:  # one odd block costs that block
            dropped.append(f"{b.file}:{b.line}")
            continue
        if config is not None:
            configs.append(config)
    issues = _key_issues(host, configs, digests)
    if dropped:
        shown = ", ".join(dropped[:5]) + (", ..." if len(dropped) > 5 else "")
        issues.append(
            CollectionIssue(
                host,
                "",
                IssueReason.READ_ERROR,
                f"{len(dropped)} web-server configuration directive(s) or block(s) could "
                f"not be understood and were left out ({shown})",
            )
        )
    return configs, issues


def _collect_blocks(
    directives: Sequence[WebDirective],
) -> tuple[dict[_Key, _Block], dict[_Key, _Block], list[_Key], list[str]]:
    """Directives grouped by block: server blocks in order, http-level defaults by main
    file, and "file:line" of each directive that could not be applied."""
    blocks: dict[_Key, _Block] = {}
    defaults: dict[_Key, _Block] = {}
    order: list[_Key] = []
    dropped: list[str] = []
    for d in directives:
        try:
            parsed = parse_block(d.block)
            if parsed is None:
                continue
            kind, main, line, file = parsed
            key = (d.server, d.block)
            table = defaults if kind == "H" else blocks
            block = table.get(key) or _Block(d.server, kind, file, line, main)
            _apply(block, d)
        except Exception:  # one odd directive costs that directive
            dropped.append(f"{d.file}:{d.line}")
            continue
        if key not in table:
            table[key] = block
            if kind != "H":
                order.append(key)
    return blocks, defaults, order, dropped


_KEY_TEXT = {
    "unreadable": (IssueReason.PERMISSION_DENIED, "is not readable"),
    "missing": (IssueReason.READ_ERROR, "does not exist"),
    "failed": (
        IssueReason.READ_ERROR,
        "gives no public key to openssl (encrypted, or not a private key)",
    ),
    "notfile": (
        IssueReason.READ_ERROR,
        "is not a regular file (a folder, a special or pseudo-filesystem file; never opened)",
    ),
}


def _key_issues(
    host: str, configs: Sequence[TlsConfig], digests: Mapping[str, KeyDigest]
) -> list[CollectionIssue]:
    """Why a configured certificate/key pair could not be compared, once per key file."""
    issues: list[CollectionIssue] = []
    seen: set[tuple[str, str]] = set()
    missing_openssl = 0
    for config in configs:
        if config.key_check == "no_openssl":
            missing_openssl += 1
            continue
        if config.key_check not in _KEY_TEXT or not config.key_file:
            continue
        if (config.key_file, config.key_check) in seen:
            continue
        seen.add((config.key_file, config.key_check))
        found = digests.get(config.key_file)
        reason, text = _KEY_TEXT[
            "notfile" if found and found.status == "notfile" else config.key_check
        ]
        where = f"{config.key_config_file}:{config.key_config_line}"
        detail = (
            f"the key named in {where} {text}: its certificate was not compared "
            "with it (KEY_MISMATCH not checked)"
        )
        issues.append(CollectionIssue(host, config.key_file, reason, detail))
    if missing_openssl:
        detail = (
            f"openssl is not installed on the host: {missing_openssl} configured "
            "certificate/key pair(s) were not compared (KEY_MISMATCH not checked)"
        )
        issues.append(CollectionIssue(host, "openssl", IssueReason.UNSUPPORTED, detail))
    return issues


def _apply(b: _Block, d: WebDirective) -> None:
    a = d.args
    first = a[0] if a else ""
    name = d.name
    if b.server == "nginx":
        if name == "listen" and a:
            if "quic" in a[1:]:
                return  # UDP
            hp = _split_hostport(first, 80)
            if hp is not None:
                tls = "ssl" in a[1:]
                b.listens.append(ConfigListen(hp[0], hp[1], tls, d.file, d.line))
        elif name == "server_name":
            b.names += [n for n in (_usable_name(x) for x in a) if n]
        elif name == "ssl_certificate" and first:
            b.certs.append((first, d.file, d.line))
        elif name == "ssl_certificate_key" and first:
            b.keys.append((first, d.file, d.line))
        elif name == "ssl" and first.lower() == "on":
            b.ssl_on = True
    elif b.server == "apache":
        if name == "virtualhost":
            for word in a:
                hp = _split_hostport(word, None)
                if hp is None and word in ("*", "_default_"):
                    hp = (word, 0)
                if hp is not None:
                    b.listens.append(ConfigListen(hp[0], hp[1], False, d.file, d.line))
        elif name == "listen" and a:
            hp = _split_hostport(first, None)
            if hp is not None:
                tls = len(a) > 1 and a[1].lower() == "https"
                b.listens.append(ConfigListen(hp[0], hp[1], tls, d.file, d.line))
        elif name in ("servername", "serveralias"):
            b.names += [n for n in (_usable_name(x) for x in a) if n]
        elif name == "sslengine" and first.lower() == "on":
            b.ssl_on = True
        elif name == "sslcertificatefile" and first:
            b.certs.append((first, d.file, d.line))
        elif name == "sslcertificatekeyfile" and first:
            b.keys.append((first, d.file, d.line))
        elif name == "sslcertificatechainfile" and first:
            b.chain = first
    elif b.server == "haproxy":
        if name == "bind" and a:
            tls = "ssl" in a[1:]
            for part in first.split(","):
                hp = _split_hostport(part, None)
                if hp is not None:
                    b.listens.append(ConfigListen(hp[0], hp[1], tls, d.file, d.line))
            for i, word in enumerate(a[1:-1], start=1):
                if word == "crt" and a[i + 1]:
                    b.certs.append((a[i + 1], d.file, d.line))


def _config(
    host: str, b: _Block, base: _Block | None, digests: Mapping[str, KeyDigest]
) -> TlsConfig | None:
    certs = b.certs or (base.certs if base else [])
    keys = b.keys or (base.keys if base else [])
    ssl_on = b.ssl_on or bool(base and base.ssl_on)
    if b.server == "haproxy":
        return _haproxy(host, b, digests)
    if b.server == "apache":
        ports = [x for x in b.listens if x.port]
        if not ports:
            return None
        listens = tuple(
            ConfigListen(x.address, x.port, ssl_on, x.file, x.line) for x in b.listens if x.port
        )
        chain = b.chain or (base.chain if base else None)
    else:
        listens = tuple(
            ConfigListen(x.address, x.port, x.tls or ssl_on, x.file, x.line) for x in b.listens
        )
        chain = None
        if not listens:
            return None
    if not b.certs and not any(x.tls for x in listens):
        return None  # a plain HTTP block (http-level defaults alone do not make it TLS)
    cert = certs[0] if certs else None
    key = keys[0] if keys else None
    if key is None and cert is not None and b.server == "apache":
        key = cert  # Apache reads the key from the certificate file when none is named
    check, digest = "", ""
    if key is not None and key[0].startswith("/") and "$" not in key[0]:
        found = digests.get(key[0])
        check = _KEY_CHECK.get(found.status, "failed") if found else "failed"
        digest = found.sha256 if found and found.status == "ok" else ""
    return TlsConfig(
        host=host,
        server=b.server,
        file=b.file,
        line=b.line,
        listens=listens,
        server_names=tuple(dict.fromkeys(b.names)),
        cert_file=cert[0] if cert else None,
        cert_config_file=cert[1] if cert else None,
        cert_config_line=cert[2] if cert else None,
        key_file=key[0] if key else None,
        key_config_file=key[1] if key else None,
        key_config_line=key[2] if key else None,
        chain_file=chain,
        key_sha256=digest,
        key_check=check,
    )


def _haproxy(host: str, b: _Block, digests: Mapping[str, KeyDigest]) -> TlsConfig | None:
    """A HAProxy section with TLS binds: the crt file holds the leaf, its chain and (unless
    a FILE.key sits beside it) the key."""
    listens = tuple(b.listens)
    if not any(x.tls for x in listens):
        return None
    cert = b.certs[0] if b.certs else None
    check, digest, key_file = "", "", None
    if cert is not None:
        key_file = cert[0]
        found = digests.get(cert[0])
        side = digests.get(cert[0] + ".key")
        if (found is None or found.status != "ok") and side is not None and side.status == "ok":
            found, key_file = side, cert[0] + ".key"
        if found is None or found.status == "notfile":
            check = ""  # a folder of certificates: pairs not checked here
            key_file = None
        else:
            check = _KEY_CHECK.get(found.status, "failed")
            digest = found.sha256 if found.status == "ok" else ""
    return TlsConfig(
        host=host,
        server="haproxy",
        file=b.file,
        line=b.line,
        listens=listens,
        cert_file=cert[0] if cert else None,
        cert_config_file=cert[1] if cert else None,
        cert_config_line=cert[2] if cert else None,
        key_file=key_file,
        key_config_file=cert[1] if cert and key_file else None,
        key_config_line=cert[2] if cert and key_file else None,
        key_sha256=digest,
        key_check=check,
    )
