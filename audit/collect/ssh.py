"""The only code that speaks SSH: connect with a fail-closed policy, run the fixed
collection command once, read its output under a byte cap and a deadline.

Every outcome is data (model.HostResult), never an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import asyncssh

from audit.collect.hostkeys import KnownHosts
from audit.collect.listeners import (
    ChannelOpener,
    ForwardingProhibited,
    Prober,
    StreamPair,
    plan_listeners,
)
from audit.collect.parse import Collected, parse_output
from audit.collect.script import build_script, new_nonce
from audit.collect.sshconfig import SafeConfig, safe_ssh_config
from audit.model import CollectionIssue, Host, HostOutcome, HostResult, IssueReason

COMMAND = (
    "sh -c 'command -v timeout >/dev/null 2>&1 && exec timeout -s KILL {limit} sh -s; exec sh -s'"
)
"""The one command run on a host; the script arrives on stdin. Nothing from the
inventory or the host is ever part of a command line. The login shell only has to run
`sh -c '...'` (csh and fish can), and the remote side bounds itself with timeout(1) where
the host has it: GNU and busybox timeout kill the script's whole process group, so a
`stat` hung on a dead network mount cannot outlive the host deadline (sshd ignores the
SSH "signal" request for plain sessions, so the runner cannot stop it from outside).
{limit} is whole seconds computed by the runner, never text from the inventory or host."""
BECOME_COMMAND = "sudo -n " + COMMAND

OutputHook = Callable[[str, str, bytes], None]
"""(host name, "stdout"|"stderr", bytes): sees every byte received over SSH."""


@dataclass(frozen=True)
class SshOptions:
    """How to reach hosts. Built by the CLI, passed down; nothing here reads the environment."""

    connect_timeout: float = 10.0
    """Seconds for TCP connect + SSH handshake + authentication."""
    host_timeout: float = 120.0
    """Overall deadline for one host, from connect to the last byte."""
    max_output_bytes: int = 64 * 1024 * 1024
    """Cap on stdout+stderr from one host; past it the output is flagged truncated."""
    max_file_bytes: int = 1_000_000
    """Files larger than this are not read on the host (reported too_large)."""
    ssh_config: Sequence[str] | None = None
    """ssh_config files to read; None means ~/.ssh/config when it is readable. asyncssh
    only ever reads safe copies of them (see sshconfig.py)."""
    default_user: str | None = None
    extra_client_keys: Sequence[str] = ()
    """--identity files, tried in addition to inventory keys and the agent."""
    safe_config: SafeConfig | None = None
    """The safe copies of `ssh_config`, set by `with_safe_config` (never by the CLI).
    audit_host and jump_hops make their own when it is None."""


@contextlib.contextmanager
def with_safe_config(options: SshOptions) -> Iterator[SshOptions]:
    """`options` with safe copies of its ssh_config, valid until the block ends; what was
    refused in them is in `.safe_config.warnings`."""
    if options.safe_config is not None:
        yield options
        return
    with safe_ssh_config(options.ssh_config) as safe:
        yield replace(options, safe_config=safe)


def _safe_config(options: SshOptions) -> SafeConfig:
    assert options.safe_config is not None, "call through with_safe_config"
    return options.safe_config


@dataclass
class _Transcript:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    capped: bool = False
    exit_status: int | None = None
    nonce: str = ""


def _parse(host: Host, transcript: _Transcript) -> Collected:
    return parse_output(
        host.name,
        bytes(transcript.stdout),
        nonce=transcript.nonce,
        truncated=transcript.capped,
        exit_status=transcript.exit_status,
        stderr=bytes(transcript.stderr),
    )


class _Client(asyncssh.SSHClient):
    """Decides host keys that are not already trusted by known_hosts."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known
        self.verdict: str | None = None
        self.offered: str = ""

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.offered = key.get_fingerprint()
        if self.known.known_keys(host, addr, port):
            self.verdict = "mismatch"  # a changed key is never accepted
            return False
        if self.known.accept_new:
            self.known.remember(host, port, key)
            self.verdict = "accepted"
            return True
        self.verdict = "unknown"
        return False


