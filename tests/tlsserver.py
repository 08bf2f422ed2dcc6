"""Real TLS (and deliberately not-TLS) servers on 127.0.0.1 for probe and `check` tests.

`TlsServer` is a threaded server on Python's `ssl`; `OpenSslServer` runs `openssl s_server`
as a second, independent implementation. Both pick a free port, are context managers and
clean up everything they started (threads, sockets, the subprocess, temporary files).

    with TlsServer([leaf, hierarchy.intermediate]) as srv:
        probe = asyncio.run(probe_direct("127.0.0.1", srv.port, "example.test"))

Modes of TlsServer:
- "tls"       handshake, then answer one HTTP request with 200
- "plaintext" an HTTP/1.1 server without TLS: reads what comes, answers 400
- "banner"    speaks first in plaintext (an SSH or SMTP banner), then waits
- "tarpit"    accepts and never sends a byte
- "trickle"   sends the start of a TLS record one byte every `trickle_interval` seconds
- "close"     accepts and closes at once
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from tests.pki import Issued

MODES = ("tls", "plaintext", "banner", "tarpit", "trickle", "close")


def _write_material(folder: Path, chain: Sequence[Issued]) -> tuple[Path, Path]:
    chain_file = folder / "chain.pem"
    key_file = folder / "key.pem"
    chain_file.write_bytes(b"".join(c.pem for c in chain))
    key_file.write_bytes(chain[0].key_pem())
    os.chmod(key_file, 0o600)
    return chain_file, key_file


class TlsServer:
    """A threaded server on 127.0.0.1 (or `address`, e.g. "::1") with a random free port.

    `chain` is leaf first, sent in that order; the leaf's key is `chain[0].key`.
    `client_ca` turns on client-certificate verification (`client_verify`, default
    CERT_REQUIRED); `ciphers="DEFAULT:@SECLEVEL=0"` lets OpenSSL serve RSA-1024, SHA-1 or
    TLS 1.0 set-ups; `min_version`/`max_version` pin the protocol.
    """

    def __init__(
        self,
        chain: Sequence[Issued] = (),
        *,
        mode: str = "tls",
        min_version: ssl.TLSVersion | None = None,
        max_version: ssl.TLSVersion | None = None,
        client_ca: Issued | None = None,
        client_verify: ssl.VerifyMode = ssl.CERT_REQUIRED,
        ciphers: str | None = None,
        alpn: Sequence[str] = (),
        banner: bytes = b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
        trickle_interval: float = 1.0,
        address: str = "127.0.0.1",
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        if mode == "tls" and not chain:
            raise ValueError("a TLS server needs a certificate chain")
        self.mode = mode
        self.chain = tuple(chain)
        self.min_version = min_version
        self.max_version = max_version
        self.client_ca = client_ca
        self.client_verify = client_verify
        self.ciphers = ciphers
        self.alpn = tuple(alpn)
        self.banner = banner
        self.trickle_interval = trickle_interval
        self.address = address
        self.port = 0
        self.errors: list[str] = []
        """Server-side handshake errors, for debugging failing tests."""
        self.connections = 0
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ctx: ssl.SSLContext | None = None

    # -- setup -----------------------------------------------------------------------

    def _context(self) -> ssl.SSLContext:
        assert self._tmp is not None
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if self.ciphers:
            ctx.set_ciphers(self.ciphers)
        with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: tests need them
            warnings.simplefilter("ignore", DeprecationWarning)
            if self.min_version is not None:
                ctx.minimum_version = self.min_version
            if self.max_version is not None:
                ctx.maximum_version = self.max_version
        chain_file, key_file = _write_material(Path(self._tmp.name), self.chain)
        ctx.load_cert_chain(chain_file, key_file)
        if self.alpn:
            ctx.set_alpn_protocols(list(self.alpn))
        if self.client_ca is not None:
            ctx.verify_mode = self.client_verify
            ctx.load_verify_locations(cadata=self.client_ca.pem.decode("ascii"))
        return ctx

    def start(self) -> TlsServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="certaudit-tls-")
        if self.mode == "tls":
            self._ctx = self._context()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.address, 0))
        sock.listen(64)
        sock.settimeout(0.1)
        self._sock = sock
        self.port = sock.getsockname()[1]
        thread = threading.Thread(
            target=self._accept_loop, name=f"tlsserver-{self.port}", daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        with self._lock:
            for conn in list(self._open):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> TlsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def target(self) -> str:
        """HOST:PORT as `certaudit check` takes it ([::1]:PORT for IPv6)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    # -- serving ---------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with self._lock:
                self._open.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            getattr(self, "_serve_" + self.mode)(conn)
        except (OSError, ssl.SSLError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _serve_tls(self, conn: socket.socket) -> None:
        assert self._ctx is not None
        tls = self._ctx.wrap_socket(conn, server_side=True)
        try:
            tls.recv(4096)  # a request, or the client going away
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        except (OSError, ssl.SSLError):
            pass
        with contextlib.suppress(OSError, ssl.SSLError):
            tls.close()

    def _serve_plaintext(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(4096)
        conn.sendall(
            b"HTTP/1.1 400 Bad Request\r\nServer: test-http\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 11\r\nConnection: close\r\n\r\nBad Request"
        )

    def _serve_banner(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)
        self._stop.wait(5)

    def _serve_tarpit(self, conn: socket.socket) -> None:
        self._stop.wait(60)

    def _serve_trickle(self, conn: socket.socket) -> None:
        # The start of a real ServerHello record, a byte at a time: it looks like TLS,
        # so a client keeps waiting for the rest.
        record = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03" + b"\x00" * 64
        for byte in record:
            if self._stop.wait(self.trickle_interval):
                return
            conn.sendall(bytes([byte]))

    def _serve_close(self, conn: socket.socket) -> None:
        conn.close()


class OpenSslServer:
    """`openssl s_server -www` on 127.0.0.1 (a second, independent TLS implementation)."""

    def __init__(
        self,
        chain: Sequence[Issued],
        *,
        client_ca: Issued | None = None,
        tls: str | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.chain = tuple(chain)
        self.client_ca = client_ca
        self.tls = tls
        self.extra_args = tuple(extra_args)
        self.address = "127.0.0.1"
        self.port = 0
        self.output: list[str] = []
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ready = threading.Event()

    @staticmethod
    def available() -> bool:
        return shutil.which("openssl") is not None

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    def start(self, timeout: float = 10.0) -> OpenSslServer:
        self._tmp = tempfile.TemporaryDirectory(prefix="certaudit-s_server-")
        folder = Path(self._tmp.name)
        leaf_file = folder / "leaf.pem"
        leaf_file.write_bytes(self.chain[0].pem)
        key_file = folder / "key.pem"
        key_file.write_bytes(self.chain[0].key_pem())
        os.chmod(key_file, 0o600)
        args = [
            "openssl",
            "s_server",
            "-accept",
            f"{self.address}:0",
            "-www",
            "-cert",
            str(leaf_file),
            "-key",
            str(key_file),
        ]
        if len(self.chain) > 1:
            extra = folder / "chain.pem"
            extra.write_bytes(b"".join(c.pem for c in self.chain[1:]))
            args += ["-cert_chain", str(extra)]
        if self.client_ca is not None:
            ca = folder / "client-ca.pem"
            ca.write_bytes(self.client_ca.pem)
            args += ["-Verify", "1", "-CAfile", str(ca)]
        if self.tls:
            args.append({"1.2": "-tls1_2", "1.3": "-tls1_3"}[self.tls])
        args += list(self.extra_args)
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # A thread reads its output from the start, so it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(timeout) or not self.port:
            output = " | ".join(self.output)
            self.stop()
            raise RuntimeError("openssl s_server did not start: " + output)
        return self

    def _drain(self) -> None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        with contextlib.suppress(ValueError, OSError):
            for line in proc.stdout:
                self.output.append(line.rstrip("\n"))
                if line.startswith("ACCEPT") and not self._ready.is_set():
                    with contextlib.suppress(ValueError):
                        self.port = int(line.strip().rsplit(":", 1)[1])
                    self._ready.set()
        self._ready.set()  # exited: let start() report it

    def stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(timeout=5)
            if self._proc.stdout is not None:
                with contextlib.suppress(OSError):
                    self._proc.stdout.close()
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> OpenSslServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
