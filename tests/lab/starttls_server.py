"""A small STARTTLS server for the lab and the probe tests: SMTP, IMAP, POP3, PostgreSQL.

    python tests/lab/starttls_server.py --protocol smtp --port 25 --cert chain.pem --key key.pem

Standard library only (it also runs inside lab hosts). `--port 0` picks a free port and
prints it on the first line of stdout. `--no-tls` makes a server that does not offer the
upgrade (SMTP without STARTTLS in EHLO, IMAP/POP3 answering NO/-ERR, PostgreSQL "N").
After the upgrade it answers one command and closes.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys


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


class Server:
    def __init__(self, protocol: str, ctx: ssl.SSLContext, offer: bool) -> None:
        self.protocol = protocol
        self.ctx = ctx
        self.offer = offer

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(getattr(self, self.protocol)(reader, writer), 30)
        except (OSError, TimeoutError, ssl.SSLError, ValueError, asyncio.IncompleteReadError):
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

    async def postgres(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readexactly(8)
        if request != b"\x00\x00\x00\x08\x04\xd2\x16\x2f":
            return
        writer.write(b"S" if self.offer else b"N")
        await writer.drain()
        if self.offer:
            await _upgrade(writer, self.ctx)
            await _after(reader, writer, b"")


async def serve(args: argparse.Namespace) -> None:
    srv = Server(args.protocol, _context(args.cert, args.key), not args.no_tls)
    server = await asyncio.start_server(srv.handle, args.address, args.port)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--protocol", choices=("smtp", "imap", "pop3", "postgres"), required=True)
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True, help="PEM chain, leaf first")
    parser.add_argument("--key", required=True)
    parser.add_argument("--no-tls", action="store_true", help="do not offer the upgrade")
    args = parser.parse_args(argv)
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
