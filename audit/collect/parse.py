"""What the remote script printed -> certificates, key-file metadata and collection issues.

Contract: `parse_output` is pure and never raises. Only lines between `BEGIN-<nonce>` and
`END-<nonce> <count>` are read, so shell noise (a chatty .bashrc, an MOTD) is ignored and
cannot forge records; a frame without its END line, with the wrong record count, or cut by
the runner's byte cap is reported as incomplete (IssueReason.TRUNCATED), keeping only the
complete records that came before. The record format is described at the top of remote.sh.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from audit.collect import fields, mechanism, renewal
from audit.collect.certs import CertRecord, Files, certificates
from audit.collect.discovery import (
    US,
    KeyDigest,
    Socket,
    WebDirective,
    build_tls_configs,
    sockets_from,
)
from audit.collect.fields import display
from audit.model import (
    CertbotLineage,
    CertRenewal,
    CollectionIssue,
    FoundCert,
    IssueReason,
    KeyFile,
    RenewalSchedule,
    TlsConfig,
    Unparseable,
)


@dataclass(frozen=True)
class Collected:
    """Everything one run of the collection script produced on one host."""

    certificates: tuple[FoundCert, ...] = ()
    """Each certificate at each place it was found (symlinks add places)."""
    unparseable: tuple[Unparseable, ...] = ()
    """Blocks that looked like certificates but were not sent or did not parse."""
    key_files: tuple[KeyFile, ...] = ()
    """Private-key files, by metadata only."""
    issues: tuple[CollectionIssue, ...] = ()
    """What could not be read, and why (fixed reason codes)."""
    ca_bundles: tuple[str, ...] = ()
    """System CA bundle files present on the host."""
    facts: tuple[tuple[str, str], ...] = ()
    """Small key/value facts: os, os_id, uid, user, shell, find, encoding, limits."""
    sockets: tuple[Socket, ...] = ()
    """Listening TCP sockets (ss, or /proc/net/tcp*), loopback-only ones included."""
    tls_configs: tuple[TlsConfig, ...] = ()
    """TLS server blocks of nginx, Apache and HAProxy configuration."""
    config_files: tuple[str, ...] = ()
    """Web-server configuration files that were read."""
    renewal_schedules: tuple[RenewalSchedule, ...] = ()
    """certbot's timers and the cron entries of renewal clients."""
    certbot_lineages: tuple[CertbotLineage, ...] = ()
    cert_renewals: tuple[CertRenewal, ...] = ()
    """What renews each deployed certificate of the host."""
    complete: bool = False
    """True only when the whole frame arrived, its record count matched and the output
    was not capped."""


_FIELDS = {
    "FACT": 3,
    "UNSUP": 2,
    "BUNDLE": 2,
    "ROOT": 4,
    "LINK": 4,
    "PEM": 5,
    "KPEM": 5,
    "BAD": 4,
    "DER": 6,
    "BADDER": 2,
    "KEY": 6,
    "BIG": 2,
    "TOOMANY": 3,
    "DENIED": 2,
    "RERR": 2,
    "ERR": 3,
    "SS": 2,
    "TCP": 3,
    "SOCK": 4,
    "WEBFILE": 3,
    "WEB": 7,
    "KEYPUB": 4,
    **renewal.FIELDS,
}
_SERVERS = {b"nginx", b"apache", b"haproxy"}
_KEYPUB_STATUS = {"ok", "noopenssl", "unreadable", "missing", "notfile", "failed"}
_LABELS = {
    b"CERTIFICATE",
    b"TRUSTED_CERTIFICATE",
    b"X509_CERTIFICATE",
    b"PKCS7",
    b"CERTIFICATE_CHAIN",
}
_KEY_KINDS = {"pem-key", "der-key", "pkcs12", "keystore", "combined", "key"}
_BAD_REASONS = {
    b"unterminated": "BEGIN CERTIFICATE without a matching END line; the block was not collected",
    b"badchars": "certificate block holds text that is not base64; the block was not collected",
    b"notcert": "block labelled as a certificate does not hold one; the block was not collected",
    b"length": "certificate block length does not match its DER length; not collected",
}
_ERR_CAP = 65536
_MAX_ERR_ISSUES = 50
_NONCE = re.compile(r"[A-Za-z0-9]{1,64}")
_B64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_PRIVILEGE = re.compile(
    rb"sudo: (?:a password is required|a terminal is required|.*not in the sudoers"
    rb"|.*may not run sudo|.*is not allowed to execute|no tty present)"
)
_Malformed = fields.Malformed
_unhex, _path, _fields = fields.unhex, fields.path, fields.parts
_short, _number = fields.short, fields.number