def _connect_kwargs(
    host: Host,
    options: SshOptions,
    known: KnownHosts,
    tunnel: asyncssh.SSHClientConnection | None = None,
) -> dict[str, object]:
    keys: list[str] = []
    if host.key_file:
        keys.append(host.key_file)
    keys.extend(options.extra_client_keys)
    kwargs: dict[str, object] = {
        "known_hosts": known.db,  # explicit: ssh_config cannot disable checking
        "agent_forwarding": False,
        "x11_forwarding": False,
        "proxy_command": None,  # never execute a command to connect
        "pkcs11_provider": None,  # never load a library
        "tunnel": tunnel,  # None also overrides ssh_config's ProxyJump (see jump_hops)
        "connect_timeout": options.connect_timeout,
        "login_timeout": options.connect_timeout,
        "preferred_auth": "publickey",
        "keepalive_interval": 15,
        "keepalive_count_max": 2,
        "request_pty": False,
    }
    if host.port:
        kwargs["port"] = host.port
    user = host.user or options.default_user
    if user:
        kwargs["username"] = user
    if keys:
        kwargs["client_keys"] = keys
    kwargs["config"] = list(_safe_config(options).paths)  # never the operator's own files
    return kwargs


def _unreachable_reason(exc: BaseException) -> str:
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "connection timed out"
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        return f"{exc.strerror or exc}" + (f" ({name})" if name else "")
    if isinstance(exc, asyncssh.ProtocolError):
        return f"not an SSH server, or it misbehaved: {exc.reason}"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"disconnected: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


async def _drain(
    stream: asyncssh.SSHReader[bytes],
    sink: bytearray,
    name: str,
    host: str,
    budget: list[int],
    hook: OutputHook | None,
) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        if budget[0] <= 0:
            raise _Capped()
        chunk = chunk[: budget[0]]
        budget[0] -= len(chunk)
        sink.extend(chunk)
        if hook:
            hook(host, name, chunk)
        if budget[0] <= 0:
            raise _Capped()


class _Capped(Exception):
    pass


async def _run_script(
    conn: asyncssh.SSHClientConnection,
    command: str,
    script: bytes,
    host: str,
    options: SshOptions,
    transcript: _Transcript,
    hook: OutputHook | None,
) -> None:
    process = await conn.create_process(command, encoding=None)
    try:
        process.stdin.write(script)
        process.stdin.write_eof()
        budget = [options.max_output_bytes]
        try:
            await asyncio.gather(
                _drain(process.stdout, transcript.stdout, "stdout", host, budget, hook),
                _drain(process.stderr, transcript.stderr, "stderr", host, budget, hook),
            )
        except _Capped:
            transcript.capped = True
            return
        await process.wait_closed()
        transcript.exit_status = process.exit_status
    finally:
        if transcript.exit_status is None:
            # Deadline or cap. Many sshd builds ignore the "signal" request for plain
            # sessions; the remote timeout(1) (see COMMAND) is what really bounds the script.
            with contextlib.suppress(Exception):
                process.send_signal("KILL")
            process.close()


def channel_opener(conn: asyncssh.SSHClientConnection) -> ChannelOpener:
    """direct-tcpip channels through `conn`, as binary (reader, writer) streams. A server
    that refuses forwarding raises ForwardingProhibited; a refused port ConnectionRefusedError."""

    async def open_channel(address: str, port: int) -> StreamPair:
        try:
            reader, writer = await conn.open_connection(address, port)
        except asyncssh.ChannelOpenError as exc:
            if exc.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED:
                raise ForwardingProhibited(exc.reason or "administratively prohibited") from None
            if exc.code == asyncssh.OPEN_CONNECT_FAILED:
                raise ConnectionRefusedError(exc.reason or "connection refused") from None
            raise
        return reader, writer  # type: ignore[return-value]  # the stream API the probe uses

    return open_channel


def _needs_privilege_fallback(transcript: _Transcript, collected: Collected) -> bool:
    text = bytes(transcript.stderr[-4096:]).lower()
    return not collected.complete and not collected.certificates and b"sudo" in text


