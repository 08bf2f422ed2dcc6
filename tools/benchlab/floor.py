"""The bare floor: what any SSH-based certificate collection must at least do, nothing more.

    python -m tools.benchlab.floor SPEC.json [--concurrency 64]

Per host, at the same concurrency as the audit: one asyncssh connection (host key checked
against the same known_hosts, key login), ONE remote command that `cat`s the host's
certificate files, cryptography's `load_pem_x509_certificates` over what came back, and
one TLS handshake per TLS listener through the same connection (direct-tcpip, as the
audit probes), its leaf parsed. No discovery, no analysis, no history, no reports.
Prints one JSON object on stdout (counts; the bench measures time and CPU from outside).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import ssl
import sys
import time
import warnings
from typing import Any

import asyncssh
from cryptography import x509


async def _handshake(conn: asyncssh.SSHClientConnection, port: int, name: str) -> bytes:
    reader, writer = await conn.open_connection("127.0.0.1", port)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    writer.write(pending)
                data = await reader.read(65536)
                if not data:
                    raise ConnectionError("the listener closed during the handshake") from None
                incoming.write(data)
        pending = outgoing.read()
        if pending:
            writer.write(pending)
        der = tls.getpeercert(binary_form=True)
        if der is None:
            raise ConnectionError("no certificate")
        return der
    finally:
        writer.close()


async def _one(
    host: dict[str, Any],
    spec: dict[str, Any],
    known: asyncssh.SSHKnownHosts,
    key: asyncssh.SSHKey,
    gate: asyncio.Semaphore,
    totals: dict[str, Any],
) -> None:
    async with gate:
        try:
            async with asyncssh.connect(
                host["address"],
                port=spec["port"],
                username=spec["user"],
                client_keys=[key],
                known_hosts=known,
                config=[],
                agent_path=None,
                preferred_auth="publickey",
                connect_timeout=10,
            ) as conn:
                command = "cat -- " + " ".join(shlex.quote(f) for f in host["files"])
                done = await conn.run(command, encoding=None, check=False)
                out = done.stdout if isinstance(done.stdout, bytes) else b""
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    certs = x509.load_pem_x509_certificates(out)
                for port, name in spec["tls"]:
                    x509.load_der_x509_certificate(await _handshake(conn, port, name))
                    totals["handshakes"] += 1
        except Exception as exc:  # counted and shown, never fatal
            totals["failed"] += 1
            if len(totals["errors"]) < 5:
                totals["errors"].append(f"{host['name']}: {type(exc).__name__}: {exc}")
            return
        totals["ok"] += 1
        totals["certs"] += len(certs)
        totals["bytes"] += len(out)


async def _main(spec: dict[str, Any], concurrency: int) -> dict[str, Any]:
    known = asyncssh.read_known_hosts(spec["known_hosts"])
    key = asyncssh.read_private_key(spec["key"])
    gate = asyncio.Semaphore(concurrency)
    totals: dict[str, Any] = {
        "hosts": len(spec["hosts"]),
        "ok": 0,
        "failed": 0,
        "certs": 0,
        "handshakes": 0,
        "bytes": 0,
        "errors": [],
    }
    t0 = time.perf_counter()
    await asyncio.gather(*(_one(h, spec, known, key, gate, totals) for h in spec["hosts"]))
    totals["wall"] = time.perf_counter() - t0
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchlab.floor", description=__doc__)
    parser.add_argument("spec")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args(argv)
    with open(args.spec) as f:
        spec = json.load(f)
    totals = asyncio.run(_main(spec, args.concurrency))
    json.dump(totals, sys.stdout)
    print()
    return 0 if totals["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
