"""A lab of real SSH hosts on this machine: one set of Linux namespaces per host.

Each lab host is

* a **network namespace** (``ip netns``) holding one end of a veth pair; the other end sits
  on a bridge in the root namespace. Addresses come from 10.250.0.0/24 only (by default the
  bridge is .1 and hosts are .10, .11, ...); nothing else is ever addressed.
* a **mount namespace** and a **UTS namespace**, created once per host by a small "holder"
  process (``ip netns exec NS unshare --mount --uts --propagation private sh -c ...`` that
  ends in ``sleep infinity``). In it ``/etc``, ``/var/lib``, ``/opt``, ``/srv`` and ``/home``
  are overlayfs mounts (lower = the real folder, upper = a per-host folder in the lab's
  temporary directory) and ``/root`` is a bind mount of a per-host folder holding an empty
  ``.bashrc`` and ``.profile``. The hostname is the host's name.
* a real OpenSSH ``sshd -D -e -f <lab sshd_config>`` entered into the holder's namespaces
  (``nsenter -t HOLDER -n -m -u``). Because the namespaces belong to the holder, sshd can be
  stopped, restarted or given a new host key without losing the host's files.

Files are planted through ``/proc/<holder>/root/...``, i.e. through the host's own mounts,
so they land in that host's upper folder and are seen by that host only; the real ``/etc``
is never written. The lab never writes outside its temporary directory except
``/run/netns`` entries, its bridge and veths, and ``/run/sshd`` (sshd's privilege-separation
folder, created when missing on a machine where sshd never ran).

Clean-up is unconditional: ``close()`` runs on leaving the ``with`` block (also on an
exception), on SIGTERM/SIGHUP (turned into KeyboardInterrupt while a lab is up, when nobody
else handles those signals) and at interpreter exit. A lab also removes what a crashed
earlier lab left behind: every namespace, link and temporary folder is tagged with the
owning process (pid + start time), and leftovers whose owner is gone are deleted at start.
Only one lab per subnet can run at a time; two labs in one process need distinct bridges
and non-overlapping subnets (the pytest fixtures use the two halves of the /24).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import ipaddress
import os
import re
import secrets
import select
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

#: The only network the lab ever configures or connects to.
LAB_NETWORK = ipaddress.IPv4Network("10.250.0.0/16")
"""Every lab address lies here (a /24 per CERTAUDIT_LAB_SLOT); no other address is a target."""
DEFAULT_PREFIX = "calab-"
DEFAULT_BRIDGE = "calab-br0"
#: Folders that are overlayfs mounts in every host (when they exist on this machine).
OVERLAID = ("/etc", "/var/lib", "/opt", "/srv", "/home")
#: Folders that are bind mounts of a per-host folder (no lower layer: the host sees only
#: what the lab put there).
BOUND = ("/root",)
#: What ``Lab.snapshot`` hashes by default.
SNAPSHOT_ROOTS = ("/etc", "/var/lib", "/root")
SSHD = "/usr/sbin/sshd"
#: Environment for commands the lab runs inside a host.
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C",
    "HOME": "/root",
}

_OWNER_ALIAS = "calab-owner="
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
_IFNAME_RE = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
_NS_DIR = Path("/run/netns")


class LabError(RuntimeError):
    """The lab could not be built, changed or taken down."""


class LabUnavailable(LabError):
    """This machine cannot run the lab at all (not root, no ``ip netns``, no sshd)."""


# --------------------------------------------------------------------------- host specs


@dataclass(frozen=True)
class File:
    """A regular file to plant on a host (path as the host sees it)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class Symlink:
    """A symbolic link to plant on a host; ``target`` is stored verbatim."""

    path: str
    target: str


@dataclass(frozen=True)
class Dir:
    """A folder to create on a host with a given mode (parents are created 0755)."""

    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0


Entry = File | Symlink | Dir


@dataclass(frozen=True)
class Service:
    """A long-running command started inside the host's namespaces after sshd.

    ``port``: when set, the lab waits until the host accepts TCP connections on it.
    """

    argv: tuple[str, ...]
    port: int | None = None


