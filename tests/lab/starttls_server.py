"""A small STARTTLS server for the lab and the probe tests: SMTP, IMAP, POP3, FTP,
PostgreSQL, LDAP, XMPP and MySQL.

    python tests/lab/starttls_server.py --protocol smtp --port 25 --cert chain.pem --key key.pem

Standard library only (it also runs inside lab hosts). `--port 0` picks a free port and
prints it on the first line of stdout. `--no-tls` makes a server that does not offer the
upgrade (SMTP without STARTTLS in EHLO, IMAP/POP3 answering NO/-ERR, FTP refusing AUTH TLS
with 502, PostgreSQL "N", LDAP answering the StartTLS request with protocolError, XMPP
features without <starttls/>, MySQL without CLIENT_SSL in its greeting). `--domain` makes
the XMPP server answer a stream addressed to any other domain with a host-unknown stream
error. After the upgrade it answers one command and closes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import ssl
import struct
import subprocess
import sys

PROTOCOLS = ("smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp", "mysql")
LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
XMPP_STREAM = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='lab1' from='%s' version='1.0'>"
)


def _context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def _upgrade(writer: asyncio.StreamWriter, ctx: ssl.SSLContext) -> None:
    await writer.start_tls(ctx)


async def _after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bye: bytes) -> None:
    try:
        await asyncio.wait_for(reader.readline(), 10)
        writer.write(bye)
        await writer.drain()
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        pass


def _ber(tag: int, content: bytes) -> bytes:
    size = len(content)
    head = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + head + content


async def _ber_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """(tag, content) of the next BER element (short or long definite length)."""
    tag, size = await reader.readexactly(2)
    if size & 0x80:
        size = int.from_bytes(await reader.readexactly(size & 0x7F), "big")
    return tag, await reader.readexactly(size)


def _ber_items(content: bytes) -> list[tuple[int, bytes]]:
    items, pos = [], 0
    while pos < len(content):
        tag, size = content[pos], content[pos + 1]
        pos += 2
        if size & 0x80:
            width = size & 0x7F
            size = int.from_bytes(content[pos : pos + width], "big")
            pos += width
        items.append((tag, content[pos : pos + size]))
        pos += size
    return items


def _mysql_greeting(offer: bool) -> bytes:
    capabilities = 0xFFFF if offer else 0xFFFF & ~0x0800  # CLIENT_SSL is 0x0800
    payload = (
        b"\x0a8.0.36-certaudit-lab\x00"
        + struct.pack("<I", 7)  # connection id
        + b"abcdefgh\x00"  # auth-plugin-data part 1, filler
        + struct.pack("<H", capabilities)
        + b"\x21"  # character set
        + struct.pack("<HH", 2, 0x81FF)  # status, upper capability flags
        + b"\x15"
        + bytes(10)
        + b"ijklmnopqrst\x00mysql_native_password\x00"
    )
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


class Server:
    def __init__(
        self, protocol: str, ctx: ssl.SSLContext, offer: bool, domain: str | None = None
    ) -> None:
        self.protocol = protocol
        self.ctx = ctx
        self.offer = offer
        self.domain = domain

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(getattr(self, self.protocol)(reader, writer), 30)
        except (
            OSError,
            TimeoutError,
            ssl.SSLError,
            ValueError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass
        finally:
            writer.close()

    async def smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mail.lab.test ESMTP certaudit-lab\r\n")
        while True:
            line = (await reader.readline()).strip().upper()
            if not line:
                return
            if line.startswith((b"EHLO", b"HELO")):
                caps = [b"mail.lab.test", b"PIPELINING", b"8BITMIME"]
                if self.offer:
                    caps.append(b"STARTTLS")
                body = b"".join(b"250-" + c + b"\r\n" for c in caps[:-1])
                writer.write(body + b"250 " + caps[-1] + b"\r\n")
            elif line == b"STARTTLS" and self.offer:
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                await writer.drain()
                await _upgrade(writer, self.ctx)
                await _after(reader, writer, b"221 2.0.0 Bye\r\n")
                return
            elif line == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                return
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            await writer.drain()

    async def imap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        caps = b"IMAP4rev1 STARTTLS" if self.offer else b"IMAP4rev1"
        writer.write(b"* OK [CAPABILITY " + caps + b"] certaudit-lab ready\r\n")
        while True:
            line = (await reader.readline()).strip()
            if not line:
                return
            tag, _, command = line.partition(b" ")
            if command.upper() == b"STARTTLS" and self.offer:
                writer.write(tag + b" OK Begin TLS negotiation now\r\n")
                await writer.drain()
                await _upgrade(writer, self.ctx)
                await _after(reader, writer, b"* BYE\r\n")
                return
            writer.write(tag + b" NO not available\r\n")
            await writer.drain()

    async def pop3(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK certaudit-lab POP3 ready\r\n")
        while True:
            line = (await reader.readline()).strip().upper()
            if not line:
                return
            if line == b"STLS" and self.offer:
                writer.write(b"+OK Begin TLS negotiation\r\n")
                await writer.drain()
                await _upgrade(writer, self.ctx)
                await _after(reader, writer, b"+OK bye\r\n")
                return
            writer.write(b"-ERR not available\r\n")
            await writer.drain()

    async def ftp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-certaudit-lab FTP server\r\nno anonymous access\r\n220 ready\r\n")
        while True:
            line = (await reader.readline()).strip().upper()
            if not line:
                return
            if line == b"AUTH TLS" and self.offer:
                writer.write(b"234 AUTH TLS successful\r\n")
                await writer.drain()
                await _upgrade(writer, self.ctx)
                await _after(reader, writer, b"221 Goodbye.\r\n")
                return
            if line.startswith(b"AUTH"):
                writer.write(b"502 Command not implemented: TLS is not configured\r\n")
            else:
                writer.write(b"530 Please login with USER and PASS.\r\n")
            await writer.drain()

    async def ldap(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tag, message = await _ber_read(reader)
        items = _ber_items(message) if tag == 0x30 else []
        if len(items) < 2 or items[1][0] != 0x77:
            return
        message_id = items[0][1]
        name = _ber_items(items[1][1])
        if not name or name[0] != (0x80, LDAP_STARTTLS_OID):
            return
        ok = self.offer
        response = (
            _ber(0x0A, b"\x00" if ok else b"\x02")
            + _ber(0x04, b"")
            + _ber(0x04, b"" if ok else b"unsupported extended operation")
            + (_ber(0x8A, LDAP_STARTTLS_OID) if ok else b"")
        )
        writer.write(_ber(0x30, _ber(0x02, message_id) + _ber(0x78, response)))
        await writer.drain()
        if ok:
            await _upgrade(writer, self.ctx)
            await _after(reader, writer, b"")

    async def xmpp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"<stream:stream")
        header = await reader.readuntil(b">")
        to = re.search(rb"\bto=['\"]([^'\"]*)['\"]", header)
        domain = to.group(1) if to else b""
        writer.write(XMPP_STREAM % (domain or b"lab.test"))
        if self.domain is not None and domain != self.domain.encode():
            writer.write(
                b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                b"</stream:error></stream:stream>"
            )
            await writer.drain()
            return
        starttls = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
        writer.write(
            b"<stream:features>"
            + (starttls if self.offer else b"")
            + b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
            b"<mechanism>PLAIN</mechanism></mechanisms></stream:features>"
        )
        await writer.drain()
        asked = await reader.readuntil(b"/>")
        if not self.offer or b"<starttls" not in asked:
            writer.write(b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
            await writer.drain()
            return
        writer.write(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await writer.drain()
        await _upgrade(writer, self.ctx)
        await _after(reader, writer, b"</stream:stream>")

    async def mysql(self, sock: socket.socket) -> None:
        """MySQL's client sends its ClientHello right after the SSLRequest, unanswered: the
        socket is read exactly (a stream reader would swallow the ClientHello), then
        handed to TLS."""
        loop = asyncio.get_running_loop()
        transport: asyncio.BaseTransport | None = None
        try:
            await loop.sock_sendall(sock, _mysql_greeting(self.offer))
            header = await _sock_read(sock, 4)
            body = await _sock_read(sock, int.from_bytes(header[:3], "little"))
            capabilities = int.from_bytes(body[:4], "little")
            if header[3] != 1 or len(body) != 32 or not capabilities & 0x0800 or not self.offer:
                return
            reader = asyncio.StreamReader()
            protocol = asyncio.StreamReaderProtocol(reader)
            transport, _ = await asyncio.wait_for(
                loop.connect_accepted_socket(lambda: protocol, sock, ssl=self.ctx), 10
            )
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)  # type: ignore[arg-type]
            await _after(reader, writer, b"")
        except (OSError, TimeoutError, ssl.SSLError, EOFError):
            pass
        finally:
            if transport is not None:
                transport.close()
            else:
                sock.close()

    async def postgres(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readexactly(8)
        if request != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
            return
        writer.write(b"S" if self.offer else b"N")
        await writer.drain()
        if self.offer:
            await _upgrade(writer, self.ctx)
            await _after(reader, writer, b"")


async def _sock_read(sock: socket.socket, size: int) -> bytes:
    """Exactly `size` bytes from a non-blocking socket, never more; EOFError when it ends."""
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        more = await asyncio.wait_for(loop.sock_recv(sock, size - len(data)), 10)
        if not more:
            raise EOFError
        data += more
    return data


async def serve_sockets(srv: Server, address: str, port: int) -> None:
    """An accept loop on a plain socket, for protocols that need exact reads."""
    loop = asyncio.get_running_loop()
    listener = socket.create_server((address, port), family=_family(address))
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    tasks: set[asyncio.Task[None]] = set()
    while True:
        sock, _ = await loop.sock_accept(listener)
        sock.setblocking(False)
        task = asyncio.ensure_future(srv.mysql(sock))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


async def serve(args: argparse.Namespace) -> None:
    srv = Server(args.protocol, _context(args.cert, args.key), not args.no_tls, args.domain)
    if args.protocol == "mysql":
        await serve_sockets(srv, args.address, args.port)
        return
    server = await asyncio.start_server(srv.handle, args.address, args.port)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def start(
    protocol: str,
    chain: str,
    key: str,
    *,
    address: str = "127.0.0.1",
    port: int = 0,
    offer: bool = True,
    domain: str | None = None,
) -> tuple[subprocess.Popen[bytes], int]:
    """Run this server as a subprocess; returns it and the port it listens on (the
    caller terminates it)."""
    argv = [sys.executable, __file__, "--protocol", protocol, "--address", address]
    argv += ["--port", str(port), "--cert", chain, "--key", key]
    argv += ([] if offer else ["--no-tls"]) + (["--domain", domain] if domain else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.wait(5)
        raise OSError(f"the {protocol} server did not start on {address}:{port}")
    return proc, int(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True, help="PEM chain, leaf first")
    parser.add_argument("--key", required=True)
    parser.add_argument("--no-tls", action="store_true", help="do not offer the upgrade")
    parser.add_argument("--domain", help="XMPP: the only domain a stream may be addressed to")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
