"""One odd record costs that record, never the host.

Every byte of the collection output comes from the host, so every field of a well-framed
record may be hostile: a Unicode digit where a number belongs (`listen ²;`, which
str.isdigit() accepts and int() refuses), a number of 5,000 digits (beyond int()'s limit),
text that is not hex, separators in odd places. Each parser (parse.py, discovery.py) keeps
every good record around a bad one and states the bad one as an issue.
"""

from __future__ import annotations

import base64
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.collect.discovery import (
    US,
    WebDirective,
    build_tls_configs,
    parse_block,
    parse_ss_line,
    sockets_from,
)
from audit.collect.parse import Collected, parse_output
from audit.model import IssueReason
from tests import pki

NOW = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)
NONCE = "0123456789abcdef0123456789abcdef"
H = pki.hierarchy(NOW, name="Hostile records")
CERTS = [H.leaf(f"n{i}.example.test", now=NOW) for i in range(3)]
HUGE = "9" * 5000
ODD_NUMBERS = ["²", "٣", "１", HUGE, "-1", "1e3", "0x1bb", "443 ", "", "99999", "4\u200b43"]


def hx(text: str | bytes) -> str:
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return raw.hex() or "-"


def frame(records: list[str]) -> bytes:
    body = "".join(r + "\n" for r in records)
    return f"BEGIN-{NONCE}\n{body}END-{NONCE} {len(records)}\n".encode()


def pem_record(i: int) -> str:
    der = CERTS[i].der
    return f"PEM {hx(f'/etc/ssl/good{i}.pem')} 0 CERTIFICATE {base64.b64encode(der).decode()} ."


def block(kind: str, main: str, line: str, file: str) -> str:
    return US.join((kind, main, line, file))


def web_record(file: str, line: int, blk: str, name: str, *args: str) -> str:
    return f"WEB nginx {hx(file)} {line} {hx(blk)} {hx(name)} {hx(US.join(args))} ."


def good_site(i: int) -> list[str]:
    """An nginx server block listening on 44i (TLS) with its certificate and key."""
    f = f"/etc/nginx/good{i}.conf"
    b = block("S", "/etc/nginx/nginx.conf", "1", f)
    return [
        web_record(f, 2, b, "listen", f"44{i}", "ssl"),
        web_record(f, 3, b, "server_name", f"n{i}.example.test"),
        web_record(f, 4, b, "ssl_certificate", f"/etc/ssl/good{i}.pem"),
    ]


def ss_record(port: int) -> str:
    return f"SS {hx(f'LISTEN 0 511 0.0.0.0:{port} 0.0.0.0:*')} ."


GOOD = [pem_record(i) for i in range(3)] + [ss_record(p) for p in (22, 443, 8443)]
GOOD += [r for i in range(3) for r in good_site(i)]


def assert_good_kept(c: Collected) -> None:
    assert {f.location.path for f in c.certificates} >= {f"/etc/ssl/good{i}.pem" for i in range(3)}
    assert {(s.address, s.port) for s in c.sockets} >= {("0.0.0.0", p) for p in (22, 443, 8443)}
    files = {cfg.file: cfg for cfg in c.tls_configs}
    for i in range(3):
        cfg = files[f"/etc/nginx/good{i}.conf"]
        assert [(x.port, x.tls) for x in cfg.listens] == [(440 + i, True)]
        assert cfg.cert_file == f"/etc/ssl/good{i}.pem"
        assert cfg.server_names == (f"n{i}.example.test",)
    assert IssueReason.TRUNCATED not in {i.reason for i in c.issues}, c.issues


def parse(records: list[str]) -> Collected:
    return parse_output("h", frame(records), nonce=NONCE)


# --- one odd value each ----------------------------------------------------------------