@dataclass
class _State:
    host: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    files: Files = field(default_factory=lambda: Files(""))
    renewal: renewal.Records = field(default_factory=renewal.Records)
    seen: set[tuple[str, bytes, int]] = field(default_factory=set)
    keys: dict[bytes, KeyFile] = field(default_factory=dict)
    issues: list[CollectionIssue] = field(default_factory=list)
    issue_keys: set[tuple[str, str, str]] = field(default_factory=set)
    malformed: Counter[str] = field(default_factory=Counter)
    """Records that did not follow the format, by tag ("other" for an unknown tag)."""
    ss_lines: list[str] = field(default_factory=list)
    proc_lines: list[str] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=dict)
    web: list[WebDirective] = field(default_factory=list)
    web_files: list[str] = field(default_factory=list)
    digests: dict[str, KeyDigest] = field(default_factory=dict)

    def issue(self, path: str, reason: IssueReason, detail: str = "") -> None:
        key = (path, reason.value, detail)
        if key not in self.issue_keys:
            self.issue_keys.add(key)
            self.issues.append(CollectionIssue(self.host, path, reason, detail))

    def fact(self, name: str) -> str | None:
        for key, value in self.facts:
            if key == name:
                return value
        return None


def parse_output(
    host: str,
    stdout: bytes,
    *,
    nonce: str,
    truncated: bool = False,
    exit_status: int | None = 0,
    stderr: bytes = b"",
) -> Collected:
    """Turn the bytes the script printed on `host` into a Collected. Never raises.

    `truncated` is the runner saying it stopped reading at its byte cap; `exit_status` is
    None when the command was cut off (deadline, dropped connection).
    """
    try:
        return _parse(host, stdout, nonce, truncated, exit_status, stderr)
    except Exception as exc:  # the contract: bad bytes are data, never a crash
        detail = f"output could not be parsed: {type(exc).__name__}"
        issue = CollectionIssue(str(host), "", IssueReason.TRUNCATED, detail)
        return Collected(issues=(issue,), complete=False)


def _frame(stdout: bytes, nonce: str) -> tuple[list[bytes], str]:
    """The record lines, and "" when the frame is whole or else what is wrong with it."""
    if not _NONCE.fullmatch(nonce):
        return [], "no output frame (invalid nonce)"
    token = nonce.encode("ascii")
    begin = b"BEGIN-" + token + b"\n"
    start = stdout.find(begin)
    if start < 0:
        return [], "no output frame: the collection script did not start or printed nothing"
    start += len(begin)
    end_marker = b"END-" + token + b" "
    end = stdout.find(end_marker, start)
    if end >= 0 and (end == start or stdout[end - 1 : end] == b"\n"):
        count_end = stdout.find(b"\n", end)
        count = stdout[end + len(end_marker) : count_end] if count_end >= 0 else b""
        body = stdout[start:end]
        lines = body.split(b"\n")[:-1] if body else []
        if count_end < 0 or len(count) > 12 or not fields.DIGITS.fullmatch(count):
            return lines, "the END line of the output frame is cut"
        if int(count) != len(lines):
            return lines, f"the output frame announces {int(count)} records, {len(lines)} arrived"
        return lines, ""
    body = stdout[start:]
    return body.split(b"\n")[:-1], "the output ends before the END line of its frame"


