"""findings.json: the committed JSON Schema, a golden file, and the contract's invariants."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest

from audit.report import json as json_report
from tests.catalogue import catalogue
from tests.report import sample as sample_module

SCHEMA_PATH = Path(json_report.__file__).parent / "schema" / "findings.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def document(sample: sample_module.Sample) -> dict:
    return json.loads(json_report.dumps(json_report.run_document(sample.result)))


def errors(schema: dict, doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]


def test_schema_is_valid_draft_2020_12(schema: dict) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_sample_document_validates(schema: dict, document: dict) -> None:
    assert errors(schema, document) == []


def test_previous_run_and_empty_run_validate(schema: dict, sample: sample_module.Sample) -> None:
    from dataclasses import replace

    for result in (sample.previous, replace(sample.result, hosts=(), findings=())):
        doc = json.loads(json_report.dumps(json_report.run_document(result)))
        assert errors(schema, doc) == []


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["findings"][0].update(severity="urgent"), id="bad-severity"),
        pytest.param(lambda d: d["findings"][0].pop("diagnose"), id="missing-diagnose"),
        pytest.param(lambda d: d["findings"][0].update(cert_sha256="ABC"), id="bad-sha256"),
        pytest.param(
            lambda d: d["certificates"][0].update(not_after="2025-06-07 12:00"), id="bad-date"
        ),
        pytest.param(lambda d: d["hosts"][0].update(outcome="maybe"), id="bad-outcome"),
        pytest.param(lambda d: d["findings"][0].update(extra=1), id="unknown-finding-field"),
        pytest.param(lambda d: d.pop("listeners"), id="missing-listeners"),
    ],
)
def test_schema_rejects_contract_breaks(
    schema: dict, document: dict, mutate: Callable[[dict], object]
) -> None:
    broken = copy.deepcopy(document)
    mutate(broken)
    assert errors(schema, broken)


def test_every_catalogue_id_fits_the_schema(schema: dict) -> None:
    ids = list(catalogue())
    assert len(ids) > 20
    pattern = re.compile(schema["$defs"]["finding"]["properties"]["id"]["pattern"])
    assert [i for i in ids if not pattern.match(i)] == []


def test_contract_invariants(document: dict) -> None:
    risks = [f["risk"] for f in document["findings"]]
    assert risks == sorted(risks, reverse=True), "findings are sorted by risk, highest first"
    shas = {c["sha256"] for c in document["certificates"]}
    assert len(shas) == len(document["certificates"]), "certificates are deduplicated"
    for f in document["findings"]:
        assert f["cert_sha256"] is None or f["cert_sha256"] in shas
    wildcard = next(c for c in document["certificates"] if c["common_name"] == "*.example.com")
    assert wildcard["blast_radius"] == 5
    assert {loc["host"] for loc in wildcard["locations"]} == {"web01", "web02", "lb01"}
    assert document["summary"]["hosts"] == 8 and document["summary"]["hosts_audited"] == 5


def test_hostile_texts_round_trip_exactly(document: dict) -> None:
    """JSON is data, not a display: every text comes back exactly as collected."""
    text = json.dumps(document, ensure_ascii=False)
    for hostile in sample_module.HOSTILE:
        assert hostile in text or json.dumps(hostile, ensure_ascii=False)[1:-1] in text


def test_golden_findings_json(
    sample: sample_module.Sample, golden: Callable[[str, str], None]
) -> None:
    text = json_report.dumps(json_report.run_document(sample.result))
    golden("findings.json", sample_module.normalise(text, sample))


def test_check_and_inspect_json_follow_the_same_schema(schema: dict, tmp_path: Path) -> None:
    """`check --json` and `inspect --json` print the same contract as findings.json."""
    from typer.testing import CliRunner

    from audit.cli import app
    from tests import pki
    from tests.tlsserver import TlsServer

    now = pki.utcnow()
    ca = pki.hierarchy(now, name="Schema")
    leaf = ca.leaf("schema.test", now=now, days_after=5)
    cafile = tmp_path / "root.pem"
    cafile.write_bytes(ca.root.pem)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.pem_bundle(leaf, ca.intermediate) + b"-----BEGIN CERTIFICATE-----\nxx")
    runner = CliRunner()
    docs = []
    with TlsServer([leaf]) as srv:  # no intermediate: CHAIN_INCOMPLETE too
        result = runner.invoke(
            app,
            [
                "check",
                f"127.0.0.1:{srv.port}",
                "--servername",
                "schema.test",
                "--cafile",
                str(cafile),
                "--json",
            ],
        )
        docs.append(("check", result.stdout))
    result = runner.invoke(app, ["inspect", str(bundle), "--json"])
    docs.append(("inspect", result.stdout))
    for command, text in docs:
        doc = json.loads(text)
        assert doc["findings"], command
        assert errors(schema, doc) == [], command