def test_a_unicode_digit_in_a_listen_line_costs_that_directive() -> None:
    f = "/etc/nginx/odd.conf"
    b = block("S", "/etc/nginx/nginx.conf", "1", f)
    odd = [web_record(f, 2, b, "listen", "²", "ssl"), web_record(f, 3, b, "listen", HUGE)]
    odd += [web_record(f, 4, b, "listen", "[::]:²"), web_record(f, 5, b, "listen", "*:" + HUGE)]
    odd += [web_record(f, 6, b, "listen", "9443", "ssl")]
    c = parse(GOOD[:4] + odd + GOOD[4:])
    assert_good_kept(c)
    assert c.complete
    odd_cfg = next(cfg for cfg in c.tls_configs if cfg.file == f)
    assert [x.port for x in odd_cfg.listens] == [9443]
    (issue,) = c.issues  # the four odd listen lines, each named
    assert issue.reason is IssueReason.READ_ERROR
    assert "4 web-server configuration directive(s)" in issue.detail
    assert all(f"{f}:{n}" in issue.detail for n in (2, 3, 4, 5))


def test_odd_numbers_in_every_numeric_field() -> None:
    for number in ODD_NUMBERS:
        f = "/etc/nginx/odd.conf"
        odd = [
            web_record(f, 2, block("S", "/m", number, f), "listen", "443", "ssl"),
            f"SS {hx(f'LISTEN 0 511 0.0.0.0:{number} 0.0.0.0:*')} .",
            f"SS {hx(f'LISTEN 0 511 [::]:{number} [::]:*')} .",
            f"TCP 4 {hx(f'0: 00000000:{number} 00000000:0000 0A')} .",
            f"SOCK {number.encode().hex()} 1 {hx('nginx')} .",
            f"PEM {hx('/etc/ssl/odd.pem')} {number} CERTIFICATE AAAA .",
            f"TOOMANY {hx('/etc/ssl')} {number} .",
            f"WEB nginx {hx(f)} {number} {hx(block('S', '/m', '1', f))} {hx('listen')} 343433 .",
        ]
        c = parse(odd + GOOD)
        assert_good_kept(c)
        assert c.issues, number  # what was left out is said


def test_a_huge_count_on_the_end_line_is_a_cut_frame_not_a_crash() -> None:
    data = frame(GOOD).replace(f"END-{NONCE} {len(GOOD)}".encode(), f"END-{NONCE} {HUGE}".encode())
    c = parse_output("h", data, nonce=NONCE)
    assert not c.complete
    assert len(c.certificates) == 3 and len(c.sockets) == 3 and len(c.tls_configs) == 3


def test_block_ids_and_ss_lines_with_odd_digits() -> None:
    assert parse_block(US.join(("S", "/m", "²", "/f"))) is None
    assert parse_block(US.join(("S", "/m", HUGE, "/f"))) is None
    assert parse_ss_line("LISTEN 0 128 0.0.0.0:² 0.0.0.0:*") is None
    assert parse_ss_line(f"LISTEN 0 128 0.0.0.0:{HUGE} 0.0.0.0:*") is None
    assert parse_ss_line('LISTEN 0 128 0.0.0.0:443 0.0.0.0:* users:(("x",pid=²,fd=3))') is not None


# --- record-level fuzzing ----------------------------------------------------------------

_TEXT = st.one_of(
    st.sampled_from(ODD_NUMBERS + ["ssl", "443", "[::]:443", "*:443", "unix:/x", US, "a" + US]),
    st.text(max_size=12),
    st.text(alphabet="0123456789²٣１:[]*.", max_size=8),
)
_HEX = st.one_of(_TEXT.map(hx), st.sampled_from(["-", "zz", "0", "f", "2f" * 3]))
_NUM = st.one_of(st.sampled_from(ODD_NUMBERS).map(lambda s: s.replace(" ", "")), st.integers(0, 99))
_BLOCK = st.one_of(
    st.builds(
        lambda k, n: block(k, "/hostile/main", n, "/hostile/site"), st.sampled_from("SVFH"), _TEXT
    ),
    _TEXT,
)
_NAMES = st.sampled_from(
    [
        "listen",
        "server_name",
        "ssl",
        "ssl_certificate",
        "ssl_certificate_key",
        "virtualhost",
        "bind",
        "servername",
        "sslengine",
        "sslcertificatefile",
        "include",
        "frontend",
    ]
)