def _parse(
    host: str,
    stdout: bytes,
    nonce: str,
    truncated: bool,
    exit_status: int | None,
    stderr: bytes,
) -> Collected:
    host = str(host)
    stdout = bytes(stdout)
    stderr = bytes(stderr or b"")
    state = _State(host, files=Files(host))
    lines, problem = _frame(stdout, str(nonce))
    for line in lines:
        try:
            _record(state, line)
        except Exception:  # one odd line never costs the others
            tag = line.split(b" ", 1)[0].decode("ascii", "replace")
            state.malformed[tag if tag in _FIELDS else "other"] += 1
    if state.malformed:
        total = sum(state.malformed.values())
        kinds = ", ".join(f"{tag} {n}" for tag, n in sorted(state.malformed.items()))
        detail = f"{total} output lines were not understood and were left out ({kinds})"
        state.issue("", IssueReason.READ_ERROR, detail)
    complete = not problem and not truncated
    if truncated:
        state.issue("", IssueReason.OUTPUT_CAP, "output exceeded the byte cap and was cut")
    if problem:
        detail = problem
        if exit_status is None:
            detail += "; the command was cut off before it exited"
        elif exit_status != 0:
            detail += f"; exit status {exit_status}"
        if stderr.strip():
            detail += f"; stderr: {_short(stderr)}"
        state.issue("", IssueReason.TRUNCATED, detail)
        if _PRIVILEGE.search(stderr):
            state.issue("", IssueReason.PRIVILEGE_UNAVAILABLE, _short(stderr))
    elif exit_status:
        state.issue(
            "", IssueReason.READ_ERROR, f"collection script exited with status {exit_status}"
        )
    state.files.archives = renewal.archives(state.renewal)
    certs, unparseable = certificates(state.files)
    configs, config_issues = build_tls_configs(host, state.web, state.digests)
    for issue in config_issues:
        state.issue(issue.path, issue.reason, issue.detail)
    dropped: list[str] = []
    sockets = sockets_from(state.ss_lines, state.proc_lines, state.owners, dropped)
    if dropped:
        detail = f"{len(dropped)} listening-socket lines could not be read and were left out"
        state.issue("", IssueReason.READ_ERROR, detail)
    found = mechanism.evidence(host, state.renewal, certs, state.facts)
    return Collected(
        certificates=tuple(certs),
        unparseable=tuple(unparseable),
        key_files=tuple(state.keys.values()),
        issues=tuple(state.issues),
        ca_bundles=tuple(dict.fromkeys(display(b) for b in state.files.bundles)),
        facts=tuple(state.facts),
        sockets=sockets,
        tls_configs=tuple(configs),
        config_files=tuple(dict.fromkeys(state.web_files)),
        renewal_schedules=found.schedules,
        certbot_lineages=found.lineages,
        cert_renewals=found.renewals,
        complete=complete,
    )


def _record(state: _State, line: bytes) -> None:
    parts = line.split(b" ")
    tag = parts[0].decode("ascii", "replace")
    want = _FIELDS.get(tag)
    if want is None or len(parts) != want + 1 or parts[-1] != b".":
        raise _Malformed(tag)
    _HANDLERS[tag](state, parts[1:-1])


def _fact(state: _State, f: list[bytes]) -> None:
    state.facts.append((display(_unhex(f[0])), display(_unhex(f[1]))))


def _unsup(state: _State, f: list[bytes]) -> None:
    what = display(_unhex(f[0]))
    state.issue("", IssueReason.UNSUPPORTED, f"{what} is not available on the host")


def _link(state: _State, f: list[bytes]) -> None:
    link, target = _path(f[0]), _path(f[1])
    if f[2] == b"d":
        state.files.dir_links.append((link, target))
    elif f[2] == b"f":
        state.files.file_links.setdefault(target, []).append(link)
    else:
        raise _Malformed("link type")


def _pem(state: _State, f: list[bytes], tag: str) -> None:
    if f[2] not in _LABELS or not _B64.fullmatch(f[3]):
        raise _Malformed("certificate block")
    _add(state, CertRecord(tag, _path(f[0]), _number(f[1]), payload=f[3], label=f[2]))


