"""Parsers of listening sockets and web-server configuration records (collect/discovery.py).

The ss and /proc fixtures were captured on this machine (Debian 12, iproute2 6.1) in a
network namespace holding nginx (IPv4 and IPv6 wildcards on 443, 127.0.0.1:8443), a Python
listener on 127.0.0.1:6379 (Redis's port), [::1]:5432, and 0.0.0.0:25 + a v6-only [::]:25:
`ss -Htlnp` as root and as nobody, and /proc/net/tcp and tcp6.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.collect.discovery import (
    US,
    KeyDigest,
    Socket,
    WebDirective,
    build_tls_configs,
    parse_proc_tcp_line,
    parse_ss_line,
    sockets_from,
)
from audit.model import IssueReason

FIXTURES = Path(__file__).with_name("fixtures")

CAPTURED = {
    ("0.0.0.0", 443),
    ("::", 443),
    ("127.0.0.1", 8443),
    ("127.0.0.1", 6379),
    ("0.0.0.0", 25),
    ("::", 25),
    ("::1", 5432),
}


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def test_ss_as_root_has_every_socket_and_its_process() -> None:
    got = sockets_from(lines("ss_root.txt"), [], {})
    assert {(s.address, s.port) for s in got} == CAPTURED
    by = {(s.address, s.port): s.process for s in got}
    assert by[("0.0.0.0", 443)] == by[("127.0.0.1", 8443)] == "nginx"
    assert by[("127.0.0.1", 6379)] == by[("::1", 5432)] == "python3"


def test_ss_as_nobody_has_the_sockets_and_only_its_own_processes() -> None:
    got = sockets_from(lines("ss_nobody.txt"), [], {})
    assert {(s.address, s.port) for s in got} == CAPTURED
    by = {(s.address, s.port): s.process for s in got}
    assert by[("0.0.0.0", 443)] == "nginx"  # the worker runs as nobody
    assert by[("127.0.0.1", 6379)] is None


def test_proc_net_tcp_gives_the_same_sockets() -> None:
    proc = lines("proc_net_tcp.txt")[1:] + lines("proc_net_tcp6.txt")[1:]
    owners = {"359450": "nginx"}
    got = sockets_from([], proc, owners)
    assert {(s.address, s.port) for s in got} == CAPTURED
    assert {s.process for s in got if s.port == 443 and s.address == "0.0.0.0"} == {"nginx"}
    sock, inode = parse_proc_tcp_line(lines("proc_net_tcp.txt")[1]) or (None, None)
    assert sock == Socket("0.0.0.0", 443) and inode == "359450"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=512,fd=14))',
            Socket("127.0.0.53", 53, "systemd-resolve"),
        ),
        ("LISTEN 0 128 *:22 *:*", Socket("0.0.0.0", 22)),
        ("LISTEN 0 128 [::ffff:10.0.0.1]:8080 [::]:*", Socket("10.0.0.1", 8080)),
        ("LISTEN 0 128 [fe80::1%eth0]:22 [::]:*", Socket("fe80::1", 22)),
        (
            'LISTEN 0 5 0.0.0.0:631 0.0.0.0:* users:(("a \\"b\\"",pid=1,fd=3))',
            Socket("0.0.0.0", 631, 'a "b"'),
        ),
        ("State Recv-Q Send-Q Local Address:Port Peer Address:Port", None),
        ("LISTEN 0 128 0.0.0.0:99999 0.0.0.0:*", None),
        ("", None),
    ],
)
def test_ss_line_forms(line: str, expected: Socket | None) -> None:
    assert parse_ss_line(line) == expected


def test_proc_lines_that_are_not_listening_are_skipped() -> None:
    established = (
        "   1: 0105FA0A:BC46 0A05FA0A:0016 06 00000000:00000000 03:00000301 00000000     0"
        "        0 0 3 000000004a9092c1"
    )
    assert parse_proc_tcp_line(established) is None
    assert parse_proc_tcp_line("garbage") is None


@given(st.text(max_size=300))
def test_socket_parsers_never_raise(text: str) -> None:
    ss = parse_ss_line(text)
    proc = parse_proc_tcp_line(text)
    assert ss is None or 0 <= ss.port <= 65535
    assert proc is None or 0 <= proc[0].port <= 65535
    assert all(0 <= s.port <= 65535 for s in sockets_from([text], [text], {}))


# --------------------------------------------------------------------------- configuration


def directive(
    name: str, *args: str, block: str = "S", line: int = 2, file: str = "/e/site"
) -> WebDirective:
    ids = {
        "S": US.join(("S", "/e/nginx.conf", "1", file)),
        "H": US.join(("H", "/e/nginx.conf")),
        "S2": US.join(("S", "/e/nginx.conf", "9", file)),
    }
    return WebDirective("nginx", file, line, ids.get(block, block), name, tuple(args))


def test_nginx_block_with_http_level_defaults_and_key_digest() -> None:
    records = [
        directive(
            "ssl_certificate", "/etc/ssl/default.pem", block="H", line=5, file="/e/nginx.conf"
        ),
        directive(
            "ssl_certificate_key", "/etc/ssl/default.key", block="H", line=6, file="/e/nginx.conf"
        ),
        directive("listen", "443", "ssl", "default_server"),
        directive("listen", "[::]:443", "ssl", line=3),
        directive("listen", "443", "quic", line=4),
        directive("server_name", "API.example.com", "_", "~^re", "*.wild.com", ".dot.com", line=5),
        directive("listen", "80", block="S2", line=10),
        directive("server_name", "plain.example.com", block="S2", line=11),
    ]
    digests = {"/etc/ssl/default.key": KeyDigest("/etc/ssl/default.key", "ok", "ab" * 32)}
    configs, issues = build_tls_configs("h", records, digests)
    assert issues == []
    (c,) = configs  # the plain block with only inherited defaults is not TLS
    assert [(x.address, x.port, x.tls) for x in c.listens] == [("", 443, True), ("::", 443, True)]
    assert c.server_names == ("api.example.com", "dot.com")
    assert (c.cert_file, c.cert_config_file, c.cert_config_line) == (
        "/etc/ssl/default.pem",
        "/e/nginx.conf",
        5,
    )
    assert (c.key_check, c.key_sha256) == ("ok", "ab" * 32)


@pytest.mark.parametrize(
    ("status", "check", "reason"),
    [
        ("noopenssl", "no_openssl", IssueReason.UNSUPPORTED),
        ("unreadable", "unreadable", IssueReason.PERMISSION_DENIED),
        ("missing", "missing", IssueReason.READ_ERROR),
        ("failed", "failed", IssueReason.READ_ERROR),
        ("notfile", "failed", IssueReason.READ_ERROR),
    ],
)
def test_a_key_check_that_could_not_run_says_so(
    status: str, check: str, reason: IssueReason
) -> None:
    records = [
        directive("listen", "443", "ssl"),
        directive("ssl_certificate", "/c.pem", line=3),
        directive("ssl_certificate_key", "/k.pem", line=4),
    ]
    configs, issues = build_tls_configs("h", records, {"/k.pem": KeyDigest("/k.pem", status)})
    assert configs[0].key_check == check and configs[0].key_sha256 == ""
    (issue,) = issues
    assert issue.reason is reason and "KEY_MISMATCH not checked" in issue.detail


def test_a_key_path_with_a_variable_is_not_checked() -> None:
    records = [
        directive("listen", "443", "ssl"),
        directive("ssl_certificate", "/c/$ssl_server_name.pem", line=3),
        directive("ssl_certificate_key", "/c/$ssl_server_name.key", line=4),
    ]
    configs, issues = build_tls_configs("h", records, {})
    assert configs[0].key_check == "" and issues == []


def test_apache_virtual_host() -> None:
    vh = US.join(("V", "/etc/apache2/apache2.conf", "2", "/etc/apache2/sites-enabled/ssl.conf"))
    f = "/etc/apache2/sites-enabled/ssl.conf"
    records = [
        WebDirective("apache", f, 2, vh, "virtualhost", ("*:443", "[2001:db8::1]:8443")),
        WebDirective("apache", f, 3, vh, "servername", ("https:/www.example.com:443",)),
        WebDirective("apache", f, 4, vh, "sslengine", ("on",)),
        WebDirective("apache", f, 5, vh, "sslcertificatefile", ("/etc/ssl/www.pem",)),
    ]
    digests = {"/etc/ssl/www.pem": KeyDigest("/etc/ssl/www.pem", "ok", "cd" * 32)}
    (c,), issues = build_tls_configs("h", records, digests)
    assert [(x.address, x.port, x.tls) for x in c.listens] == [
        ("*", 443, True),
        ("2001:db8::1", 8443, True),
    ]
    assert c.server_names == ("www.example.com",)
    # no SSLCertificateKeyFile: Apache reads the key from the certificate file
    assert (c.key_file, c.key_check, c.key_sha256) == ("/etc/ssl/www.pem", "ok", "cd" * 32)


def test_haproxy_bind_with_sidecar_key() -> None:
    sec = US.join(("F", "/etc/haproxy/haproxy.cfg", "4", "/etc/haproxy/haproxy.cfg"))
    f = "/etc/haproxy/haproxy.cfg"
    records = [
        WebDirective("haproxy", f, 4, sec, "frontend", ("https",)),
        WebDirective(
            "haproxy", f, 5, sec, "bind", (":443,[::]:8443", "ssl", "crt", "/etc/haproxy/site.pem")
        ),
        WebDirective("haproxy", f, 6, sec, "bind", ("10.0.0.1:80",)),
    ]
    digests = {
        "/etc/haproxy/site.pem": KeyDigest("/etc/haproxy/site.pem", "failed"),
        "/etc/haproxy/site.pem.key": KeyDigest("/etc/haproxy/site.pem.key", "ok", "ef" * 32),
    }
    (c,), issues = build_tls_configs("h", records, digests)
    assert issues == []
    assert [(x.address, x.port, x.tls) for x in c.listens] == [
        ("", 443, True),
        ("::", 8443, True),
        ("10.0.0.1", 80, False),
    ]
    assert (c.cert_file, c.key_file, c.key_sha256) == (
        "/etc/haproxy/site.pem",
        "/etc/haproxy/site.pem.key",
        "ef" * 32,
    )


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["nginx", "apache", "haproxy"]),
            st.text(max_size=40),
            st.sampled_from(
                ["listen", "bind", "virtualhost", "ssl_certificate", "servername", "x"]
            ),
            st.lists(st.text(max_size=30), max_size=4),
        ),
        max_size=8,
    )
)
def test_config_builder_never_raises(records: list[tuple[str, str, str, list[str]]]) -> None:
    block = US.join(("S", "/m", "1", "/f"))
    build_tls_configs(
        "h",
        [
            WebDirective(srv, "/f", 1, blk or block, name, tuple(args))
            for srv, blk, name, args in records
        ],
        {},
    )


def test_markers_the_host_sent_instead_of_arguments() -> None:
    """An inline key, an engine or PKCS#11 URI, or an argument that is not known to be
    public arrives as a marker (remote.sh pub_path / pub_like): never a listen address, a
    name, or a key file to check."""
    records = [
        directive("listen", "<not sent>", "ssl"),
        directive("listen", "443", "ssl", "<not sent>", line=3),
        directive("server_name", "<not sent>", "site.example.test", line=4),
        directive("ssl_certificate", "data:", line=5),
        directive("ssl_certificate_key", "pkcs11:", line=6),
    ]
    (c,), issues = build_tls_configs("h", records, {})
    assert issues == []
    assert [(x.address, x.port, x.tls) for x in c.listens] == [("", 443, True)]
    assert c.server_names == ("site.example.test",)
    assert (c.cert_file, c.key_file, c.key_check) == ("data:", "pkcs11:", "")