def _web(server: str, line: object, blk: str, name: str, args: list[str]) -> str:
    site = "/hostile/site"
    return f"WEB {server} {hx(site)} {line} {hx(blk)} {hx(name)} {hx(US.join(args))} ."


_RECORDS = st.one_of(
    st.builds(
        _web,
        st.sampled_from(["nginx", "apache", "haproxy"]),
        _NUM,
        _BLOCK,
        _NAMES,
        st.lists(_TEXT, max_size=4),
    ),
    st.builds(lambda t: f"SS {hx(t)} .", st.builds("LISTEN 0 1 {}:{} x".format, _TEXT, _TEXT)),
    st.builds(lambda f, t: f"TCP {f} {hx(t)} .", st.sampled_from("46x"), _TEXT),
    st.builds(lambda a, b, c: f"SOCK {a} {b} {c} .", _NUM, _NUM, _HEX),
    st.builds(
        lambda n, lab: f"PEM {hx('/hostile.pem')} {n} {lab} AAAA .",
        _NUM,
        st.sampled_from(["CERTIFICATE", "PKCS7", "X"]),
    ),
    st.builds(
        lambda k, s, d: f"KEYPUB {k} {s} {d} .", _HEX, st.sampled_from(["ok", "notfile", "x"]), _HEX
    ),
    st.builds(
        lambda p, t, s: f"ROOT {p} {t} {s} .",
        _HEX,
        st.sampled_from("dxc"),
        st.sampled_from(["scan", "notfile", "odd"]),
    ),
    st.builds(lambda p, n: f"TOOMANY {p} {n} .", _HEX, _NUM),
    st.builds(lambda k, v: f"FACT {k} {v} .", _HEX, _HEX),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RECORDS, min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_hostile_records_never_cost_the_good_ones(bad: list[str], rnd) -> None:
    records = list(GOOD)
    for r in bad:
        records.insert(rnd.randint(0, len(records)), r)
    c = parse(records)
    assert c.complete
    assert_good_kept(c)


_DIRECTIVES = st.builds(
    lambda server, line, blk, name, args: WebDirective(
        server, "/hostile/site", line, blk, name, tuple(args)
    ),
    st.sampled_from(["nginx", "apache", "haproxy"]),
    st.integers(0, 10**6),
    _BLOCK,
    _NAMES,
    st.lists(_TEXT, max_size=4),
)


def _good_directives() -> list[WebDirective]:
    out = []
    for i in range(3):
        f = f"/etc/nginx/good{i}.conf"
        b = block("S", "/etc/nginx/nginx.conf", "1", f)
        out += [
            WebDirective("nginx", f, 2, b, "listen", (f"44{i}", "ssl")),
            WebDirective("nginx", f, 4, b, "ssl_certificate", (f"/etc/ssl/good{i}.pem",)),
        ]
    return out


@settings(max_examples=400, deadline=None)
@given(st.lists(_DIRECTIVES, max_size=8))
def test_config_builder_keeps_good_blocks_beside_hostile_ones(bad: list[WebDirective]) -> None:
    configs, _ = build_tls_configs("h", [*bad, *_good_directives()], {})
    files = {c.file: c for c in configs}
    for i in range(3):
        assert [x.port for x in files[f"/etc/nginx/good{i}.conf"].listens] == [440 + i]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.builds("LISTEN 0 1 {}:{} x {}".format, _TEXT, _TEXT, _TEXT), max_size=8))
def test_socket_lines_keep_good_ones_beside_hostile_ones(bad: list[str]) -> None:
    good = ["LISTEN 0 511 0.0.0.0:22 0.0.0.0:*", "LISTEN 0 511 [::]:443 [::]:*"]
    got = sockets_from([*bad, *good], [*bad], {})
    assert {("0.0.0.0", 22), ("::", 443)} <= {(s.address, s.port) for s in got}
    assert all(0 < s.port < 65536 for s in got)