def _bad(state: _State, f: list[bytes]) -> None:
    if f[2] not in _BAD_REASONS:
        raise _Malformed("bad block")
    _add(state, CertRecord("BAD", _path(f[0]), _number(f[1]), bad=_BAD_REASONS[f[2]]))


def _der(state: _State, f: list[bytes]) -> None:
    if f[1] not in (b"cert", b"p7") or f[2] not in (b"b64", b"hex") or f[4] not in (b"0", b"1"):
        raise _Malformed("der")
    data = base64.b64decode(f[3], validate=True) if f[2] == b"b64" else _unhex(f[3])
    _add(state, CertRecord("DER", _path(f[0]), 0, payload=data, trailing=f[4] == b"1"))


def _badder(state: _State, f: list[bytes]) -> None:
    bad = "DER certificate changed while it was read or failed its re-check; not collected"
    _add(state, CertRecord("BADDER", _path(f[0]), 0, bad=bad))


def _big(state: _State, f: list[bytes]) -> None:
    cap = state.fact("max_file_bytes") or "the cap"
    state.issue(display(_path(f[0])), IssueReason.TOO_LARGE, f"larger than {cap} bytes; not read")


def _toomany(state: _State, f: list[bytes]) -> None:
    detail = f"more than {_number(f[1])} entries; the rest of this folder was not read"
    state.issue(display(_path(f[0])), IssueReason.TOO_MANY_FILES, detail)


def _sock(state: _State, f: list[bytes]) -> None:
    _number(f[0])
    pid = _number(f[1])
    state.owners.setdefault(f[0].decode("ascii"), display(_unhex(f[2])) or f"pid {pid}")


def _tcp(state: _State, f: list[bytes]) -> None:
    if f[0] not in (b"4", b"6"):
        raise _Malformed("tcp family")
    state.proc_lines.append(display(_unhex(f[1])))


def _webfile(state: _State, f: list[bytes]) -> None:
    if f[0] not in _SERVERS:
        raise _Malformed("server")
    state.web_files.append(display(_path(f[1])))


def _web(state: _State, f: list[bytes]) -> None:
    if f[0] not in _SERVERS:
        raise _Malformed("web")
    state.web.append(
        WebDirective(
            server=f[0].decode("ascii"),
            file=display(_path(f[1])),
            line=_number(f[2]),
            block=_fields(f[3]),
            name=display(_unhex(f[4])),
            args=tuple(_fields(f[5]).split(US)) if f[5] != b"-" else (),
        )
    )


def _keypub(state: _State, f: list[bytes]) -> None:
    status = f[1].decode("ascii", "replace")
    digest = f[2].decode("ascii", "replace")
    if status not in _KEYPUB_STATUS or not re.fullmatch(r"-|[0-9a-f]{64}", digest):
        raise _Malformed("keypub")
    path = display(_path(f[0]))
    state.digests[path] = KeyDigest(path, status, "" if digest == "-" else digest)


def _renewal_record(
    handle: Callable[[renewal.Records, list[bytes]], None], state: _State, f: list[bytes]
) -> None:
    handle(state.renewal, f)


def _issue_of(reason: IssueReason, detail: str) -> Callable[[_State, list[bytes]], None]:
    def handler(state: _State, f: list[bytes]) -> None:
        state.issue(display(_path(f[0])), reason, detail)

    return handler


