"""parse_output on synthetic frames: the contract is "never raises, errors are data"."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.collect.parse import Collected, display, parse_output
from audit.collect.script import build_script, shell_quote
from audit.model import IssueReason
from tests import pki

NOW = dt.datetime(2031, 3, 14, 12, 0, tzinfo=dt.UTC)
NONCE = "0123456789abcdef0123456789abcdef"
H = pki.hierarchy(NOW, name="Parse")
LEAF = H.leaf("www.example.test", now=NOW)


def hx(value: str | bytes) -> str:
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    return raw.hex() or "-"


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def frame(*records: str, count: int | None = None, nonce: str = NONCE) -> bytes:
    body = "".join(r + "\n" for r in records)
    n = len(records) if count is None else count
    return f"BEGIN-{nonce}\n{body}END-{nonce} {n}\n".encode()


def pem(path: str | bytes, der: bytes, n: int = 0, tag: str = "PEM") -> str:
    return f"{tag} {hx(path)} {n} CERTIFICATE {b64(der)} ."


def parse(data: bytes, **kw: object) -> Collected:
    return parse_output("web1", data, nonce=NONCE, **kw)  # type: ignore[arg-type]


def kinds(c: Collected) -> dict[str, str]:
    return {f.location.path: f.location.kind for f in c.certificates}


# --- framing -----------------------------------------------------------------------------


def test_a_clean_frame_is_complete() -> None:
    c = parse(frame(pem("/etc/nginx/site.pem", LEAF.der), f"FACT {hx('uid')} {hx('0')} ."))
    assert c.complete and c.issues == ()
    assert [f.location.path for f in c.certificates] == ["/etc/nginx/site.pem"]
    assert c.facts == (("uid", "0"),)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "no output frame"),
        (b"Last login: yesterday\n", "no output frame"),
        (frame(pem("/a.pem", LEAF.der))[:-12], "ends before the END line"),
        (frame(pem("/a.pem", LEAF.der), count=2), "announces 2 records, 1 arrived"),
        (frame(pem("/a.pem", LEAF.der))[:-1], "END line of the output frame is cut"),
        (frame(pem("/a.pem", LEAF.der), nonce="f" * 32), "no output frame"),
    ],
)
def test_a_broken_frame_is_incomplete(data: bytes, why: str) -> None:
    c = parse(data, exit_status=None)
    assert not c.complete
    truncated = [i for i in c.issues if i.reason is IssueReason.TRUNCATED]
    assert len(truncated) == 1 and why in truncated[0].detail


def test_records_before_a_cut_are_kept_but_a_half_record_is_not() -> None:
    whole = frame(pem("/a.pem", LEAF.der), pem("/b.pem", LEAF.der))
    cut = whole[: whole.index(b"PEM 2f622e70656d") + 60]
    c = parse(cut)
    assert not c.complete
    assert [f.location.path for f in c.certificates] == ["/a.pem"]


def test_noise_before_and_glued_to_the_frame_is_ignored() -> None:
    data = b"motd\nBEGIN-fake\nPEM forged\nno newline" + frame(pem("/a.pem", LEAF.der))
    c = parse(data)
    assert c.complete and [f.location.path for f in c.certificates] == ["/a.pem"]


def test_sudo_asking_for_a_password_is_privilege_unavailable() -> None:
    c = parse(b"", exit_status=1, stderr=b"sudo: a password is required\n")
    assert not c.complete
    reasons = {i.reason for i in c.issues}
    assert reasons == {IssueReason.TRUNCATED, IssueReason.PRIVILEGE_UNAVAILABLE}


def test_output_cap_and_exit_status() -> None:
    c = parse(frame(pem("/a.pem", LEAF.der)), truncated=True)
    assert not c.complete and IssueReason.OUTPUT_CAP in {i.reason for i in c.issues}
    c = parse(frame(pem("/a.pem", LEAF.der)), exit_status=3)
    assert c.complete
    assert [i.detail for i in c.issues] == ["collection script exited with status 3"]


def test_unknown_or_malformed_lines_are_counted_not_trusted() -> None:
    c = parse(frame("HELLO world .", "PEM zz 0 CERTIFICATE AAAA .", pem("/a.pem", LEAF.der)))
    assert c.complete and len(c.certificates) == 1
    assert [i.detail for i in c.issues] == [
        "2 output lines were not understood and were left out (PEM 1, other 1)"
    ]


# --- what records mean -------------------------------------------------------------------


def test_location_kinds() -> None:
    root_pem = H.root.der
    c = parse(
        frame(
            f"BUNDLE {hx('/etc/ssl/certs/ca-certificates.crt')} .",
            pem("/etc/ssl/certs/ca-certificates.crt", root_pem),
            pem("/etc/ssl/certs/ssl-cert-snakeoil.pem", LEAF.der),  # a leaf, not a CA
            pem("/etc/pki/ca-trust/source/anchors/corp.pem", root_pem),
            pem("/etc/letsencrypt/archive/site/cert1.pem", LEAF.der),
            pem("/etc/letsencrypt/archive/site/cert2.pem", LEAF.der),
            f"LINK {hx('/etc/letsencrypt/live/site/cert.pem')} "
            f"{hx('/etc/letsencrypt/archive/site/cert2.pem')} f .",
            pem("/etc/kubernetes/admin.conf", LEAF.der, tag="KPEM"),
        )
    )
    assert kinds(c) == {
        "/etc/ssl/certs/ca-certificates.crt": "ca_bundle",
        "/etc/ssl/certs/ssl-cert-snakeoil.pem": "file",
        "/etc/pki/ca-trust/source/anchors/corp.pem": "ca_bundle",
        "/etc/letsencrypt/archive/site/cert1.pem": "archive",
        "/etc/letsencrypt/archive/site/cert2.pem": "file",
        "/etc/letsencrypt/live/site/cert.pem": "file",
        "/etc/kubernetes/admin.conf": "kubeconfig",
    }
    assert c.ca_bundles == ("/etc/ssl/certs/ca-certificates.crt",)


def test_symlinked_root_adds_the_name_the_user_gave() -> None:
    c = parse(
        frame(
            f"ROOT {hx('/etc/nginx')} d scan .",
            f"LINK {hx('/etc/nginx')} {hx('/srv/nginx')} d .",
            pem("/srv/nginx/ssl/site.pem", LEAF.der),
        )
    )
    assert set(kinds(c)) == {"/srv/nginx/ssl/site.pem", "/etc/nginx/ssl/site.pem"}


def test_bundle_indexes_count_every_block_in_order() -> None:
    c = parse(
        frame(
            pem("/b.pem", LEAF.der, 0),
            "BAD " + hx("/b.pem") + " 1 unterminated .",
            pem("/b.pem", H.intermediate.der, 2),
            pem("/b.pem", LEAF.der, 0),  # the same file again under an overlapping root
        )
    )
    assert [(f.location.index, f.cert.common_name) for f in c.certificates] == [
        (0, "www.example.test"),
        (2, "Parse Intermediate CA"),
    ]
    assert [(u.index, u.reason.split(";")[0]) for u in c.unparseable] == [
        (1, "BEGIN CERTIFICATE without a matching END line")
    ]


def test_der_pkcs7_and_hex_encoding() -> None:
    p7 = pki.pkcs7_bundle(LEAF, H.intermediate, pem=False)
    c = parse(
        frame(
            f"DER {hx('/x.der')} cert hex {LEAF.der.hex()} 1 .",
            f"DER {hx('/x.p7c')} p7 b64 {b64(p7)} 0 .",
        )
    )
    by_path = {}
    for f in c.certificates:
        by_path.setdefault(f.location.path, []).append(f)
    assert [f.location.format for f in by_path["/x.der"]] == ["der"]
    assert any("trailing bytes" in w for w in by_path["/x.der"][0].cert.warnings)
    assert sorted(f.location.format for f in by_path["/x.p7c"]) == ["pkcs7", "pkcs7"]


def test_keys_and_issues() -> None:
    c = parse(
        frame(
            f"FACT {hx('max_file_bytes')} {hx('1000')} .",
            f"KEY {hx('/etc/ssl/private/a.key')} pem-key {hx('root')} {hx('ssl-cert')} 640 .",
            f"KEY {hx('/etc/x.p12')} pkcs12 - - - .",
            f"BIG {hx('/etc/ssl/huge.crt')} .",
            f"TOOMANY {hx('/etc/kubernetes')} 20000 .",
            f"DENIED {hx('/etc/ssl/private/b.pem')} .",
            f"UNSUP {hx('od')} .",
            f"ROOT {hx('/srv/missing.pem')} x missing .",
            f"ROOT {hx('/etc/pki')} d missing .",
            f"ERR {hx('/etc/ssl')} "
            + hx(
                "find: '/etc/ssl/private': Permission denied\n"
                "find: /etc/ssl/other: Permission denied\n"
                "find: '/etc/ssl/gone': No such file or directory\n"
            )
            + " .",
        )
    )
    key = c.key_files[0]
    assert (key.path, key.owner, key.group, key.mode, key.kind) == (
        "/etc/ssl/private/a.key",
        "root",
        "ssl-cert",
        0o640,
        "pem-key",
    )
    assert key.exposed
    assert c.key_files[1].kind == "pkcs12" and c.key_files[1].mode == 0
    got = {(i.reason, i.path) for i in c.issues}
    assert got == {
        (IssueReason.READ_ERROR, "/etc/x.p12"),
        (IssueReason.TOO_LARGE, "/etc/ssl/huge.crt"),
        (IssueReason.TOO_MANY_FILES, "/etc/kubernetes"),
        (IssueReason.PERMISSION_DENIED, "/etc/ssl/private/b.pem"),
        (IssueReason.UNSUPPORTED, ""),
        (IssueReason.READ_ERROR, "/srv/missing.pem"),
        (IssueReason.PERMISSION_DENIED, "/etc/ssl/private"),
        (IssueReason.PERMISSION_DENIED, "/etc/ssl/other"),
        (IssueReason.READ_ERROR, "/etc/ssl"),
    }
    big = next(i for i in c.issues if i.reason is IssueReason.TOO_LARGE)
    assert "1000" in big.detail


def test_names_are_displayed_escaped() -> None:
    assert display(b"/etc/ssl/\xff\n-x//y") == "/etc/ssl/\\xff\\x0a-x/y"
    assert display("/é".encode()) == "/é"
    c = parse(frame(pem(b"/a/\xff\x1b[31m.pem", LEAF.der)))
    assert c.certificates[0].location.path == "/a/\\xff\\x1b[31m.pem"


# --- build_script ------------------------------------------------------------------------


def test_shell_quote_and_build_script_refuse_what_cannot_be_passed() -> None:
    assert shell_quote("it's $(x)") == b"'it'\\''s $(x)'"
    with pytest.raises(ValueError):
        build_script(nonce=NONCE, extra_paths=["/a\x00b"])
    with pytest.raises(ValueError):
        build_script(nonce="short")
    with pytest.raises(ValueError):
        build_script(nonce="x; reboot #" + "a" * 20)
    with pytest.raises(ValueError):
        build_script(nonce=NONCE, max_file_bytes=0)


# --- the contract: never raises ----------------------------------------------------------

_TAGS = [
    "FACT",
    "UNSUP",
    "BUNDLE",
    "ROOT",
    "LINK",
    "PEM",
    "KPEM",
    "BAD",
    "DER",
    "BADDER",
    "KEY",
    "BIG",
    "TOOMANY",
    "DENIED",
    "RERR",
    "ERR",
    "END-" + NONCE,
    "BEGIN-" + NONCE,
]
_TOKENS = st.one_of(
    st.sampled_from(
        [
            "-",
            ".",
            "0",
            "1",
            "d",
            "f",
            "x",
            "b64",
            "hex",
            "cert",
            "p7",
            "scan",
            "CERTIFICATE",
            "TRUSTED_CERTIFICATE",
            "PKCS7",
            "640",
            "pem-key",
            "missing",
            "unterminated",
            hx("/etc/ssl/a.pem"),
            hx("/etc/letsencrypt/archive/a"),
            b64(LEAF.der),
            LEAF.der.hex(),
            b64(LEAF.der)[:50],
            "zz",
            "2f",
        ]
    ),
    st.text(alphabet="0123456789abcdef", max_size=12),
    st.text(max_size=8),
)
_LINES = st.builds(
    lambda tag, fields: " ".join([tag, *fields]),
    st.sampled_from(_TAGS),
    st.lists(_TOKENS, max_size=7),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.booleans(), st.sampled_from([0, 1, None, -9]))
def test_random_bytes_never_raise(data: bytes, truncated: bool, status: int | None) -> None:
    c = parse_output("h", data, nonce=NONCE, truncated=truncated, exit_status=status, stderr=data)
    assert isinstance(c, Collected) and not c.complete


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_LINES, max_size=12), st.one_of(st.none(), st.integers(-1, 20)))
def test_random_records_inside_a_frame_never_raise(lines: list[str], count: int | None) -> None:
    data = frame(*lines, count=count)
    c = parse(data)
    assert isinstance(c, Collected)
    for found in c.certificates:
        assert found.location.host == "web1"


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200), st.text(max_size=40))
def test_odd_arguments_never_raise(data: bytes, nonce: str) -> None:
    c = parse_output("h", data, nonce=nonce)
    assert isinstance(c, Collected)
