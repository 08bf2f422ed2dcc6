"""The only code that speaks SSH: connect with a fail-closed policy, run the fixed
collection command once, read its output under a byte cap and a deadline.

Every outcome is data (model.HostResult), never an exception.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
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


TRANSPORT_ERRORS = (asyncssh.Error, OSError)
"""What an SSH session can end in once logged in: ConnectionLost and DisconnectError (the
peer or the network went away), ChannelOpenError (no session), BrokenPipeError (a channel
already closed) and socket errors. Each becomes a stated outcome, never an exception."""


@dataclass
class _Transcript:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    capped: bool = False
    exit_status: int | None = None
    nonce: str = ""
    unsent: bool = False
    """The session had already ended when the script was written to its stdin."""
    cut: str = ""
    """Why the session ended before the command exited (a transport error), or ""."""


_PARSER = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="parse")
"""Parsing a host's answer is CPU work (thousands of certificates for a large host): it
runs on this one thread, off the event loop, so other hosts' deadlines and probes keep
running meanwhile. One thread: parses never race each other."""


async def parse_off_loop(host: Host, transcript: _Transcript) -> Collected:
    """`_parse` on the parser thread; the event loop stays free while it runs."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_PARSER, _parse, host, transcript)


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
        self.closed = False
        self.lost: Exception | None = None
        """Why the connection ended; None also when the host closed it cleanly."""

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc

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


def _cut_reason(exc: BaseException) -> str:
    """What a transport error during a logged-in session means, in words."""
    if isinstance(exc, asyncssh.ChannelOpenError):
        return f"the host refused to open a session: {exc.reason}"
    if isinstance(exc, asyncssh.ConnectionLost):
        return f"the connection was lost: {exc.reason}"
    if isinstance(exc, asyncssh.DisconnectError):
        return f"the host disconnected: {exc.reason}"
    if isinstance(exc, BrokenPipeError):
        return "the session channel closed"
    if isinstance(exc, OSError):
        name = errno.errorcode.get(exc.errno or 0, "")
        return f"the connection failed: {exc.strerror or exc}" + (f" ({name})" if name else "")
    return f"SSH error: {type(exc).__name__}: {exc}"


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
    """Run `command` with `script` on its stdin, filling `transcript`. A transport error
    ends it early with `transcript.cut` saying why; what arrived before stays."""
    try:
        process = await conn.create_process(command, encoding=None)
    except TRANSPORT_ERRORS as exc:
        transcript.cut = _cut_reason(exc)
        return
    try:
        await _exchange(process, script, host, options, transcript, hook)
    except TRANSPORT_ERRORS as exc:
        transcript.cut = _cut_reason(exc)
    finally:
        if transcript.exit_status is None:
            # Deadline, cap or cut. Many sshd builds ignore the "signal" request for plain
            # sessions; the remote timeout(1) (see COMMAND) is what really bounds the script.
            with contextlib.suppress(Exception):
                process.send_signal("KILL")
            process.close()


