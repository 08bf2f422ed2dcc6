"""The bench fleet: ONE OpenSSH sshd and one nginx; N hosts are N loopback aliases of it.

* A named network namespace ``cabench-<owner>-<token>`` holding only ``lo``. All of
  127.0.0.0/8 is loopback, so host i is the alias 127.0.(1 + i // 250).(1 + i % 250); every
  alias reaches the one sshd listening on 0.0.0.0:22 and has its own known_hosts line and
  inventory entry. No bridge, no veth pairs (a bridge holds at most 1,024 ports).
* A holder process (``nsenter --net=NS unshare --mount --pid --fork --mount-proc``): PID 1
  of a private PID namespace, with a private mount namespace in which the host's view is
  bind-mounted over /etc/ssl, /etc/nginx, /usr/local/share/ca-certificates and /srv (the
  real folders are never written; see `_build_view`). sshd and nginx are its children, each
  moved into a cgroup of its own first, so the host side's CPU time is measured exactly,
  whatever forks and exits in between (cgroup v1 cpuacct or v2 cpu.stat; without either,
  from /proc: the live processes plus what they reaped).
* A dedicated local user ``certaudit-bench``: /bin/sh as login shell, an empty home, key
  login only. It is created once and kept (re-running fixes it up); nothing else on the
  machine is changed.

What one host looks like (identical files for every alias except its own folder):
  /etc/ssl            the machine's own: ca-certificates.crt (+ the bench's internal root,
                      as update-ca-certificates would add it), the c_rehash links, openssl.cnf;
                      an empty private/ (0700, the bench user's)
  /usr/local/share/ca-certificates  the machine's own files + the internal root
  /etc/nginx          nginx.conf with four TLS sites (443, 8443, 9443, 6443; 9443 serves its
                      leaf without the intermediate) and their certificates; keys 0600, owned
                      by the bench user so that the non-root audit reads what a root one would
  /srv/fleet/<host>/  three certificates of its own (certaudit_cert_paths): app.pem (full
                      chain), mail.pem (expires in 20 days; expired on every 50th host),
                      client.pem (leaf only)

Runners (certaudit, the floor, Ansible) enter the network namespace only (measure.py).
Clean-up: `close()` kills every process in the namespace (the holder is PID 1 of its PID
namespace: its death takes sshd, nginx and every session along), deletes the namespace,
the cgroups and the temporary folder; on leaving the ``with`` block, on Ctrl-C,
SIGTERM/SIGHUP and at exit. Leftovers of a bench whose process is gone are removed at start.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import json
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests import pki
from tests.lab import netlab

PREFIX = "cabench-"
BENCH_USER = "certaudit-bench"
BENCH_HOME = Path("/var/lib/certaudit-bench")
SSH_PORT = 22
DOMAIN = "bench.test"
SSHD = "/usr/sbin/sshd"
NGINX = "/usr/sbin/nginx"
HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C",
    "HOME": "/root",
}
_NS_DIR = Path("/run/netns")
_RC_FILES = (".profile", ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".shrc")


@dataclass(frozen=True)
class Site:
    """A TLS listener every host has (one nginx server block)."""

    name: str
    port: int
    full_chain: bool

    @property
    def servername(self) -> str:
        return f"{self.name}.{DOMAIN}"


SITES = (
    Site("www", 443, True),
    Site("api", 8443, True),
    Site("admin", 9443, False),
    Site("kube", 6443, True),
)
HOST_FILES = (("app.pem", 300, True), ("mail.pem", 20, True), ("client.pem", 90, False))
"""Each host's own certificates: (file, days left, with the intermediate)."""
EXPIRED_EVERY = 50
"""Every 50th host's mail.pem expired three days ago."""


def alias(i: int) -> str:
    """The loopback address of host i (0-based): 127.0.1.1, ..., 127.0.1.250, 127.0.2.1..."""
    if not 0 <= i < 250 * 254:
        raise ValueError(f"host index {i} out of range")
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def host_name(i: int) -> str:
    return f"h{i + 1:04d}"