def jump_hops(host: Host, options: SshOptions) -> list[Host]:
    """The ProxyJump chain ssh_config gives for this host, first hop first.

    asyncssh would open these itself with default options (known_hosts, forwarding and
    ProxyCommand from ssh_config), so we resolve the chain and open every hop ourselves
    with the same fail-closed policy as the target.
    """
    if options.safe_config is None:
        with with_safe_config(options) as safe:
            return jump_hops(host, safe)
    paths = list(options.safe_config.paths)
    try:  # only reads the (safe copies of the) config; connects nothing
        resolved = asyncssh.SSHClientConnectionOptions(
            known_hosts=None,
            host=host.address,
            config=paths,  # type: ignore[arg-type]
        )
    except Exception:
        return []
    chain = resolved.tunnel
    if not isinstance(chain, str) or chain.strip().lower() in ("", "none"):
        return []
    hops = []
    for hop in chain.split(","):
        user, _, where = hop.strip().rpartition("@")
        address, port = where, None
        if where.count(":") == 1:
            address, _, port_text = where.partition(":")
            port = int(port_text) if port_text.isdigit() else None
        hops.append(Host(name=f"jump host {where}", address=address, port=port, user=user or None))
    return hops


async def _connect(
    host: Host, options: SshOptions, known: KnownHosts, client: _Client
) -> tuple[asyncssh.SSHClientConnection, list[asyncssh.SSHClientConnection]] | HostResult:
    """Open the connection (through any jump hosts); a failure is a HostResult."""
    jumps: list[asyncssh.SSHClientConnection] = []
    result: asyncssh.SSHClientConnection | HostResult | None = None
    try:
        result = await _connect_hops(host, options, known, client, jumps)
    finally:  # a failure or the host deadline: close the hops opened so far
        if result is None or isinstance(result, HostResult):
            for jump in jumps:
                jump.close()
    if isinstance(result, HostResult):
        return result
    return result, jumps


async def _connect_hops(
    host: Host,
    options: SshOptions,
    known: KnownHosts,
    client: _Client,
    jumps: list[asyncssh.SSHClientConnection],
) -> asyncssh.SSHClientConnection | HostResult:
    if _safe_config(options).error:
        return HostResult(host, HostOutcome.UNREACHABLE, _safe_config(options).error)
    tunnel: asyncssh.SSHClientConnection | None = None
    for hop in [*jump_hops(host, options), host]:
        hop_client = client if hop is host else _Client(known)
        where = "" if hop is host else f"{hop.name}: "
        try:
            conn = await asyncssh.connect(
                hop.address,
                client_factory=lambda c=hop_client: c,  # type: ignore[misc]
                **_connect_kwargs(hop, options, known, tunnel),
            )
        except asyncssh.HostKeyNotVerifiable:
            if hop_client.verdict == "mismatch":
                return HostResult(
                    host,
                    HostOutcome.KEY_MISMATCH,
                    f"{where}host key {hop_client.offered} differs from known_hosts "
                    f"({known.path}): possible interception",
                )
            detail = f"{where}host key {hop_client.offered} is not in {known.path}"
            return HostResult(host, HostOutcome.KEY_UNKNOWN, detail)
        except asyncssh.PermissionDenied as exc:
            return HostResult(
                host, HostOutcome.AUTH_FAILED, f"{where}authentication failed: {exc.reason}"
            )
        except (TimeoutError, OSError, asyncssh.Error) as exc:
            return HostResult(host, HostOutcome.UNREACHABLE, where + _unreachable_reason(exc))
        if hop is not host:
            jumps.append(conn)
        tunnel = conn
    assert tunnel is not None
    return tunnel