_HANDLERS: dict[str, Callable[[_State, list[bytes]], None]] = {
    "FACT": _fact,
    "UNSUP": _unsup,
    "BUNDLE": lambda state, f: state.files.bundles.append(_path(f[0])),
    "ROOT": lambda state, f: _root(state, _path(f[0]), f[1], f[2]),
    "LINK": _link,
    "PEM": lambda state, f: _pem(state, f, "PEM"),
    "KPEM": lambda state, f: _pem(state, f, "KPEM"),
    "BAD": _bad,
    "DER": _der,
    "BADDER": _badder,
    "KEY": lambda state, f: _key(
        state, _path(f[0]), f[1].decode("ascii", "replace"), f[2], f[3], f[4]
    ),
    "BIG": _big,
    "TOOMANY": _toomany,
    "DENIED": _issue_of(IssueReason.PERMISSION_DENIED, "file is not readable"),
    "RERR": _issue_of(IssueReason.READ_ERROR, "file could not be read"),
    "ERR": lambda state, f: _errors(state, _path(f[0]), _unhex(f[1])),
    "SS": lambda state, f: state.ss_lines.append(display(_unhex(f[0]))),
    "TCP": _tcp,
    "SOCK": _sock,
    "WEBFILE": _webfile,
    "WEB": _web,
    "KEYPUB": _keypub,
    **{tag: partial(_renewal_record, handle) for tag, handle in renewal.HANDLERS.items()},
}
"""One handler per record tag (the fields of _FIELDS, without the tag and the final dot);
each raises on a record that does not follow the format."""


def _root(state: _State, path: bytes, tag: bytes, how: bytes) -> None:
    shown = display(path)
    if how == b"missing" and tag == b"x":
        state.issue(shown, IssueReason.READ_ERROR, "path does not exist")
    elif how == b"broken":
        state.issue(shown, IssueReason.READ_ERROR, "symbolic link to nothing")
    elif how == b"skipped":
        state.issue(shown, IssueReason.UNSUPPORTED, "pseudo-filesystem path; not scanned")
    elif how == b"relative":
        state.issue(shown, IssueReason.UNSUPPORTED, "not an absolute path; not scanned")
    elif how == b"notfile":
        detail = (
            "a configuration (a web server's, a kubeconfig) names it as a certificate file, but "
            "it is not a regular file (a folder, a special or pseudo-filesystem file); not read"
        )
        state.issue(shown, IssueReason.UNSUPPORTED, detail)
    elif how not in (b"scan", b"missing"):
        raise _Malformed("root state")


def _add(state: _State, rec: CertRecord) -> None:
    key = (rec.tag, rec.path, rec.number)
    if key in state.seen:
        return  # the same file under two overlapping roots
    state.seen.add(key)
    state.files.records.setdefault(rec.path, []).append(rec)


def _key(state: _State, path: bytes, kind: str, owner: bytes, group: bytes, mode: bytes) -> None:
    if kind not in _KEY_KINDS:
        raise _Malformed("key kind")
    if path in state.keys:
        return
    shown = display(path)
    if mode == b"-" or not re.fullmatch(rb"[0-7]{1,5}", mode):
        state.issue(shown, IssueReason.READ_ERROR, "owner and mode of a key file unavailable")
        mode_bits, owner_s, group_s = 0, "?", "?"
    else:
        mode_bits = int(mode, 8)
        owner_s, group_s = display(_unhex(owner)) or "?", display(_unhex(group)) or "?"
    state.keys[path] = KeyFile(state.host, shown, owner_s, group_s, mode_bits, kind)


def _errors(state: _State, root: bytes, message: bytes) -> None:
    lines = [line for line in message.split(b"\n") if line.strip()]
    for line in lines[:_MAX_ERR_ISSUES]:
        if line.endswith(b"Permission denied"):
            where = line[: -len(b"Permission denied")].rstrip(b": ")
            where = re.sub(rb"^[\w./-]*?(?:find|readlink|awk|od|head|ls|sh): ", b"", where)
            where = where.strip(b"'`\"").replace("‘".encode(), b"").replace("’".encode(), b"")
            state.issue(display(where) or display(root), IssueReason.PERMISSION_DENIED, "")
        else:
            state.issue(display(root), IssueReason.READ_ERROR, _short(line))
    if len(lines) > _MAX_ERR_ISSUES:
        more = len(lines) - _MAX_ERR_ISSUES
        state.issue(display(root), IssueReason.READ_ERROR, f"{more} more errors not listed")
    if len(message) >= _ERR_CAP:
        detail = "error output of the walk reached its cap; the walk may have stopped early"
        state.issue(display(root), IssueReason.READ_ERROR, detail)