class BenchError(RuntimeError):
    pass


# ------------------------------------------------------------------------ small helpers


def _start_time(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()[19].decode()


def _owner_alive(tag: str) -> bool:
    pid, _, started = tag.partition(".")
    return pid.isdigit() and _start_time(int(pid)) == started


def _write(path: Path, data: bytes | str, mode: int = 0o644, owner: int | None = None) -> None:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, owner, -1)


def _tail(path: Path, limit: int = 1500) -> str:
    try:
        return path.read_bytes()[-limit:].decode(errors="replace").strip()
    except OSError:
        return ""


def _ns_inode(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def pids_in_netns(netns_path: str) -> list[int]:
    wanted = _ns_inode(netns_path)
    if wanted is None:
        return []
    me = os.getpid()
    return [
        int(p)
        for p in os.listdir("/proc")
        if p.isdigit() and int(p) != me and _ns_inode(f"/proc/{p}/ns/net") == wanted
    ]


def kill_netns(netns_path: str, deadline: float = 5.0) -> list[int]:
    """SIGKILL every process in the namespace until none is left; returns survivors."""
    end = time.monotonic() + deadline
    while True:
        pids = pids_in_netns(netns_path)
        if not pids or time.monotonic() > end:
            return pids
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


def _keypair(comment: str) -> tuple[bytes, str]:
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


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


# ------------------------------------------------------------------------------ the user


def ensure_user() -> pwd.struct_passwd:
    """The bench user, created or fixed up: /bin/sh, an empty home, not locked (sshd with
    UsePAM no refuses a locked account even for keys). Idempotent."""
    try:
        pw = pwd.getpwnam(BENCH_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--shell",
                "/bin/sh",
                "--home-dir",
                str(BENCH_HOME),
                "--no-create-home",
                "--comment",
                "certaudit fleet bench (tools/bench_fleet.py)",
                BENCH_USER,
            ],
            check=True,
            capture_output=True,
        )
        pw = pwd.getpwnam(BENCH_USER)
    if pw.pw_shell != "/bin/sh":
        subprocess.run(["usermod", "-s", "/bin/sh", BENCH_USER], check=True, capture_output=True)
    shadow = Path("/etc/shadow").read_text()
    for line in shadow.splitlines():
        if line.startswith(BENCH_USER + ":") and line.split(":")[1].startswith("!"):
            subprocess.run(["usermod", "-p", "*", BENCH_USER], check=True, capture_output=True)
    home = Path(pw.pw_dir)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    for name in _RC_FILES:
        with contextlib.suppress(FileNotFoundError):
            (home / name).unlink()
    return pwd.getpwnam(BENCH_USER)


# ------------------------------------------------------------------------ CPU accounting