@dataclass
class HostSpec:
    """What one lab host looks like."""

    name: str
    """Inventory name and hostname: lower-case letters, digits and dashes."""
    files: list[Entry] = field(default_factory=list)
    """Planted (in order) before sshd starts, under OVERLAID or BOUND folders only."""
    vars: dict[str, str] = field(default_factory=dict)
    """Extra inventory variables for this host's line."""
    up: bool = True
    """False: the namespace is up but sshd never starts, so the port refuses."""
    port: int = 22
    allow_tcp_forwarding: bool = True
    bashrc_noise: bool = False
    """Root's .bashrc/.profile print junk on stdout and stderr; sshd sends a Banner; MOTD."""
    login_shell: str | None = None
    """Replace root's shell in this host's /etc/passwd (e.g. /bin/false, /bin/busybox)."""
    sshd_options: list[str] = field(default_factory=list)
    """Extra sshd_config lines, appended last (sshd uses the first value it sees, so these
    cannot override the lab's own settings; use them for options the lab does not set)."""
    services: list[Service] = field(default_factory=list)
    after_start: list[Entry] = field(default_factory=list)
    """Planted once the services listen: files replaced behind a running server's back
    (a renewed certificate it was never reloaded for, a key swapped under it)."""
    canaries: list[bytes] = field(default_factory=list)
    """Secret bytes planted on this host (private keys), for the no-key-leaves test."""
    trust: list[bytes] = field(default_factory=list)
    """PEM CA certificates its clients are meant to trust (an internal CA): the lab writes
    them all to `Lab.cafile`, for `certaudit run --cafile`."""
    expect: str = ""
    """One line on what the audit should find here (for the demo and for humans)."""


@dataclass
class Host:
    """A running lab host."""

    name: str
    spec: HostSpec
    address: str
    port: int
    netns: str
    veth: str
    dir: Path
    host_key_pub: str = ""
    holder: subprocess.Popen[bytes] | None = None
    sshd: subprocess.Popen[bytes] | None = None
    services: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def known_hosts_name(self) -> str:
        """The host's name as it appears in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    @property
    def known_hosts_line(self) -> str:
        """The known_hosts line for the host key sshd uses right now."""
        return f"{self.known_hosts_name} {self.host_key_pub}"

    @property
    def sshd_running(self) -> bool:
        return self.sshd is not None and self.sshd.poll() is None


# ----------------------------------------------------------------------- prerequisites


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why the lab cannot run here, or None when it can (checked once per process)."""
    if not sys.platform.startswith("linux"):
        return "the lab needs Linux namespaces"
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, overlay mounts)"
    for tool in ("ip", "nsenter", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found (install iproute2 / util-linux)"
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} not found (apt-get install openssh-server)"
    try:
        probe = subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`ip netns` unavailable: {exc}"
    if probe.returncode != 0:
        return f"`ip netns` unavailable: {probe.stderr.decode(errors='replace').strip()}"
    # Root without CAP_SYS_ADMIN (an unprivileged container) cannot make namespaces.
    probe = subprocess.run(
        ["unshare", "--net", "--mount", "--uts", "true"], capture_output=True, timeout=10
    )
    if probe.returncode != 0:
        return f"cannot create namespaces: {probe.stderr.decode(errors='replace').strip()}"
    return None


# ------------------------------------------------------------------------ ownership tags


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()[19].decode()


def _owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{_start_time(pid)}"


def _owner_alive(tag: str) -> bool:
    """Whether the process named by a tag "PID.START[-TOKEN]" is still running."""
    pid, _, started = tag.split("-", 1)[0].partition(".")
    if not pid.isdigit():
        return False
    return _start_time(int(pid)) == started


def _tag_of(name: str, prefix: str) -> str | None:
    """The owner tag inside a netns or temp-folder name made by `Lab`, else None."""
    if not name.startswith(prefix):
        return None
    tag = name[len(prefix) :].split("-", 1)[0]
    return tag if re.fullmatch(r"\d+\.\d+", tag) else None


def _link_alias(ifname: str) -> str:
    try:
        return Path(f"/sys/class/net/{ifname}/ifalias").read_text().strip()
    except OSError:
        return ""


# ---------------------------------------------------------------------- process helpers


def _ns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _pids_in_netns(netns_names: Iterable[str]) -> list[int]:
    """Every live process whose network namespace is one of these (named) namespaces."""
    wanted = {i for n in netns_names if (i := _ns_id(str(_NS_DIR / n))) is not None}
    if not wanted:
        return []
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != me and _ns_id(f"/proc/{entry}/ns/net") in wanted:
            found.append(int(entry))
    return found


def _kill_netns_processes(netns_names: Sequence[str], deadline: float = 5.0) -> list[int]:
    """SIGKILL every process in these namespaces until none is left. Returns what survived."""
    end = time.monotonic() + deadline
    while True:
        pids = _pids_in_netns(netns_names)
        if not pids or time.monotonic() > end:
            return pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _ip_batch(
    commands: Sequence[str], *, force: bool = False
) -> subprocess.CompletedProcess[bytes]:
    """Run `ip -batch -`; with force=True errors do not stop the batch (used for clean-up)."""
    argv = ["ip", *(["-force"] if force else []), "-batch", "-"]
    return subprocess.run(
        argv, input="\n".join(commands).encode() + b"\n", capture_output=True, timeout=30
    )


def _reap(proc: subprocess.Popen[bytes] | None, timeout: float = 3.0) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip()
    except OSError:
        return ""