async def _exchange(
    process: asyncssh.SSHClientProcess[bytes],
    script: bytes,
    host: str,
    options: SshOptions,
    transcript: _Transcript,
    hook: OutputHook | None,
) -> None:
    try:
        process.stdin.write(script)
        process.stdin.write_eof()
    except BrokenPipeError:  # the session already ended (a login shell of /bin/false)
        transcript.unsent = True
    budget = [options.max_output_bytes]
    readers = [
        asyncio.ensure_future(
            _drain(process.stdout, transcript.stdout, "stdout", host, budget, hook)
        ),
        asyncio.ensure_future(
            _drain(process.stderr, transcript.stderr, "stderr", host, budget, hook)
        ),
    ]
    try:
        await asyncio.gather(*readers)
    except _Capped:
        transcript.capped = True
        return
    finally:  # one reader failed or the deadline hit: stop the other one too
        for reader in readers:
            reader.cancel()
        await asyncio.wait(readers)
        for reader in readers:
            if not reader.cancelled():
                reader.exception()  # already raised above, or None
    await process.wait_closed()
    transcript.exit_status = process.exit_status


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
    HostResult with a stated outcome; what arrived before a deadline or a dropped
    connection is kept."""
    if options.safe_config is None:
        with with_safe_config(options) as safe:
            return await audit_host(host, safe, known, hook, now, prober)
    run = _HostRun(host, options, known, hook, now or (lambda: datetime.now(UTC)))
    try:
        async with asyncio.timeout(options.host_timeout):
            return await run.run(prober)
    except TimeoutError:  # before TRANSPORT_ERRORS: TimeoutError is an OSError
        return run.deadline_result()
    except TRANSPORT_ERRORS as exc:
        return run.cut_result(exc)
    finally:
        for jump in run.jumps:
            jump.close()


class _HostRun:
    """One host's audit in progress, holding what has arrived so that every way it can
    end (done, deadline, connection cut) keeps it."""

    def __init__(
        self,
        host: Host,
        options: SshOptions,
        known: KnownHosts,
        hook: OutputHook | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.host = host
        self.options = options
        self.known = known
        self.hook = hook
        self.clock = clock
        self.started = clock()
        self.t0 = time.monotonic()
        self.client = _Client(known)
        self.connected = False
        self.transcript = _Transcript()
        self.issues: list[CollectionIssue] = []
        self.timings: list[tuple[str, str]] = []
        self.result: HostResult | None = None
        self.jumps: list[asyncssh.SSHClientConnection] = []
        """Jump connections, closed last (innermost first)."""

    async def run(self, prober: Prober | None) -> HostResult:
        opened = await _connect(self.host, self.options, self.known, self.client)
        if isinstance(opened, HostResult):
            return replace(opened, started_at=self.started, finished_at=self.clock())
        conn, jumps = opened
        self.jumps.extend(reversed(jumps))
        t1 = time.monotonic()
        self.timings.append(("ssh_connect_ms", f"{(t1 - self.t0) * 1000:.0f}"))
        async with conn:
            self.connected = True
            collected = await self._collect(conn)
            result = _result(
                self.host, collected, self.issues, self.transcript, self.started, self.clock()
            )
            t2 = time.monotonic()
            self.timings.append(("collect_ms", f"{(t2 - t1) * 1000:.0f}"))
            self.result = replace(result, facts=result.facts + tuple(self.timings))
            if prober is not None and self.result.outcome.audited and not self.transcript.cut:
                await self._probe(conn, collected, prober, t2)
        assert self.result is not None
        return self.result

    async def _collect(self, conn: asyncssh.SSHClientConnection) -> Collected:
        collected = await self._collect_once(conn, BECOME_COMMAND if self.host.become else COMMAND)
        if (
            self.host.become
            and not self.transcript.cut
            and _needs_privilege_fallback(self.transcript, collected)
        ):
            self.issues.append(
                CollectionIssue(
                    self.host.name,
                    "sudo -n",
                    IssueReason.PRIVILEGE_UNAVAILABLE,
                    _last_line(self.transcript.stderr),
                )
            )
            self.transcript = _Transcript()
            collected = await self._collect_once(conn, COMMAND)
        return collected

    async def _collect_once(self, conn: asyncssh.SSHClientConnection, template: str) -> Collected:
        transcript = self.transcript
        transcript.nonce = new_nonce()
        script = build_script(
            nonce=transcript.nonce,
            extra_paths=self.host.cert_paths,
            max_file_bytes=self.options.max_file_bytes,
        )
        command = template.format(limit=_remaining(self.options, self.t0))
        await _run_script(
            conn, command, script, self.host.name, self.options, transcript, self.hook
        )
        ended_early = transcript.exit_status is None and not transcript.capped
        if ended_early and not transcript.cut and self.client.closed:  # streams just ended
            lost = self.client.lost
            transcript.cut = _cut_reason(lost) if lost else "the host closed the connection"
        collected = await parse_off_loop(self.host, transcript)
        if transcript.cut and not collected.complete:
            self.issues.append(
                CollectionIssue(
                    self.host.name, "(collection)", IssueReason.TRUNCATED, transcript.cut
                )
            )
        return collected

    async def _probe(
        self,
        conn: asyncssh.SSHClientConnection,
        collected: Collected,
        prober: Prober,
        t2: float,
    ) -> None:
        assert self.result is not None
        plans = plan_listeners(
            self.host, collected.sockets, collected.tls_configs, collected.certificates
        )
        budget = self.options.host_timeout - (t2 - self.t0) - 1.0
        report = await prober(self.host, plans, channel_opener(conn), budget)
        all_issues = self.result.issues + report.issues
        self.result = replace(
            self.result,
            outcome=HostOutcome.PARTIAL if all_issues else self.result.outcome,
            listeners=report.listeners,
            issues=all_issues,
            facts=self.result.facts + report.facts,
            finished_at=self.clock(),
        )

    def _with_issue(self, issue: CollectionIssue) -> HostResult:
        """The result so far (collection done) with one more issue."""
        assert self.result is not None
        audited = self.result.outcome.audited
        return replace(
            self.result,
            issues=self.result.issues + (issue,),
            outcome=HostOutcome.PARTIAL if audited else self.result.outcome,
            finished_at=self.clock(),
        )

    def deadline_result(self) -> HostResult:
        """The overall deadline hit: keep what arrived, flag it."""
        timeout = self.options.host_timeout
        issue = CollectionIssue(
            self.host.name,
            "(collection)",
            IssueReason.TIMEOUT,
            f"host deadline of {timeout:g}s reached",
        )
        if self.result is not None:
            return self._with_issue(issue)
        if not self.transcript.stdout:
            detail = (
                "logged in, but the collection gave no output within the host deadline "
                f"of {timeout:g}s"
                if self.connected
                else f"no answer within the host deadline of {timeout:g}s"
            )
            outcome = HostOutcome.FAILED if self.connected else HostOutcome.UNREACHABLE
            issues = (*self.issues, issue)
            return HostResult(self.host, outcome, detail, self.started, self.clock(), issues=issues)
        # Cut off by the deadline (exit_status stays None): the parser reports TRUNCATED.
        return _result(
            self.host,
            _parse(self.host, self.transcript),
            [*self.issues, issue],
            self.transcript,
            self.started,
            self.clock(),
        )

    def cut_result(self, exc: BaseException) -> HostResult:
        """A transport error outside the collection's own handling (while probing, say):
        keep what arrived, flag it."""
        reason = _cut_reason(exc)
        if self.result is not None:
            issue = CollectionIssue(self.host.name, "(session)", IssueReason.TRUNCATED, reason)
            return self._with_issue(issue)
        if not self.connected:
            return HostResult(
                self.host, HostOutcome.UNREACHABLE, reason, self.started, self.clock()
            )
        self.transcript.cut = self.transcript.cut or reason
        issue = CollectionIssue(self.host.name, "(collection)", IssueReason.TRUNCATED, reason)
        return _result(
            self.host,
            _parse(self.host, self.transcript),
            [*self.issues, issue],
            self.transcript,
            self.started,
            self.clock(),
        )


def _remaining(options: SshOptions, t0: float) -> int:
    """Whole seconds left of the host deadline (monotonic, as asyncio.timeout counts),
    less a margin for the output to arrive."""
    left = options.host_timeout - (time.monotonic() - t0) - 1.0
    return max(1, int(left))


def _last_line(data: bytearray) -> str:
    lines = bytes(data).decode("utf-8", "replace").strip().splitlines()
    return lines[-1][:200] if lines else ""


def _failure_detail(transcript: _Transcript) -> str:
    """Why a logged-in collection gave nothing usable."""
    if transcript.cut:
        return f"logged in, but the collection gave no usable output: {transcript.cut}"
    detail = "the collection script produced no usable output"
    if transcript.stderr.strip():
        detail += f": {_last_line(transcript.stderr)}"
    if transcript.unsent:
        status = transcript.exit_status
        detail += "; the session ended before the script was sent" + (
            f" (exit status {status})" if status is not None else ""
        )
    return detail


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
        detail = _failure_detail(transcript)
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
        renewal_schedules=collected.renewal_schedules,
        certbot_lineages=collected.certbot_lineages,
        cert_renewals=collected.cert_renewals,
    )
