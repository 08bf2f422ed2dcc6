"""Files a configuration names are opened only when they are regular files, and only the
configuration of genuine server processes is read.

Run for real under every shell and awk, as root, on this machine: a real nginx (the Debian
binary, as root, with a configuration in a temporary folder) and two fake ones, both called
nginx and started with `-c` naming a forged configuration: a Python script run as nobody,
and a copy of the Python binary run as root from a temporary folder. An Apache
configuration read as usual names traps as certificate and key files: a FIFO that tells
when it is opened, links to /proc/self/environ and /dev/zero, a folder and /.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from audit.collect.parse import Collected, parse_output
from audit.collect.script import build_script, new_nonce
from audit.model import IssueReason
from tests import pki
from tests.collect.shells import SHELLS, shell
from tests.lab.scenarios import NGINX_MAIN

NOW = pki.utcnow()
NGINX = "/usr/sbin/nginx"


@dataclass
class Traps:
    root: Path
    traps: list[str] = field(default_factory=list)
    nginx_conf: str = ""
    fake_conf: str = ""
    fakes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    real: subprocess.Popen[bytes] | None = None
    opened: list[str] = field(default_factory=list)


def _watch(path: str, opened: list[str]) -> None:
    """Open the FIFO for writing: that returns only once someone opens it for reading."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return
    opened.append(path)
    os.close(fd)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _files(t: Traps) -> None:
    r = t.root
    leaf = pki.hierarchy(NOW, name="Traps").leaf("traps.example.test", now=NOW, fresh_key=True)
    (r / "certs").mkdir()
    (r / "certs/site.pem").write_bytes(leaf.pem)
    (r / "site.key").write_bytes(leaf.key_pem())
    os.mkfifo(r / "fifo.pem")
    (r / "environ.key").symlink_to("/proc/self/environ")
    (r / "zero.pem").symlink_to("/dev/zero")
    (r / "folder").mkdir()
    t.traps = [f"{r}/fifo.pem", f"{r}/environ.key", f"{r}/zero.pem", f"{r}/folder", "/"]
    hosts = "".join(
        f"<VirtualHost *:{9443 + i}>\n  SSLEngine on\n  SSLCertificateFile {p}\n"
        f"  SSLCertificateKeyFile {p}\n</VirtualHost>\n"
        for i, p in enumerate(t.traps)
    )
    (r / "apache2.conf").write_text(f"{hosts}Include {r}/fifo.pem\n")
    (r / "srv").mkdir()
    port = _free_port()
    site = f"server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {r}/certs/site.pem; "
    site += f"ssl_certificate_key {r}/site.key; }}\n"
    (r / "srv/traps.site").write_text(site)
    main = NGINX_MAIN.replace(b"/srv/nginx", f"{r}/srv".encode())
    main = main.replace(b"/etc/nginx/sites-enabled/*.conf", f"{r}/srv/*.site".encode())
    t.nginx_conf = f"{r}/srv/nginx.conf"
    Path(t.nginx_conf).write_bytes(main)
    t.fake_conf = f"{r}/fake.conf"
    Path(t.fake_conf).write_text(
        f"http {{ server {{ listen 443 ssl; server_name forged.example.test;\n"
        f"  ssl_certificate {r}/fifo.pem; ssl_certificate_key {r}/environ.key; }} }}\n"
    )