class CpuGroup:
    """CPU seconds used by everything ever started in one cgroup."""

    def __init__(self, path: Path, v2: bool) -> None:
        self.path = path
        self.v2 = v2

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def seconds(self) -> float:
        if self.v2:
            for line in (self.path / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
            return 0.0
        return int((self.path / "cpuacct.usage").read_text()) / 1e9


def _cgroup_root() -> tuple[Path, bool] | None:
    if os.environ.get("CERTAUDIT_BENCH_NO_CGROUP"):
        return None
    root = Path("/sys/fs/cgroup")
    if (root / "cgroup.controllers").is_file():
        return root, True
    if (root / "cpuacct" / "cpuacct.usage").is_file():
        return root / "cpuacct", False
    if (root / "unified" / "cgroup.procs").is_file():
        return root / "unified", True
    return None


def _remove_cgroup(path: Path) -> bool:
    for _ in range(50):
        for sub in sorted(p for p in path.glob("*") if p.is_dir()):
            with contextlib.suppress(OSError):
                sub.rmdir()
        try:
            path.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _cleanup_stale_cgroups() -> None:
    found = _cgroup_root()
    if found is None:
        return
    for d in found[0].glob(f"{PREFIX}*"):
        tag = d.name[len(PREFIX) :].split("-", 1)[0]
        if d.is_dir() and not _owner_alive(tag):
            _remove_cgroup(d)


def _clk_tck() -> int:
    return os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------ the fleet


class BenchFleet:
    """`with BenchFleet(1000) as fleet:` — see the module docstring."""

    def __init__(self, hosts: int, *, now: dt.datetime | None = None, ready_timeout: float = 30):
        if hosts < 1:
            raise ValueError("at least one host")
        self.size = hosts
        self.now = now or pki.utcnow()
        self.ready_timeout = ready_timeout
        self.owner = f"{os.getpid()}.{_start_time(os.getpid())}"
        self.tag = f"{PREFIX}{self.owner}-{secrets.token_hex(3)}"
        self.netns = self.tag
        self.dir = Path()
        self.names = [host_name(i) for i in range(hosts)]
        self.addresses = {host_name(i): alias(i) for i in range(hosts)}
        self.holder: subprocess.Popen[bytes] | None = None
        self.cgroups: dict[str, CpuGroup] = {}
        self.cgroup_dir: Path | None = None
        self.shared_cert_files: list[str] = []
        self.timings: dict[str, float] = {}
        self._started = False
        self._closed = False
        self._old_handlers: dict[int, object] = {}
        self.user: pwd.struct_passwd | None = None
        self._mounts: list[tuple[str, str]] = []
        self._idle_procs = 0

    # ------------------------------------------------------------------ paths

    @property
    def netns_path(self) -> str:
        return str(_NS_DIR / self.netns)

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def client_key(self) -> Path:
        return self.dir / "client_key"

    @property
    def cafile(self) -> Path:
        """The bench's internal root CA (for `certaudit run --cafile`)."""
        return self.dir / "cafile.pem"

    @property
    def view(self) -> Path:
        return self.dir / "view"

    # ------------------------------------------------------------------ life cycle

    def __enter__(self) -> BenchFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._started:
            raise BenchError("a BenchFleet starts once")
        self._started = True
        reason = netlab.unavailable_reason()
        if reason:
            raise BenchError(f"the bench needs what the lab needs: {reason}")
        for tool in (SSHD, NGINX):
            if not os.access(tool, os.X_OK):
                raise BenchError(f"{tool} not found (make sysdeps installs it)")
        t0 = time.monotonic()
        self._install_signal_handlers()
        atexit.register(self.close)
        try:
            netlab.cleanup_stale(PREFIX)
            _cleanup_stale_cgroups()
            self.user = ensure_user()
            self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
            os.chmod(self.dir, 0o755)  # sshd reads authorized_keys as the bench user
            (self.dir / "home").mkdir(mode=0o700)
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
            self._keys()
            self._build_view()
            self._make_cgroups()
            self._start_namespace()
            self.timings["start"] = time.monotonic() - t0
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Idempotent. Signals are held off so a second Ctrl-C cannot leave half of it."""
        if self._closed or not self._started:
            return
        self._closed = True
        in_main = threading.current_thread() is threading.main_thread()
        mask = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, mask) if in_main else None
        problems = []
        try:
            if (_NS_DIR / self.netns).exists():
                survivors = kill_netns(self.netns_path)
                if survivors:
                    problems.append(f"processes would not die: {survivors}")
            if self.holder is not None:
                with contextlib.suppress(ProcessLookupError):
                    self.holder.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.holder.wait(5)
            if (_NS_DIR / self.netns).exists():
                subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30)
                if (_NS_DIR / self.netns).exists():
                    problems.append(f"netns {self.netns} still present")
            if self.cgroup_dir is not None and not _remove_cgroup(self.cgroup_dir):
                problems.append(f"cgroup {self.cgroup_dir} still present")
            if self.dir != Path() and self.dir.exists():
                shutil.rmtree(self.dir, ignore_errors=True)
        finally:
            atexit.unregister(self.close)
            self._restore_signal_handlers()
            if old is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        if problems:
            print("bench clean-up incomplete: " + "; ".join(problems), file=sys.stderr)

    # ------------------------------------------------------------------ measurements

    def host_cpu(self) -> dict[str, float]:
        """CPU seconds used so far by the host side: "sshd" (sshd, every session, every
        remote command) and "tls" (nginx)."""
        if self.cgroups:
            return {name: g.seconds() for name, g in self.cgroups.items()}
        return self._proc_cpu()

    @property
    def cpu_source(self) -> str:
        if not self.cgroups:
            return "/proc of the namespace's processes (live + reaped children)"
        g = next(iter(self.cgroups.values()))
        return f"cgroup {'v2 cpu.stat' if g.v2 else 'v1 cpuacct'} {g.path.parent}"

    def _init_pid(self) -> int | None:
        if self.holder is None:
            return None
        try:
            kids = Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text()
        except OSError:
            return None
        return int(kids.split()[0]) if kids.split() else None

    def namespace_pids(self) -> list[int]:
        """Processes of the host side (the PID namespace), its init excepted."""
        init = self._init_pid()
        if init is None:
            return []
        try:
            pidns = os.readlink(f"/proc/{init}/ns/pid")
        except OSError:
            return []
        found = []
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) != init:
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{p}/ns/pid") == pidns:
                        found.append(int(p))
        return found

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every session has ended on the host side (only sshd's listener and
        nginx are left), so that what they used is counted. False on timeout."""
        end = time.monotonic() + timeout
        while len(self.namespace_pids()) > self._idle_procs:
            if time.monotonic() > end:
                return False
            time.sleep(0.02)
        return True

    def _proc_cpu(self) -> dict[str, float]:
        """Without cgroups: utime+stime+cutime+cstime of every live process of the PID
        namespace, by the service it descends from, plus what the namespace's init reaped
        (sshd's sessions end up orphaned and are reaped by the init: counted as sshd).
        Exact once the sessions are over; a session still running counts what it used."""
        init = self._init_pid()
        totals = {"sshd": 0.0, "tls": 0.0}
        if init is None:
            return totals
        try:
            pidns = os.readlink(f"/proc/{init}/ns/pid")
        except OSError:
            return totals
        stats: dict[int, tuple[int, str, float]] = {}
        for p in os.listdir("/proc"):
            if not p.isdigit():
                continue
            try:
                if os.readlink(f"/proc/{p}/ns/pid") != pidns:
                    continue
                raw = Path(f"/proc/{p}/stat").read_bytes()
            except OSError:
                continue
            comm = raw[raw.index(b"(") + 1 : raw.rindex(b")")].decode(errors="replace")
            f = raw[raw.rindex(b")") + 2 :].split()
            if int(p) == init:  # its own time is nil (it waits); its reaped orphans are not
                totals["sshd"] += (int(f[13]) + int(f[14])) / _clk_tck()
                continue
            ticks = sum(int(x) for x in f[11:15])  # utime stime cutime cstime
            stats[int(p)] = (int(f[1]), comm, ticks / _clk_tck())
        for pid, (_, _, cpu) in stats.items():
            top = pid
            while stats[top][0] in stats:  # climb to the child of the namespace's init
                top = stats[top][0]
            totals["tls" if stats[top][1].startswith("nginx") else "sshd"] += cpu
        return totals

    # ------------------------------------------------------------------ per size

    def host_files(self, name: str) -> list[str]:
        """The certificate files a host holds, as paths on the host (what the floor and
        Ansible cat: every file the audit sends certificates from)."""
        return [*self.shared_cert_files, *(f"/srv/fleet/{name}/{f}" for f, _, _ in HOST_FILES)]

    def write_inventories(self, n: int, where: Path) -> dict[str, Path]:
        """certaudit inventory, Ansible inventory and the floor's spec for the first n hosts."""
        if not 1 <= n <= self.size:
            raise ValueError(f"{n} hosts: the fleet has {self.size}")
        assert self.user is not None
        where.mkdir(parents=True, exist_ok=True)
        names = self.names[:n]
        head = [f"# certaudit fleet bench: {n} loopback aliases of one sshd", "[fleet]"]
        tail = [
            "[fleet:vars]",
            f"ansible_user={BENCH_USER}",
            f"ansible_ssh_private_key_file={self.client_key}",
        ]
        ours = head + [
            f"{h} ansible_host={self.addresses[h]} certaudit_cert_paths=/srv/fleet/{h}"
            for h in names
        ]
        ansible = head + [f"{h} ansible_host={self.addresses[h]}" for h in names]
        ansible_vars = [
            "ansible_python_interpreter=/usr/bin/python3",
            "ansible_ssh_common_args='-o UserKnownHostsFile="
            f"{self.known_hosts} -o GlobalKnownHostsFile=/dev/null "
            "-o StrictHostKeyChecking=yes -o ControlMaster=no -o ControlPath=none'",
        ]
        paths = {
            "certaudit": where / "inventory.ini",
            "ansible": where / "ansible-inventory.ini",
            "floor": where / "floor.json",
        }
        _write(paths["certaudit"], "\n".join(ours + tail) + "\n")
        _write(paths["ansible"], "\n".join(ansible + tail + ansible_vars) + "\n")
        spec = {
            "user": BENCH_USER,
            "port": SSH_PORT,
            "key": str(self.client_key),
            "known_hosts": str(self.known_hosts),
            "tls": [[s.port, s.servername] for s in SITES],
            "hosts": [
                {"name": h, "address": self.addresses[h], "files": self.host_files(h)}
                for h in names
            ],
        }
        _write(paths["floor"], json.dumps(spec))
        return paths

    def ansible_command_text(self) -> str:
        """The ad-hoc `shell` argument: cat the same certificate files (a Jinja2 reference
        to the host's own folder)."""
        files = [*self.shared_cert_files]
        files += [f"/srv/fleet/{{{{ inventory_hostname }}}}/{f}" for f, _, _ in HOST_FILES]
        return "cat -- " + " ".join(shlex.quote(f) if "{{" not in f else f for f in files)

    # ------------------------------------------------------------------ set-up

    def _keys(self) -> None:
        private, public = _keypair("certaudit-bench-client")
        _write(self.client_key, private, 0o600)
        _write(self.dir / "authorized_keys", public + "\n", 0o644)
        host_private, host_public = _keypair("certaudit-bench-host")
        _write(self.dir / "ssh_host_ed25519_key", host_private, 0o600)
        key = host_public.rsplit(" ", 1)[0]
        _write(self.known_hosts, "".join(f"{self.addresses[h]} {key}\n" for h in self.names))
        _write(self.dir / "empty_ssh_config", b"")
        lines = [
            "# certaudit fleet bench: one sshd for every loopback alias",
            f"Port {SSH_PORT}",
            "ListenAddress 0.0.0.0",
            "AddressFamily inet",
            f"HostKey {self.dir / 'ssh_host_ed25519_key'}",
            f"PidFile {self.dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}",
            f"AllowUsers {BENCH_USER}",
            "PermitRootLogin no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "HostbasedAuthentication no",
            "UsePAM no",
            "AllowTcpForwarding yes",
            "X11Forwarding no",
            "StrictModes no",
            "LogLevel ERROR",
            "MaxStartups 4000",
            "MaxSessions 200",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "PermitUserEnvironment no",
            "LoginGraceTime 60",
            "Subsystem sftp internal-sftp",
        ]
        _write(self.dir / "sshd_config", "\n".join(lines) + "\n")

    def _build_view(self) -> None:
        assert self.user is not None
        uid = self.user.pw_uid
        now = self.now
        ca = pki.hierarchy(now, "Bench Internal")
        root_pem = ca.root.pem
        _write(self.cafile, root_pem)
        v = self.view
        v.mkdir(mode=0o755)

        # /etc/ssl: the machine's, with the internal root appended to the bundle.
        ssl_dir = v / "etc-ssl"
        if Path("/etc/ssl").is_dir():
            shutil.copytree(
                "/etc/ssl",
                ssl_dir,
                symlinks=True,
                ignore=lambda d, n: ["private"] * (d == "/etc/ssl"),
            )
        (ssl_dir / "certs").mkdir(parents=True, exist_ok=True)
        bundle = ssl_dir / "certs" / "ca-certificates.crt"
        if not bundle.is_file() or bundle.is_symlink():
            import certifi

            bundle.unlink(missing_ok=True)
            bundle.write_bytes(Path(certifi.where()).read_bytes())
        with open(bundle, "ab") as f:
            f.write(root_pem)
        (ssl_dir / "private").mkdir(mode=0o700)
        os.chown(ssl_dir / "private", uid, -1)
        self._mounts.append(("etc-ssl", "/etc/ssl"))

        ulsc = Path("/usr/local/share/ca-certificates")
        if ulsc.is_dir() and not ulsc.is_symlink():
            shutil.copytree(ulsc, v / "ulsc", symlinks=True)
            _write(v / "ulsc" / "bench-internal-root.crt", root_pem)
            self._mounts.append(("ulsc", str(ulsc)))

        nginx = v / "etc-nginx"
        (nginx / "ssl").mkdir(parents=True)
        servers = []
        for site in SITES:
            leaf = ca.leaf(site.servername, now=now, days_after=200, fresh_key=True)
            chain = leaf.pem + (ca.intermediate.pem if site.full_chain else b"")
            _write(nginx / "ssl" / f"{site.name}.pem", chain)
            _write(nginx / "ssl" / f"{site.name}.key", leaf.key_pem(), 0o600, uid)
            servers.append(
                f"    server {{\n        listen {site.port} ssl;\n"
                f"        server_name {site.servername};\n"
                f"        ssl_certificate /etc/nginx/ssl/{site.name}.pem;\n"
                f"        ssl_certificate_key /etc/nginx/ssl/{site.name}.key;\n"
                "        return 204;\n    }\n"
            )
        _write(
            nginx / "nginx.conf",
            "# certaudit fleet bench: every host's TLS listeners (one nginx for all aliases)\n"
            "worker_processes 1;\npid /srv/nginx/nginx.pid;\nerror_log stderr;\n"
            "events { worker_connections 4096; }\nhttp {\n    access_log off;\n"
            "    client_body_temp_path /srv/nginx/client_body;\n"
            "    proxy_temp_path /srv/nginx/proxy;\n    fastcgi_temp_path /srv/nginx/fastcgi;\n"
            "    uwsgi_temp_path /srv/nginx/uwsgi;\n    scgi_temp_path /srv/nginx/scgi;\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n" + "".join(servers) + "}\n",
        )
        self._mounts.append(("etc-nginx", "/etc/nginx"))

        srv = v / "srv"
        (srv / "nginx").mkdir(parents=True)
        fleet = srv / "fleet"
        fleet.mkdir()
        for i, name in enumerate(self.names):
            d = fleet / name
            d.mkdir()
            for file, days, full in HOST_FILES:
                if file == "mail.pem" and (i + 1) % EXPIRED_EVERY == 0:
                    days = -3
                cn = f"{file.split('.')[0]}.{name}.{DOMAIN}"
                leaf = pki.issue(
                    cn, now=now, issuer=ca.intermediate, days_after=days, fresh_key=True
                )
                _write(d / file, leaf.pem + (ca.intermediate.pem if full else b""))
        self._mounts.append(("srv", "/srv"))
        for d in (v, *(p for p in v.rglob("*") if p.is_dir() and not p.is_symlink())):
            if d != ssl_dir / "private":
                os.chmod(d, 0o755)

        shared: list[str] = []
        for sub, target in self._mounts:
            if target == "/srv":
                continue
            base = v / sub
            for p in sorted(base.rglob("*")):
                if p.is_symlink() or not p.is_file() or "private" in p.relative_to(base).parts:
                    continue
                with contextlib.suppress(OSError):
                    if b"-----BEGIN CERTIFICATE-----" in p.read_bytes():
                        shared.append(f"{target}/{p.relative_to(base)}")
        self.shared_cert_files = shared

    def _make_cgroups(self) -> None:
        found = _cgroup_root()
        if found is None:
            return
        root, v2 = found
        base = root / self.tag
        try:
            base.mkdir()
            self.cgroup_dir = base
            for name in ("sshd", "tls"):
                (base / name).mkdir()
                self.cgroups[name] = CpuGroup(base / name, v2)
            for g in self.cgroups.values():
                g.seconds()
        except OSError as exc:
            print(f"bench: no cgroup accounting ({exc}); using /proc", file=sys.stderr)
            self.cgroups = {}

    def _holder_script(self) -> str:
        q = shlex.quote
        lines = ["set -e"]
        for sub, target in self._mounts:
            lines.append(f"mount --bind {q(str(self.view / sub))} {q(target)}")
        lines.append("ip link set lo up")
        enter = q('if [ -n "$1" ]; then echo $$ > "$1"; fi; shift; exec "$@"')

        def start(group: str, argv: Sequence[str], log: str) -> str:
            cg = q(str(self.cgroups[group].procs)) if group in self.cgroups else "''"
            cmd = " ".join(q(a) for a in argv)
            return f"/bin/sh -c {enter} sh {cg} {cmd} >>{q(str(self.dir / log))} 2>&1 </dev/null &"

        lines.append(
            start("sshd", [SSHD, "-D", "-e", "-f", str(self.dir / "sshd_config")], "sshd.log")
        )
        nginx = [NGINX, "-e", "stderr", "-c", "/etc/nginx/nginx.conf", "-g", "daemon off;"]
        lines.append(start("tls", nginx, "nginx.log"))
        lines += ["echo ready", "wait"]
        return "\n".join(lines)

    def _start_namespace(self) -> None:
        done = subprocess.run(["ip", "netns", "add", self.netns], capture_output=True, timeout=30)
        if done.returncode != 0:
            raise BenchError(f"ip netns add: {done.stderr.decode(errors='replace').strip()}")
        with open(self.dir / "holder.log", "wb") as log:
            self.holder = subprocess.Popen(
                [
                    "nsenter",
                    f"--net={self.netns_path}",
                    "--",
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--mount-proc",
                    "--propagation",
                    "private",
                    "--",
                    "/bin/sh",
                    "-c",
                    self._holder_script(),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env=HOST_ENV,
                cwd="/",
            )
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        self.holder.stdout.close()
        if line != b"ready\n":
            raise BenchError(f"namespace set-up failed: {_tail(self.dir / 'holder.log')}")
        self._wait_ready()
        time.sleep(0.2)  # the readiness probe's own sshd child is gone by now
        self._idle_procs = len(self.namespace_pids())

    def _wait_ready(self) -> None:
        ports = [SSH_PORT, *(s.port for s in SITES)]
        probe = (
            "import socket, sys, time\n"
            f"end = time.monotonic() + {self.ready_timeout}\n"
            f"for port in {ports!r}:\n"
            "    while True:\n"
            "        try:\n"
            "            with socket.create_connection(('127.0.0.1', port), timeout=1) as s:\n"
            f"                if port == {SSH_PORT}:\n"
            "                    s.settimeout(2)\n"
            "                    assert s.recv(8).startswith(b'SSH-')\n"
            "            break\n"
            "        except (OSError, AssertionError):\n"
            "            if time.monotonic() > end:\n"
            "                sys.exit(f'port {port} not listening')\n"
            "            time.sleep(0.02)\n"
        )
        done = subprocess.run(
            ["nsenter", f"--net={self.netns_path}", "--", sys.executable, "-c", probe],
            capture_output=True,
            timeout=self.ready_timeout + 10,
        )
        if done.returncode != 0:
            raise BenchError(
                f"{done.stderr.decode(errors='replace').strip()}; sshd: "
                f"{_tail(self.dir / 'sshd.log')}; nginx: {_tail(self.dir / 'nginx.log')}"
            )

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
