"""metrics.prom: a valid, deterministic textfile with x509-certificate-exporter's names."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from audit.report.prometheus import escape_label, render_metrics
from tests.report import sample as sample_module

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
SERIES = re.compile(
    rf"^(?P<name>{_NAME})(?:\{{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE}"
    rf"(?:,[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})*)\}})? (?P<value>-?[0-9.e+]+|NaN)$"
)
LABEL = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_LABEL_VALUE})")
EXPORTER_LABELS = {
    "serial_number",
    "filepath",
    "filename",
    "subject_CN",
    "issuer_CN",
    "subject_O",
    "issuer_O",
}


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value[1:-1])


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """A strict reader of the text exposition format (what node_exporter accepts)."""
    assert text.endswith("\n") and "\r" not in text
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: set[str] = set()
    current = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            current = line.split(" ", 3)[2]
            assert current not in families, f"{current} declared twice"
            families[current] = []
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            # counters are exactly the *_total families, as Prometheus naming requires
            assert name == current and kind == ("counter" if name.endswith("_total") else "gauge")
            typed.add(name)
            continue
        m = SERIES.match(line)
        assert m, f"not a valid series line: {line!r}"
        assert m.group("name") == current and current in typed
        labels = {k: unescape(v) for k, v in LABEL.findall(m.group("labels") or "")}
        families[current].append((labels, float(m.group("value"))))
    return families


@pytest.fixture(scope="module")
def text(sample: sample_module.Sample) -> str:
    return render_metrics(sample.result).decode("utf-8")


def test_valid_exposition_and_no_duplicates(text: str) -> None:
    families = parse(text)
    for name, series in families.items():
        keys = [tuple(sorted(labels.items())) for labels, _ in series]
        assert len(keys) == len(set(keys)), f"duplicate series in {name}"
    assert set(families) >= {
        "x509_cert_not_after",
        "x509_cert_not_before",
        "x509_cert_expired",
        "x509_read_errors",
        "certaudit_findings",
        "certaudit_host_up",
        "certaudit_run_timestamp_seconds",
    }


def test_certificate_series(text: str, sample: sample_module.Sample) -> None:
    families = parse(text)
    not_after = families["x509_cert_not_after"]
    assert all(EXPORTER_LABELS <= set(labels) and "host" in labels for labels, _ in not_after)
    wildcard = [(lb, v) for lb, v in not_after if lb["subject_CN"] == "*.example.com"]
    assert len(wildcard) == 5  # every place it lives
    assert {v for _, v in wildcard} == {sample.certs["wildcard"].not_after.timestamp()}
    assert {lb["serial_number"] for lb, _ in wildcard} == {
        str(0x2001)
    }  # decimal, like the exporter
    assert {lb["issuer_CN"] for lb, _ in wildcard} == {"Example Intermediate CA"}
    served = [lb for lb, _ in wildcard if lb["kind"] == "listener"]
    assert {lb["filepath"] for lb in served} == {"10.0.0.11:443", "10.0.0.21:443"}
    assert {lb["servername"] for lb in served} == {"www.example.com"}
    expired = {lb["subject_CN"]: v for lb, v in families["x509_cert_expired"]}
    assert expired["old.example.com"] == 1 and expired["*.example.com"] == 0
    assert (
        len(families["x509_cert_not_before"])
        == len(not_after)
        == len(families["x509_cert_expired"])
    )


def test_host_and_finding_series(text: str, sample: sample_module.Sample) -> None:
    families = parse(text)
    up = {lb["host"]: v for lb, v in families["certaudit_host_up"]}
    assert up == {
        "web01": 1,
        "web02": 1,
        "lb01": 1,
        "api01": 1,
        "db01": 1,
        "dr01": 0,
        "bastion": 0,
        "mail01": 0,
    }
    read_errors = {lb["host"]: v for lb, v in families["x509_read_errors"]}
    assert read_errors["web02"] == 2 and read_errors["api01"] == 2 and "dr01" not in read_errors
    counts = {(lb["id"], lb["severity"]): v for lb, v in families["certaudit_findings"]}
    assert counts[("CERT_EXPIRING", "critical")] == 3
    assert sum(counts.values()) == len(sample.result.findings)
    (ts,) = families["certaudit_run_timestamp_seconds"]
    assert ts == ({}, sample.result.finished_at.timestamp())


def test_hostile_label_values_stay_inside_their_quotes(text: str) -> None:
    families = parse(text)  # would fail on a quote or newline breaking out
    cns = {lb["subject_CN"] for lb, _ in families["x509_cert_not_after"]}
    assert sample_module.HYPERLINK in cns and sample_module.CLOSE_SCRIPT in cns
    assert "@SUM(1)\\u2028evil\\u202egnp.crt" in cns  # separators and overrides shown, not raw
    paths = {lb["filepath"] for lb, _ in families["x509_cert_not_after"]}
    assert sample_module.PATH_IMG in paths
    for raw in ("\x1b", "\u202e", "\u2028", "\t", "\r"):
        assert raw not in text


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\\\x0ab"), ("\x1b[31m", "\\\\x1b[31m")],
)
def test_escape_label(raw: str, escaped: str) -> None:
    assert escape_label(raw) == escaped


def test_golden_metrics(
    sample: sample_module.Sample, text: str, golden: Callable[[str, str], None]
) -> None:
    assert render_metrics(sample.result).decode("utf-8") == text  # deterministic
    golden("metrics.prom", sample_module.normalise(text, sample))


def test_trust_store_roots_do_not_feed_expiry_alerts(sample: sample_module.Sample) -> None:
    """An expired root in a host's ca-certificates.crt is the distro's business: the
    exporter-compatible series (which existing alert rules watch) leave it out."""
    from dataclasses import replace

    from audit.model import CertLocation, FoundCert

    result = sample.result
    expired = next(
        f.cert
        for r in result.hosts
        for f in r.certificates
        if f.cert.not_after < result.finished_at
    )
    first = result.hosts[0]
    root = FoundCert(
        expired,
        CertLocation(first.host.name, "/etc/ssl/certs/ca-certificates.crt", "ca_bundle", 47),
    )
    only_bundle = replace(
        result, hosts=(replace(first, certificates=(root,)),) + tuple(result.hosts[1:])
    )
    series = parse(render_metrics(only_bundle).decode())
    assert not [
        labels
        for labels, _ in series["x509_cert_expired"]
        if labels["filepath"] == "/etc/ssl/certs/ca-certificates.crt"
    ]


# The alert rules x509-certificate-exporter's Helm chart ships (prometheusrule.yaml, with
# the chart's default values), as the metric names and labels they read. An operator who
# points those rules at our textfile must get the same alerts.
EXPORTER_RULES = {
    "X509ExporterReadErrors": ("delta(x509_read_errors[15m]) > 0", set()),
    "CertificateError": ("x509_cert_error > 0", {"filepath"}),
    "CertificateRenewal": (
        "((x509_cert_not_after - time()) / 86400) < 28",
        {"subject_CN", "filepath"},
    ),
    "CertificateExpiration": (
        "((x509_cert_not_after - time()) / 86400) < 14",
        {"subject_CN", "filepath"},
    ),
}


def test_the_exporters_alert_rules_find_their_metrics_and_labels() -> None:
    from audit.model import IssueReason

    base = sample_module.build().result
    families = parse(render_metrics(base).decode("utf-8"))
    for alert, (expr, labels) in EXPORTER_RULES.items():
        (metric,) = re.findall(r"x509_[a-z_]+", expr)
        assert families.get(metric), f"{alert}: no {metric} series"
        for series_labels, _ in families[metric]:
            assert labels <= set(series_labels), (alert, metric, series_labels)
    bad = {lab["filepath"] for lab, _ in families["x509_cert_error"]}
    expected = {u.path for r in base.hosts for u in r.unparseable}
    expected |= {i.path for r in base.hosts for i in r.issues}
    assert bad == expected and any(i.reason in IssueReason for r in base.hosts for i in r.issues)
    up = {lab["host"]: v for lab, v in families["x509_source_up"]}
    assert up == {r.host.name: float(r.outcome.audited) for r in base.hosts}