def _start(t: Traps) -> None:
    r = t.root
    python = os.path.realpath(sys.executable)
    script = r / "nginx"
    script.write_text(f"#!{python}\nimport time\ntime.sleep(600)\n")
    script.chmod(0o755)
    copy = r / "bin/nginx"
    copy.parent.mkdir()
    shutil.copy(python, copy)
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    t.fakes = [
        subprocess.Popen([*nobody, str(script), "-c", t.fake_conf]),
        subprocess.Popen([str(copy), "-c", "import time; time.sleep(600)", "-c", t.fake_conf]),
    ]
    t.real = subprocess.Popen(
        [NGINX, "-e", "stderr", "-c", t.nginx_conf, "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    assert t.real.poll() is None, "nginx did not start"
    threading.Thread(target=_watch, args=(f"{r}/fifo.pem", t.opened), daemon=True).start()


@pytest.fixture(scope="module")
def traps() -> Iterator[Traps]:
    if os.geteuid() != 0 or not os.access(NGINX, os.X_OK) or shutil.which("setpriv") is None:
        pytest.fail("needs root, nginx and setpriv (the Makefile's DEB_PACKAGES)")
    t = Traps(Path(tempfile.mkdtemp(prefix="certaudit-traps-", dir="/tmp")))  # noqa: S108
    os.chmod(t.root, 0o755)  # nobody runs a script from here
    try:
        _files(t)
        _start(t)
        yield t
    finally:
        for proc in [*t.fakes, t.real]:
            if proc is not None:
                proc.terminate()
                proc.wait(10)
        if os.path.exists(t.root / "fifo.pem"):  # release the watcher, if still waiting
            with open(os.open(t.root / "fifo.pem", os.O_RDONLY | os.O_NONBLOCK), "rb"):
                pass
        shutil.rmtree(t.root)


@dataclass
class Run:
    stdout: bytes
    elapsed: float
    collected: Collected

    def records(self, tag: str) -> list[list[str]]:
        out = []
        for line in self.stdout.split(b"\n"):
            words = line.decode("ascii", "replace").split(" ")
            if words[0] == tag and words[-1] == ".":
                out.append([_text(w) for w in words[1:-1]])
        return out


def _text(word: str) -> str:
    try:
        return bytes.fromhex(word).decode("utf-8", "replace") if word != "-" else ""
    except ValueError:
        return word


@pytest.fixture(scope="module", params=SHELLS)
def run(
    request: pytest.FixtureRequest,
    traps: Traps,
    busybox_path: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Run:
    argv, env = shell(request.param, busybox_path, str(tmp_path_factory.getbasetemp()))
    nonce = new_nonce()
    script = build_script(
        nonce=nonce,
        roots=[str(traps.root / "certs")],
        web_configs=[("apache", f"{traps.root}/apache2.conf")],
    )
    script = script.replace(b"\nCA_PROCCONF=\n", b"\nCA_PROCCONF=1\n", 1)  # and running servers
    started = time.monotonic()
    proc = subprocess.run(argv, input=script, capture_output=True, timeout=60, env=env)
    elapsed = time.monotonic() - started
    c = parse_output("h", proc.stdout, nonce=nonce, exit_status=proc.returncode)
    return Run(proc.stdout, elapsed, c)


def test_only_genuine_servers_name_configuration(run: Run, traps: Traps) -> None:
    assert run.collected.complete, run.collected.issues
    read = {fields[1] for fields in run.records("WEBFILE")}
    assert traps.nginx_conf in read  # the Debian nginx, as root
    assert traps.fake_conf not in read
    ignored = dict(run.collected.facts).get("ignored_servers", "").split()
    assert {f"nginx:{p.pid}" for p in traps.fakes} <= set(ignored)
    names = {n for c in run.collected.tls_configs for n in c.server_names}
    assert "forged.example.test" not in names


def test_named_files_that_are_not_regular_are_never_opened(run: Run, traps: Traps) -> None:
    assert run.elapsed < 10
    roots = {fields[0]: fields[2] for fields in run.records("ROOT") if fields[1] == "c"}
    assert {p: roots.get(p) for p in traps.traps} == dict.fromkeys(traps.traps, "notfile")
    keys = {fields[0]: fields[1] for fields in run.records("KEYPUB")}
    assert {p: keys.get(p) for p in traps.traps} == dict.fromkeys(traps.traps, "notfile")
    assert keys[f"{traps.root}/site.key"] == (
        "ok" if b"FACT 6f70656e73736c 796573" in run.stdout else "noopenssl"
    )
    assert not traps.opened, "the FIFO was opened"
    issues = {(i.path, i.reason) for i in run.collected.issues}
    assert ("/", IssueReason.UNSUPPORTED) in issues
    paths = {f.location.path for f in run.collected.certificates}
    assert paths == {f"{traps.root}/certs/site.pem"}
    assert dict(run.collected.facts)["file_deadline"] == "10"