async def audit_host(
    host: Host,
    options: SshOptions,
    known: KnownHosts,
    hook: OutputHook | None = None,
    now: Callable[[], datetime] | None = None,
    prober: Prober | None = None,
) -> HostResult:
    """Connect, collect, parse, then (with a `prober`) probe every listener the collection
    found through the same connection, all inside the host's deadline. Always returns a
    HostResult with a stated outcome."""
    if options.safe_config is None:
        with with_safe_config(options) as safe:
            return await audit_host(host, safe, known, hook, now, prober)
    clock = now or (lambda: datetime.now(UTC))
    started = clock()
    t0 = time.monotonic()
    timings: list[tuple[str, str]] = []
    client = _Client(known)
    connected = False
    transcript = _Transcript()
    issues: list[CollectionIssue] = []
    result: HostResult | None = None
    stack: list[asyncssh.SSHClientConnection] = []  # jump connections, closed last
    try:
        async with asyncio.timeout(options.host_timeout):
            opened = await _connect(host, options, known, client)
            if isinstance(opened, HostResult):
                return replace(opened, started_at=started, finished_at=clock())
            conn, jumps = opened
            stack.extend(reversed(jumps))
            t1 = time.monotonic()
            timings.append(("ssh_connect_ms", f"{(t1 - t0) * 1000:.0f}"))
            async with conn:
                connected = True

                async def collect(template: str) -> Collected:
                    transcript.nonce = new_nonce()
                    script = build_script(
                        nonce=transcript.nonce,
                        extra_paths=host.cert_paths,
                        max_file_bytes=options.max_file_bytes,
                    )
                    command = template.format(limit=_remaining(options, t0))
                    await _run_script(conn, command, script, host.name, options, transcript, hook)
                    return _parse(host, transcript)

                collected = await collect(BECOME_COMMAND if host.become else COMMAND)
                if host.become and _needs_privilege_fallback(transcript, collected):
                    issues.append(
                        CollectionIssue(
                            host.name,
                            "sudo -n",
                            IssueReason.PRIVILEGE_UNAVAILABLE,
                            _last_line(transcript.stderr),
                        )
                    )
                    transcript = _Transcript()
                    collected = await collect(COMMAND)
                result = _result(host, collected, issues, transcript, started, clock())
                t2 = time.monotonic()
                timings.append(("collect_ms", f"{(t2 - t1) * 1000:.0f}"))
                result = replace(result, facts=result.facts + tuple(timings))
                if prober is not None and result.outcome.audited:
                    plans = plan_listeners(
                        host, collected.sockets, collected.tls_configs, collected.certificates
                    )
                    budget = options.host_timeout - (t2 - t0) - 1.0
                    report = await prober(host, plans, channel_opener(conn), budget)
                    all_issues = result.issues + report.issues
                    outcome = HostOutcome.PARTIAL if all_issues else result.outcome
                    result = replace(
                        result,
                        outcome=outcome,
                        listeners=report.listeners,
                        issues=all_issues,
                        facts=result.facts + report.facts,
                        finished_at=clock(),
                    )
    except TimeoutError:
        # The overall deadline hit mid-collection: keep what arrived, flag it.
        issues.append(
            CollectionIssue(
                host.name,
                "(collection)",
                IssueReason.TIMEOUT,
                f"host deadline of {options.host_timeout:g}s reached",
            )
        )
        if result is not None:
            return replace(
                result, issues=result.issues + tuple(issues[-1:]), outcome=HostOutcome.PARTIAL
            )
        if not transcript.stdout:
            return HostResult(
                host,
                HostOutcome.FAILED if connected else HostOutcome.UNREACHABLE,
                (
                    f"logged in, but the collection gave no output within the host deadline "
                    f"of {options.host_timeout:g}s"
                    if connected
                    else f"no answer within the host deadline of {options.host_timeout:g}s"
                ),
                started,
                clock(),
                issues=tuple(issues),
            )
        # Cut off by the deadline (exit_status stays None): the parser reports TRUNCATED.
        return _result(host, _parse(host, transcript), issues, transcript, started, clock())
    finally:
        for jump in stack:
            jump.close()
    assert result is not None
    return result


def _remaining(options: SshOptions, t0: float) -> int:
    """Whole seconds left of the host deadline (monotonic, as asyncio.timeout counts),
    less a margin for the output to arrive."""
    left = options.host_timeout - (time.monotonic() - t0) - 1.0
    return max(1, int(left))


def _last_line(data: bytearray) -> str:
    lines = bytes(data).decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def _result(
    host: Host,
    collected: Collected,
    issues: list[CollectionIssue],
    transcript: _Transcript,
    started: datetime,
    finished: datetime,
) -> HostResult:
    all_issues = tuple(issues) + collected.issues
    nothing = not collected.complete and not collected.certificates and not collected.key_files
    if nothing:
        outcome = HostOutcome.FAILED
        detail = "the collection script produced no usable output" + (
            f": {_last_line(transcript.stderr)}" if transcript.stderr.strip() else ""
        )
    else:
        outcome = HostOutcome.PARTIAL if (all_issues or not collected.complete) else HostOutcome.OK
        detail = ""
    return HostResult(
        host=host,
        outcome=outcome,
        detail=detail,
        started_at=started,
        finished_at=finished,
        certificates=collected.certificates,
        unparseable=collected.unparseable,
        key_files=collected.key_files,
        issues=all_issues,
        ca_bundles=collected.ca_bundles,
        tls_configs=collected.tls_configs,
        bytes_received=len(transcript.stdout) + len(transcript.stderr),
        facts=collected.facts,
    )
