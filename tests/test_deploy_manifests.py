"""The Kubernetes manifests in deploy/kubernetes, checked for structure (no cluster and no
kubectl here): kinds and API versions, the Indexed Job whose completion index is the
shard, the merge of exactly those shards, the Secret and results volumes, and pods that
run as non-root on a read-only root file system."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from audit.service.shard import parse_shard

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "kubernetes"
API = {
    "CronJob": "batch/v1",
    "ConfigMap": "v1",
    "PersistentVolumeClaim": "v1",
    "Namespace": "v1",
}


def _documents() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") != "Kustomization":
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


@pytest.fixture(scope="module")
def docs() -> dict[str, dict[str, Any]]:
    return _documents()


def _pod(cronjob: dict[str, Any]) -> dict[str, Any]:
    return cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_every_manifest_is_a_known_kind_and_listed(docs: dict[str, dict[str, Any]]) -> None:
    assert set(docs) == {
        "Namespace/certaudit",
        "PersistentVolumeClaim/certaudit-results",
        "ConfigMap/certaudit-inventory",
        "CronJob/certaudit-audit",
        "CronJob/certaudit-merge",
    }
    for name, doc in docs.items():
        assert doc["apiVersion"] == API[doc["kind"]], name
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def _shard_count(docs: dict[str, dict[str, Any]]) -> int:
    job = docs["CronJob/certaudit-audit"]["spec"]["jobTemplate"]["spec"]
    return int(job["completions"])


def test_the_audit_is_an_indexed_job_whose_index_is_the_shard(
    docs: dict[str, dict[str, Any]],
) -> None:
    cron = docs["CronJob/certaudit-audit"]
    job = cron["spec"]["jobTemplate"]["spec"]
    n = _shard_count(docs)
    assert job["completionMode"] == "Indexed"
    assert job["parallelism"] == job["completions"] == n > 1
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    [container] = _pod(cron)["containers"]
    script = " ".join([*container["command"], *container["args"]])
    assert re.search(r"certaudit run \S+", script)
    shard = re.search(r'--shard "?\$JOB_COMPLETION_INDEX/(\d+)"?', script)
    assert shard and int(shard.group(1)) == n, script
    assert parse_shard(f"{n - 1}/{shard.group(1)}")  # the last index is a valid shard
    # each shard its own database, named by the index, on the results volume
    assert re.search(r'--db "?/results/shards/shard-\$JOB_COMPLETION_INDEX\.db"?', script)
    assert "--known-hosts /etc/certaudit/ssh/known_hosts" in script
    assert "--accept-new-host-keys" not in script  # host keys come from the Secret only
    # findings (1) and hosts not audited (3) are results, not pod failures to retry
    assert re.search(r"0\|1\|3\) exit 0", script)


def test_the_merge_takes_exactly_the_shards(docs: dict[str, dict[str, Any]]) -> None:
    pod = _pod(docs["CronJob/certaudit-merge"])
    [merge] = pod["initContainers"]
    argv = [*merge["command"], *merge["args"]]
    assert argv[:2] == ["certaudit", "merge"]
    shards = [a for a in argv if a.startswith("/results/shards/")]
    n = _shard_count(docs)
    assert shards == [f"/results/shards/shard-{k}.db" for k in range(n)]
    assert argv[argv.index("--into") + 1] == "/results/history.db"
    assert argv[argv.index("--out") + 1] == "/results/reports"
    [prune] = pod["containers"]
    script = " ".join(prune["args"])
    assert "certaudit prune --db /results/history.db --keep" in script
    audit_schedule = docs["CronJob/certaudit-audit"]["spec"]["schedule"].split()
    merge_schedule = docs["CronJob/certaudit-merge"]["spec"]["schedule"].split()
    assert int(merge_schedule[1]) > int(audit_schedule[1])  # after the shards, same night
    deadline = docs["CronJob/certaudit-audit"]["spec"]["jobTemplate"]["spec"]
    hours = (int(merge_schedule[1]) - int(audit_schedule[1])) * 3600
    assert deadline["activeDeadlineSeconds"] <= hours  # the shards are done by then


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def test_volumes_secret_and_results(docs: dict[str, dict[str, Any]]) -> None:
    audit = _pod(docs["CronJob/certaudit-audit"])
    volumes = {v["name"]: v for v in audit["volumes"]}
    assert volumes["ssh"]["secret"]["secretName"] == "certaudit-ssh"
    assert volumes["ssh"]["secret"]["defaultMode"] & 0o007 == 0  # not world-readable
    assert volumes["results"]["persistentVolumeClaim"]["claimName"] == "certaudit-results"
    assert volumes["inventory"]["configMap"]["name"] == "certaudit-inventory"
    [container] = audit["containers"]
    mounts = _mounts(container)
    assert mounts["ssh"]["readOnly"] is True and mounts["ssh"]["mountPath"] == "/etc/certaudit/ssh"
    assert mounts["inventory"]["readOnly"] is True
    assert mounts["results"]["mountPath"] == "/results"
    script = " ".join(container["args"])
    for path in re.findall(r"/etc/certaudit/(?:ssh|inventory)/\S+", script):
        folder = path.rsplit("/", 1)[0]
        assert any(m["mountPath"] == folder for m in mounts.values()), path
    merge = _pod(docs["CronJob/certaudit-merge"])
    merge_volumes = {v["name"]: v for v in merge["volumes"]}
    assert merge_volumes["results"]["persistentVolumeClaim"]["claimName"] == "certaudit-results"
    assert "ssh" not in merge_volumes  # the merge never connects to a host
    pvc = docs["PersistentVolumeClaim/certaudit-results"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # every shard pod writes to it
    inventory = docs["ConfigMap/certaudit-inventory"]["data"]
    assert {"hosts.ini", "ssh_config"} <= set(inventory)


@pytest.mark.parametrize("name", ["CronJob/certaudit-audit", "CronJob/certaudit-merge"])
def test_pods_run_unprivileged_on_a_read_only_root(
    docs: dict[str, dict[str, Any]], name: str
) -> None:
    pod = _pod(docs[name])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    for container in _containers(pod):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True, container["name"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False, container["name"]
        assert context["capabilities"]["drop"] == ["ALL"], container["name"]
        # what certaudit writes: the results volume, and HOME on a writable emptyDir
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env.get("HOME") == _mounts(container)["tmp"]["mountPath"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["tmp"]