def cleanup_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Remove namespaces, links and temporary folders left by labs whose process is gone.

    Returns a description of each thing removed. Things owned by a live process (another lab
    in this or another process) are left alone.
    """
    removed: list[str] = []
    stale_ns = []
    if _NS_DIR.is_dir():
        for ns in sorted(os.listdir(_NS_DIR)):
            tag = _tag_of(ns, prefix)
            if ns.startswith(prefix) and (tag is None or not _owner_alive(tag)):
                stale_ns.append(ns)
    if stale_ns:
        _kill_netns_processes(stale_ns)
    commands = []
    for ifname in sorted(os.listdir("/sys/class/net")):
        alias = _link_alias(ifname)
        if alias.startswith(_OWNER_ALIAS) and not _owner_alive(alias[len(_OWNER_ALIAS) :]):
            commands.append(f"link del {ifname}")
            removed.append(f"link {ifname}")
    commands += [f"netns del {ns}" for ns in stale_ns]
    removed += [f"netns {ns}" for ns in stale_ns]
    if commands:
        _ip_batch(commands, force=True)
    for d in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        tag = _tag_of(d.name, prefix)
        if tag is not None and d.is_dir() and not _owner_alive(tag):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"dir {d}")
    return removed


# ------------------------------------------------------------------------------ the lab


def _keypair(comment: str) -> tuple[bytes, str]:
    """An ed25519 key: (OpenSSH private key file bytes, public key line)."""
    k = ed25519.Ed25519PrivateKey.generate()
    private = k.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = (
        k.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, f"{public} {comment}"


def _write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    if isinstance(data, str):
        data = data.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


_NOISE_RC = r"""# certaudit lab: a noisy shell start-up file (output-framing tests)
echo "Welcome to $(hostname)! Last login: never. Have a nice day."
echo "BEGIN-xyz"
echo "-----BEGIN CERTIFICATE-----"
echo "this is not base64 @@@"
echo "-----END CERTIFICATE-----"
printf 'binary\000junk\001\002\377\376 \033[31mred\033[0m\r\n'
printf 'no newline at the end'
echo "stderr noise BEGIN-xyz END-xyz" >&2
printf '\377\376\000stderr binary\n' >&2
"""


class Lab:
    """Real sshd hosts in namespaces; use as a context manager.

    >>> with Lab([HostSpec("web1")]) as lab:          # doctest: +SKIP
    ...     subprocess.run(lab.ssh_argv("web1", "hostname"))
    """

    def __init__(
        self,
        specs: Sequence[HostSpec],
        *,
        subnet: str = "10.250.0.0/24",
        bridge: str = DEFAULT_BRIDGE,
        prefix: str = DEFAULT_PREFIX,
        first_host: int = 10,
        ready_timeout: float = 15.0,
    ) -> None:
        self.network = ipaddress.IPv4Network(subnet)
        if not self.network.subnet_of(LAB_NETWORK):
            raise ValueError(f"lab subnet {subnet} is outside {LAB_NETWORK}")
        if not _IFNAME_RE.match(bridge):
            raise ValueError(f"bad bridge name {bridge!r} (at most 15 characters)")
        if not re.fullmatch(r"[a-z][a-z0-9]*-", prefix):
            raise ValueError(f"bad prefix {prefix!r} (letters/digits then a dash)")
        names = [s.name for s in specs]
        for n in names:
            if not _NAME_RE.match(n):
                raise ValueError(f"bad host name {n!r}")
        if len(set(names)) != len(names):
            raise ValueError("duplicate host names")
        addresses = list(self.network.hosts())
        if first_host < 2 or first_host - 1 + len(specs) > len(addresses):
            raise ValueError(f"{len(specs)} hosts from offset {first_host} do not fit in {subnet}")
        self.specs = list(specs)
        self.bridge = bridge
        self.prefix = prefix
        self.bridge_address = str(addresses[0])
        self.ready_timeout = ready_timeout
        self.token = secrets.token_hex(3)
        self.owner = _owner_tag()
        self.tag = f"{prefix}{self.owner}-{self.token}"
        self.alias = f"{_OWNER_ALIAS}{self.owner}-{self.token}"
        self.dir = Path()
        self.hosts: dict[str, Host] = {}
        self._host_addresses = [str(addresses[first_host - 1 + i]) for i in range(len(specs))]
        self.timings: dict[str, float] = {}
        self.stale_removed: list[str] = []
        self._started = False
        self._closed = False
        self._old_handlers: dict[int, object] = {}
        self._overlaid: tuple[str, ...] = ()

    # ----------------------------------------------------------------- public paths

    @property
    def inventory(self) -> Path:
        """Ansible INI inventory: group [lab], one line per host."""
        return self.dir / "inventory.ini"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def cafile(self) -> Path:
        """PEM bundle of every host's `trust` certificates (the lab's internal roots)."""
        return self.dir / "cafile.pem"

    @property
    def client_key(self) -> Path:
        """ed25519 private key (no passphrase) authorised for root on every host."""
        return self.dir / "client_key"

    def host_root(self, name: str) -> Path:
        """The host's private layer: ``host_root(n) / "etc/ssl/x.pem"`` is what the host sees
        at /etc/ssl/x.pem if it was written on that host (upper folders of the overlays, and
        the folder bound at /root). Read it freely; write through `write_file` (overlayfs
        does not promise to notice changes made directly in an upper folder while mounted).
        """
        return self._host(name).dir / "fs"

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> Lab:
        """Start the lab; a lab already started (e.g. by the make_lab fixture) is just used,
        and still closed on leaving the block."""
        if not self._started:
            self.start()
        elif self._closed:
            raise LabError("this lab was already closed")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(raise_errors=exc is None)

    def start(self) -> None:
        if self._started:
            raise LabError("a Lab can be started once")
        self._started = True
        reason = unavailable_reason()
        if reason:
            raise LabUnavailable(reason)
        t0 = time.monotonic()
        self._install_signal_handlers()
        atexit.register(self.close)
        try:
            self.stale_removed = cleanup_stale(self.prefix)
            self._check_free()
            self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            self._overlaid = tuple(
                p for p in OVERLAID if os.path.isdir(p) and not os.path.islink(p)
            )
            self._make_client_key()
            for i, spec in enumerate(self.specs):
                self._prepare_host(i, spec)
            self._create_network()
            self._start_holders()
            for h in self.hosts.values():
                self._plant(h)
            for h in self.hosts.values():
                if h.spec.up:
                    self._spawn_sshd(h)
            self._wait_listening(
                [self._ssh_target(h) for h in self.hosts.values() if h.spec.up], ssh=True
            )
            self._start_services()
            for h in self.hosts.values():
                for entry in h.spec.after_start:
                    self._apply(h, entry)
            self._write_known_hosts()
            self._write_cafile()
            self._write_inventory()
        except BaseException:
            self.close(raise_errors=False)
            raise
        self.timings["start"] = time.monotonic() - t0

    def close(self, raise_errors: bool = True) -> None:
        """Kill every lab process, delete namespaces/links, remove the temporary folder.

        Idempotent; signals are held off while it runs so a second Ctrl-C cannot leave
        half a lab behind.
        """
        if self._closed or not self._started:
            return
        self._closed = True
        t0 = time.monotonic()
        in_main = threading.current_thread() is threading.main_thread()
        old_mask = (
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
            if in_main
            else None
        )
        problems: list[str] = []
        try:
            for h in self.hosts.values():
                for proc in [*h.services, h.sshd, h.holder]:
                    _reap(proc)
            netns = [h.netns for h in self.hosts.values()]
            survivors = _kill_netns_processes(netns)
            if survivors:
                problems.append(f"processes would not die: {survivors}")
            commands = [f"link del {h.veth}" for h in self.hosts.values()]
            commands += [f"netns del {ns}" for ns in netns]
            if _link_alias(self.bridge) == self.alias:
                commands.append(f"link del {self.bridge}")
            _ip_batch(commands, force=True)
            for ns in netns:
                if (_NS_DIR / ns).exists():
                    problems.append(f"netns {ns} still present")
            if _link_alias(self.bridge) == self.alias:
                problems.append(f"bridge {self.bridge} still present")
            if self.dir != Path() and self.dir.exists():
                shutil.rmtree(self.dir, ignore_errors=True)
                if self.dir.exists():
                    problems.append(f"could not remove {self.dir}")
        finally:
            atexit.unregister(self.close)
            self._restore_signal_handlers()
            self.timings["stop"] = time.monotonic() - t0
            if old_mask is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        if problems:
            message = "lab clean-up incomplete: " + "; ".join(problems)
            if raise_errors:
                raise LabError(message)
            print(message, file=sys.stderr)

    # ----------------------------------------------------------------- host control

    def stop_sshd(self, name: str) -> None:
        """Stop the host's sshd listener (sessions already open are left running, as
        `systemctl stop ssh` does on Debian). Afterwards the port refuses connections."""
        h = self._host(name)
        if h.sshd is None:
            return
        if h.sshd.poll() is None:
            h.sshd.terminate()
            try:
                h.sshd.wait(3)
            except subprocess.TimeoutExpired:
                h.sshd.kill()
                h.sshd.wait(3)
        h.sshd = None

    def start_sshd(self, name: str) -> None:
        """Start the host's sshd (no-op when running) and wait until it answers."""
        h = self._host(name)
        if h.sshd_running:
            return
        self._spawn_sshd(h)
        self._wait_listening([self._ssh_target(h)], ssh=True)

    def regenerate_host_key(self, name: str) -> str:
        """Give the host a new ed25519 host key and restart its sshd (if it was running).

        known_hosts is NOT updated: strict clients now see a changed key. Returns the new
        known_hosts line (what an updated known_hosts would contain).
        """
        h = self._host(name)
        was_running = h.sshd_running
        self.stop_sshd(name)
        self._make_host_key(h)
        if was_running:
            self.start_sshd(name)
        return h.known_hosts_line

    def run_in_host(
        self,
        name: str,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float = 60,
        check: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        """Run argv (no shell) inside the host's network, mount and UTS namespaces."""
        h = self._host(name)
        pid = self._holder_pid(h)
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", *argv],
            input=input,
            capture_output=True,
            timeout=timeout,
            check=check,
            env=dict(HOST_ENV if env is None else env),
            cwd="/",
        )

    def write_file(
        self, name: str, path: str, data: bytes | str, mode: int = 0o644, uid: int = 0, gid: int = 0
    ) -> None:
        """Create or replace a file on one host only (parents are created 0755)."""
        self._apply(
            self._host(name),
            File(path, data.encode() if isinstance(data, str) else data, mode, uid, gid),
        )

    def symlink(self, name: str, path: str, target: str) -> None:
        """Create (or replace) a symbolic link on one host."""
        self._apply(self._host(name), Symlink(path, target))

    def mkdir(self, name: str, path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        self._apply(self._host(name), Dir(path, mode, uid, gid))

    def remove(self, name: str, path: str) -> None:
        """Remove a file or link (or an empty folder) on one host (a whiteout if it came
        from the real filesystem)."""
        target = self._live_path(self._host(name), path)
        if target.is_dir() and not target.is_symlink():
            target.rmdir()
        else:
            target.unlink()

    def read_file(self, name: str, path: str) -> bytes:
        """A file as the host sees it."""
        return self._live_path(self._host(name), path, any_path=True).read_bytes()

    def snapshot(
        self, name: str, roots: Sequence[str] = SNAPSHOT_ROOTS, exclude: Sequence[str] = ()
    ) -> dict[str, str]:
        """Fingerprint every entry under roots as the host sees them.

        Keys are host paths (str; undecodable bytes kept via surrogateescape); each value is
        the sha256 of (type, mode, uid, gid, size, mtime_ns, and the sha256 of the content
        for regular files or the target for links). Special files are never opened. Mount
        points below a root are not crossed. Nothing is excluded by default: a host's /etc
        view has no volatile files (/etc/mtab is a link to /proc/self/mounts, recorded as a
        link); `exclude` takes path prefixes.
        """
        h = self._host(name)
        base = f"/proc/{self._holder_pid(h)}/root"
        result: dict[str, str] = {}
        for root in roots:
            top = os.lstat(base + root)
            self._walk(base, root, top.st_dev, tuple(exclude), result)
        return result

    def ssh_argv(self, name: str, *remote: str, known_hosts: Path | str | None = None) -> list[str]:
        """An OpenSSH client command line that logs in as root with strict host-key checking
        against the lab's known_hosts (and ignores ~/.ssh/config)."""
        h = self._host(name)
        return [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "-i",
            str(self.client_key),
            "-p",
            str(h.port),
            f"root@{h.address}",
            *remote,
        ]

    # --------------------------------------------------------------------- internals

    def _host(self, name: str) -> Host:
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(f"no lab host {name!r}") from None

    def _holder_pid(self, h: Host) -> int:
        if h.holder is None or h.holder.poll() is not None:
            raise LabError(f"host {h.name}: namespaces are not up")
        return h.holder.pid

    def _check_address(self, address: str) -> None:
        ip = ipaddress.IPv4Address(address)
        if ip not in self.network or ip not in LAB_NETWORK:
            raise LabError(f"refusing to address {address}: outside {self.network}")

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) == signal.SIG_DFL:
                self._old_handlers[sig] = signal.signal(sig, _raise_interrupt)

    def _restore_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, old in self._old_handlers.items():
            if signal.getsignal(sig) is _raise_interrupt:
                signal.signal(sig, old)  # type: ignore[arg-type]
        self._old_handlers.clear()

    def _check_free(self) -> None:
        if Path(f"/sys/class/net/{self.bridge}").exists():
            alias = _link_alias(self.bridge)
            if alias.startswith(_OWNER_ALIAS):
                raise LabError(
                    f"bridge {self.bridge} is in use by a running lab "
                    f"(owner pid.start-lab {alias[len(_OWNER_ALIAS) :]})"
                )
            raise LabError(f"interface {self.bridge} exists and is not a lab bridge")
        out = subprocess.run(
            ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, timeout=10
        ).stdout
        for line in out.splitlines():
            m = re.search(r"inet (\S+)", line)
            if m and ipaddress.IPv4Interface(m.group(1)).network.overlaps(self.network):
                raise LabError(
                    f"{self.network} overlaps an address already configured: "
                    f"{line.split()[1]} {m.group(1)}"
                )

    def _make_client_key(self) -> None:
        private, public = _keypair("certaudit-lab-client")
        _write(self.client_key, private, 0o600)
        _write(self.dir / "client_key.pub", public + "\n")
        _write(self.dir / "authorized_keys", public + "\n")

    def _make_host_key(self, h: Host) -> None:
        private, public = _keypair(f"certaudit-lab-{h.name}")
        _write(h.dir / "ssh_host_ed25519_key", private, 0o600)
        _write(h.dir / "ssh_host_ed25519_key.pub", public + "\n")
        h.host_key_pub = public.rsplit(" ", 1)[0]

    def _prepare_host(self, index: int, spec: HostSpec) -> None:
        address = self._host_addresses[index]
        self._check_address(address)
        hdir = self.dir / "hosts" / spec.name
        h = Host(
            name=spec.name,
            spec=spec,
            address=address,
            port=spec.port,
            netns=f"{self.tag}-{spec.name}",
            veth=f"ca{self.token}{index:03d}"[:15],
            dir=hdir,
        )
        self.hosts[spec.name] = h
        for root in self._overlaid:
            upper = hdir / "fs" / root.lstrip("/")
            upper.mkdir(parents=True)
            st = os.stat(root)
            os.chmod(upper, stat.S_IMODE(st.st_mode))
            os.chown(upper, st.st_uid, st.st_gid)
            (hdir / "work" / root.strip("/").replace("/", "_")).mkdir(parents=True)
        home = hdir / "fs" / "root"
        home.mkdir(mode=0o700, parents=True)
        if spec.bashrc_noise:
            _write(home / ".bashrc", _NOISE_RC)
            _write(home / ".profile", _NOISE_RC.replace("shell start-up", "login profile"))
        else:
            _write(home / ".bashrc", b"")
            _write(home / ".profile", b"")
        self._make_host_key(h)
        lines = [
            f"# certaudit lab sshd for {spec.name} ({address})",
            f"Port {spec.port}",
            "AddressFamily inet",
            f"HostKey {hdir / 'ssh_host_ed25519_key'}",
            f"PidFile {hdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            f"AllowTcpForwarding {'yes' if spec.allow_tcp_forwarding else 'no'}",
            "X11Forwarding no",
            "StrictModes no",
            "LogLevel ERROR",
            "MaxStartups 1000",
            "MaxSessions 100",
            "UseDNS no",
            "PrintLastLog no",
            "PermitUserEnvironment no",
            "LoginGraceTime 60",
        ]
        if spec.bashrc_noise:
            banner = (
                f"\x1b[1m*** {spec.name}: authorised use only ***\x1b[0m\r\n"
                "BEGIN-xyz banner line\n-----BEGIN CERTIFICATE-----\n"
                "\x07\x08 control characters \u202e reversed\n"
            )
            _write(hdir / "banner", banner)
            lines += [f"Banner {hdir / 'banner'}", "PrintMotd yes"]
        else:
            lines += ["PrintMotd no"]
        lines += spec.sshd_options
        _write(hdir / "sshd_config", "\n".join(lines) + "\n")

    def _create_network(self) -> None:
        prefixlen = self.network.prefixlen
        cmds = [
            f"link add {self.bridge} type bridge forward_delay 0 stp_state 0",
            f"link set {self.bridge} alias {self.alias}",
            f"link set {self.bridge} addrgenmode none",
            f"addr add {self.bridge_address}/{prefixlen} dev {self.bridge}",
            f"link set {self.bridge} up",
        ]
        for h in self.hosts.values():
            cmds += [
                f"netns add {h.netns}",
                f"link add {h.veth} type veth peer name eth0 netns {h.netns}",
                f"link set {h.veth} alias {self.alias}",
                f"link set {h.veth} addrgenmode none",
                f"link set {h.veth} master {self.bridge}",
                f"link set {h.veth} up",
            ]
        done = _ip_batch(cmds)
        if done.returncode != 0:
            raise LabError(f"network set-up failed: {done.stderr.decode(errors='replace')}")

    def _holder_script(self, h: Host) -> str:
        q = shlex.quote
        lines = ["set -e", f"echo {q(h.name)} > /proc/sys/kernel/hostname"]
        for root in self._overlaid:
            upper = h.dir / "fs" / root.lstrip("/")
            work = h.dir / "work" / root.strip("/").replace("/", "_")
            opts = f"lowerdir={root},upperdir={upper},workdir={work}"
            lines.append(f"mount -t overlay calab -o {q(opts)} {q(root)}")
        for root in BOUND:
            lines.append(f"mount --bind {q(str(h.dir / 'fs' / root.lstrip('/')))} {q(root)}")
        lines += [
            # IPv4 only: no IPv6 link-local addresses inside the host either.
            "for f in /proc/sys/net/ipv6/conf/all/disable_ipv6"
            " /proc/sys/net/ipv6/conf/default/disable_ipv6; do"
            ' [ -w "$f" ] && echo 1 > "$f" || true; done',
            "ip link set lo up",
            f"ip addr add {h.address}/{self.network.prefixlen} dev eth0",
            "ip link set eth0 up",
            "echo ready",
            "exec sleep infinity </dev/null >/dev/null",
        ]
        return "\n".join(lines)

    def _start_holders(self) -> None:
        for h in self.hosts.values():
            log = open(h.dir / "holder.log", "wb")  # noqa: SIM115 - handed to the child
            with log:
                h.holder = subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        h.netns,
                        "unshare",
                        "--mount",
                        "--uts",
                        "--propagation",
                        "private",
                        "--",
                        "/bin/sh",
                        "-c",
                        self._holder_script(h),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                    env=HOST_ENV,
                    cwd="/",
                )
        deadline = time.monotonic() + self.ready_timeout
        for h in self.hosts.values():
            assert h.holder is not None and h.holder.stdout is not None
            line = b""
            with h.holder.stdout as out:
                while not line.endswith(b"\n"):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not select.select([out], [], [], remaining)[0]:
                        break
                    chunk = os.read(out.fileno(), 64)
                    if not chunk:
                        break
                    line += chunk
            if line != b"ready\n":
                raise LabError(
                    f"host {h.name}: namespace set-up failed: {_tail(h.dir / 'holder.log')}"
                )

    def _spawn_sshd(self, h: Host) -> None:
        pid = self._holder_pid(h)
        with open(h.dir / "sshd.log", "ab") as log:
            h.sshd = subprocess.Popen(
                [
                    "nsenter",
                    "-t",
                    str(pid),
                    "-n",
                    "-m",
                    "-u",
                    "--",
                    SSHD,
                    "-D",
                    "-e",
                    "-f",
                    str(h.dir / "sshd_config"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                env=HOST_ENV,
                cwd="/",
            )

    def _start_services(self) -> None:
        waits = []
        for h in self.hosts.values():
            pid = self._holder_pid(h)
            for i, svc in enumerate(h.spec.services):
                log_path = h.dir / f"service{i}.log"
                with open(log_path, "ab") as log:
                    proc = subprocess.Popen(
                        ["nsenter", "-t", str(pid), "-n", "-m", "-u", "--", *svc.argv],
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                        env=HOST_ENV,
                        cwd="/",
                    )
                h.services.append(proc)
                if svc.port is not None:
                    waits.append((h, svc.port, proc, log_path))
        self._wait_listening(waits, ssh=False)

    def _wait_listening(
        self,
        targets: Sequence[tuple[Host, int, subprocess.Popen[bytes] | None, Path]],
        *,
        ssh: bool,
    ) -> None:
        """Poll until each (host, port) accepts TCP (and, for sshd, sends its SSH banner);
        fail early when the process that should listen has exited."""
        deadline = time.monotonic() + self.ready_timeout
        pending = list(targets)
        while pending:
            for item in list(pending):
                h, port, proc, log = item
                self._check_address(h.address)
                if proc is None or proc.poll() is not None:
                    what = "sshd" if ssh else f"service on port {port}"
                    raise LabError(f"host {h.name}: {what} exited: {_tail(log)}")
                try:
                    with socket.create_connection((h.address, port), timeout=1) as s:
                        if ssh:
                            s.settimeout(2)
                            if not s.recv(8).startswith(b"SSH-"):
                                continue
                    pending.remove(item)
                except OSError:
                    pass
            if pending:
                if time.monotonic() > deadline:
                    names = ", ".join(f"{h.name}:{p}" for h, p, _, _ in pending)
                    raise LabError(f"not listening after {self.ready_timeout}s: {names}")
                time.sleep(0.005)

    def _ssh_target(self, h: Host) -> tuple[Host, int, subprocess.Popen[bytes] | None, Path]:
        return (h, h.port, h.sshd, h.dir / "sshd.log")

    def _write_cafile(self) -> None:
        pems = dict.fromkeys(pem for h in self.hosts.values() for pem in h.spec.trust)
        _write(self.cafile, b"".join(pems))

    def _write_known_hosts(self) -> None:
        _write(self.known_hosts, "".join(h.known_hosts_line + "\n" for h in self.hosts.values()))

    def _write_inventory(self) -> None:
        lines = [f"# certaudit lab inventory ({self.dir})", "[lab]"]
        for h in self.hosts.values():
            fields = [
                h.name,
                f"ansible_host={h.address}",
                "ansible_user=root",
                f"ansible_ssh_private_key_file={self.client_key}",
            ]
            if h.port != 22:
                fields.append(f"ansible_port={h.port}")
            fields += [f"{k}={shlex.quote(v)}" for k, v in h.spec.vars.items()]
            lines.append(" ".join(fields))
        _write(self.inventory, "\n".join(lines) + "\n")

    # ------------------------------------------------------------- file planting

    def _plant(self, h: Host) -> None:
        """Per-host account tweaks, then the spec's files, through the host's mounts."""
        passwd = Path("/etc/passwd").read_text()
        if h.spec.login_shell:
            passwd = re.sub(
                r"^(root:[^:]*:0:0:[^:]*:[^:]*:).*$",
                lambda m: m.group(1) + str(h.spec.login_shell),
                passwd,
                flags=re.M,
            )
            self._apply(h, File("/etc/passwd", passwd.encode()))
        shadow = Path("/etc/shadow").read_text()
        if re.search(r"^root:!", shadow, re.M):
            # sshd with UsePAM no refuses a locked account even for public keys.
            shadow = re.sub(r"^root:![^:]*:", "root:*:", shadow, flags=re.M)
            self._apply(
                h, File("/etc/shadow", shadow.encode(), 0o640, 0, os.stat("/etc/shadow").st_gid)
            )
        if h.spec.bashrc_noise:
            self._apply(h, File("/etc/motd", b"MOTD BEGIN-xyz \x1b[5mblink\x1b[0m\n"))
        for entry in h.spec.files:
            self._apply(h, entry)

    def _live_path(self, h: Host, path: str, *, any_path: bool = False) -> Path:
        """The host's path seen from here, via /proc/<holder>/root. Refuses paths outside
        the per-host folders (unless any_path) and symlinked parents (an absolute link would
        be resolved in the root namespace)."""
        p = PurePosixPath(path)
        if not p.is_absolute() or ".." in p.parts or str(p) != path.rstrip("/") or path == "/":
            raise ValueError(f"not a normalised absolute path: {path!r}")
        base = f"/proc/{self._holder_pid(h)}/root"
        top = next(
            (
                r
                for r in (*self._overlaid, *BOUND)
                if p == PurePosixPath(r) or PurePosixPath(r) in p.parents
            ),
            None,
        )
        if top is None:
            if not any_path:
                raise ValueError(
                    f"{path}: lab hosts have their own {self._overlaid + BOUND} "
                    "only; other paths are shared with the real machine"
                )
            return Path(base + path)
        cur = PurePosixPath(top)
        for part in p.relative_to(top).parts[:-1]:
            cur = cur / part
            if os.path.islink(base + str(cur)):
                raise ValueError(f"{path}: parent {cur} is a symlink; use the real path")
        return Path(base + path)

    def _apply(self, h: Host, entry: Entry) -> None:
        target = self._live_path(h, entry.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(entry, Dir):
            target.mkdir(exist_ok=True)
            os.chmod(target, entry.mode)
            os.chown(target, entry.uid, entry.gid)
            return
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            target.unlink()
        if isinstance(entry, Symlink):
            os.symlink(entry.target, target)
            return
        _write(target, entry.data, entry.mode)
        os.chown(target, entry.uid, entry.gid)

    def _walk(
        self, base: str, path: str, dev: int, exclude: tuple[str, ...], out: dict[str, str]
    ) -> None:
        if exclude and any(path == e or path.startswith(e.rstrip("/") + "/") for e in exclude):
            return
        st = os.lstat(base + path)
        mode = st.st_mode
        if stat.S_ISREG(mode):
            digest = hashlib.sha256()
            with open(base + path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            detail = digest.hexdigest()
        elif stat.S_ISLNK(mode):
            detail = os.readlink(base + path)
        else:
            detail = ""
        record = (
            f"{stat.S_IFMT(mode)} {stat.S_IMODE(mode):o} {st.st_uid}:{st.st_gid} "
            f"{st.st_size if not stat.S_ISDIR(mode) else 0} {st.st_mtime_ns} {detail}"
        )
        out[path] = hashlib.sha256(record.encode(errors="surrogateescape")).hexdigest()
        if stat.S_ISDIR(mode) and st.st_dev == dev:
            for name in sorted(os.listdir(base + path)):
                self._walk(base, f"{path.rstrip('/')}/{name}", dev, exclude, out)


def diff_snapshots(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Human-readable differences: '+ path', '- path', '~ path'."""
    out = [f"- {p}" for p in sorted(before.keys() - after.keys())]
    out += [f"+ {p}" for p in sorted(after.keys() - before.keys())]
    out += [f"~ {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return out
