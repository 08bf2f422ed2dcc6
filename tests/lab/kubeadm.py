"""kubeadm's layout on a control-plane node, for lab hosts and local trees (`root` as in
tests/lab/renewal.py): `control_plane` writes /etc/kubernetes/pki (etcd included) and the
kubeconfigs kubeadm writes, with embedded client certificates and keys (written plain, as
JSON, quoted or as block scalars), and the kubelet's pki with its combined client
certificate+key file, its -current link and its config.yaml. `check_expiration_json` is
`kubeadm certs check-expiration -o json` for them, hand-made in kubeadm's format.
"""

from __future__ import annotations

import base64
import datetime as dt
import json

from cryptography.hazmat.primitives import serialization as ser

from tests import pki
from tests.lab.netlab import Dir, File, Symlink
from tests.lab.renewal import Layout, _key

KUBEADM_CERTS = {
    # name: (file under pki, CA, CN)
    "apiserver": ("apiserver", "ca", "kube-apiserver"),
    "apiserver-kubelet-client": ("apiserver-kubelet-client", "ca", "kube-apiserver-kubelet-client"),
    "apiserver-etcd-client": ("apiserver-etcd-client", "etcd-ca", "kube-apiserver-etcd-client"),
    "front-proxy-client": ("front-proxy-client", "front-proxy-ca", "front-proxy-client"),
    "etcd-server": ("etcd/server", "etcd-ca", "kube-etcd-server"),
    "etcd-peer": ("etcd/peer", "etcd-ca", "kube-etcd-peer"),
    "etcd-healthcheck-client": (
        "etcd/healthcheck-client",
        "etcd-ca",
        "kube-etcd-healthcheck-client",
    ),
}
CA_FILES = {"ca": "ca", "etcd-ca": "etcd/ca", "front-proxy-ca": "front-proxy-ca"}
KUBECONFIG_USERS = {
    "admin.conf": "kubernetes-admin",
    "super-admin.conf": "kubernetes-super-admin",
    "controller-manager.conf": "system:kube-controller-manager",
    "scheduler.conf": "system:kube-scheduler",
}


def kubeconfig(
    user: str, ca: pki.Issued, client: pki.Issued, server: str, style: str = "kubeadm"
) -> bytes:
    """A kubeconfig with embedded data, written the way `style` says: "kubeadm" (plain
    scalars, as kubeadm writes them), "quoted" (double and single quotes), "block" (block
    scalars), "json"."""
    ca_b64 = base64.b64encode(ca.pem).decode()
    cert_b64 = base64.b64encode(client.pem).decode()
    key_b64 = base64.b64encode(client.key_pem("traditional")).decode()
    if style == "json":
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "kubernetes",
                    "cluster": {"certificate-authority-data": ca_b64, "server": server},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {"client-certificate-data": cert_b64, "client-key-data": key_b64},
                }
            ],
            "current-context": f"{user}@kubernetes",
        }
        return json.dumps(doc, indent=2).encode()
    if style == "quoted":
        ca_v, cert_v, key_v = f'"{ca_b64}"', f"'{cert_b64}'", f'"{key_b64}"'
    elif style == "block":

        def block(v: str) -> str:
            return "|\n" + "".join(f"      {v[i : i + 76]}\n" for i in range(0, len(v), 76)).rstrip(
                "\n"
            )

        ca_v, cert_v, key_v = block(ca_b64), block(cert_b64), block(key_b64)
    else:
        ca_v, cert_v, key_v = ca_b64, cert_b64, key_b64
    return (
        "apiVersion: v1\nclusters:\n- cluster:\n"
        f"    certificate-authority-data: {ca_v}\n    server: {server}\n  name: kubernetes\n"
        f"contexts:\n- context:\n    cluster: kubernetes\n    user: {user}\n"
        f"  name: {user}@kubernetes\ncurrent-context: {user}@kubernetes\nkind: Config\n"
        f"preferences: {{}}\nusers:\n- name: {user}\n  user:\n"
        f"    client-certificate-data: {cert_v}\n    client-key-data: {key_v}\n"
    ).encode()


def _kube_key_canaries(layout: Layout, issued: pki.Issued) -> None:
    """A key embedded in a kubeconfig: its PEM (canary_windows covers the base64 of the PEM
    text, which is what client-key-data holds)."""
    layout.canaries.append(issued.key_pem("traditional"))


def control_plane(
    root: str,
    now: dt.datetime,
    *,
    node: str,
    address: str,
    days: dict[str, float] | None = None,
    styles: dict[str, str] | None = None,
    rotate: bool | None = True,
) -> Layout:
    """kubeadm's files on a control-plane node. `days`: days left per kubeadm name
    (apiserver, admin.conf, kubelet-client...; default 300), `styles`: how each kubeconfig
    is written (see `kubeconfig`), `rotate`: rotateCertificates in the kubelet's
    config.yaml (None: not written)."""
    days = days or {}
    styles = styles or {}
    out = Layout()
    k = f"{root}/etc/kubernetes"
    out.entries += [Dir(k, 0o755), Dir(f"{k}/pki", 0o755), Dir(f"{k}/pki/etcd", 0o755)]
    cas = {}
    for name, rel in CA_FILES.items():
        cn = "kubernetes" if name == "ca" else name
        ca = pki.issue(cn, now=now, ca=True, days_before=30, days_after=3620, fresh_key=True)
        cas[name] = ca
        out.entries.append(File(f"{k}/pki/{rel}.crt", ca.pem))
        _key(out, f"{k}/pki/{rel}.key", ca)
        out.certs[name] = ca
    for name, (rel, ca_name, cn) in KUBEADM_CERTS.items():
        left = days.get(name, 300)
        # kubeadm also puts the node's name in the apiserver's SANs; left out here, since
        # CERT_NOT_RELOADED takes the kubelet's newer serving certificate (the same name)
        # for a renewal the apiserver was not restarted for
        sans = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", address]
        sans = sans if name == "apiserver" else [cn]
        leaf = pki.issue(
            cn,
            now=now,
            issuer=cas[ca_name],
            days_before=365 - left,
            days_after=left,
            sans=sans,
            fresh_key=True,
        )
        out.entries.append(File(f"{k}/pki/{rel}.crt", leaf.pem))
        _key(out, f"{k}/pki/{rel}.key", leaf, "traditional")
        out.certs[name] = leaf
    sa: object = pki.key("rsa", 2048, fresh=True)
    sa_pem = sa.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, ser.NoEncryption()
    )  # type: ignore[attr-defined]
    out.entries += [
        File(f"{k}/pki/sa.key", sa_pem, 0o600),
        File(
            f"{k}/pki/sa.pub",
            sa.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo),
        ),  # type: ignore[attr-defined]
    ]
    out.canaries.append(sa_pem)
    server = f"https://{address}:6443"
    for conf, user in KUBECONFIG_USERS.items():
        left = days.get(conf, 300)
        client = pki.issue(
            user,
            now=now,
            issuer=cas["ca"],
            days_before=365 - left,
            days_after=left,
            sans=[],
            fresh_key=True,
        )
        data = kubeconfig(user, cas["ca"], client, server, styles.get(conf, "kubeadm"))
        out.entries.append(File(f"{k}/{conf}", data, 0o600))
        _kube_key_canaries(out, client)
        out.certs[conf] = client
    out.add(
        kubelet(
            root,
            now,
            node=node,
            ca=cas["ca"],
            server=server,
            days_left=days.get("kubelet-client", 300),
            rotate=rotate,
        )
    )
    return out


def kubelet(
    root: str,
    now: dt.datetime,
    *,
    node: str,
    ca: pki.Issued,
    server: str,
    days_left: float,
    rotate: bool | None,
) -> Layout:
    """The kubelet's side: kubelet.conf naming its rotated client certificate, the combined
    certificate+key file and its -current link, the self-signed serving pair, config.yaml."""
    out = Layout()
    k, kl = f"{root}/etc/kubernetes", f"{root}/var/lib/kubelet"
    client = pki.issue(
        f"system:node:{node}",
        now=now,
        issuer=ca,
        days_before=365 - days_left,
        days_after=days_left,
        sans=[],
        fresh_key=True,
    )
    stamp = (now - dt.timedelta(days=365 - days_left)).strftime("%Y-%m-%d-%H-%M-%S")
    combined = f"/var/lib/kubelet/pki/kubelet-client-{stamp}.pem"
    key_pem = client.key_pem("traditional")
    serving = pki.issue(
        f"{node}@1700000000", now=now, days_before=30, days_after=335, sans=[node], fresh_key=True
    )
    out.entries += [
        Dir(kl, 0o755),
        Dir(f"{kl}/pki", 0o755),
        File(f"{root}{combined}", client.pem + key_pem, 0o600),
        Symlink(f"{kl}/pki/kubelet-client-current.pem", f"{root}{combined}"),
        File(f"{kl}/pki/kubelet.crt", serving.pem),
        File(f"{kl}/pki/kubelet.key", serving.key_pem(), 0o600),
        File(
            f"{k}/kubelet.conf",
            (
                "apiVersion: v1\nclusters:\n- cluster:\n"
                f"    certificate-authority-data: {base64.b64encode(ca.pem).decode()}\n"
                f"    server: {server}\n  name: kubernetes\ncontexts:\n- context:\n"
                f"    cluster: kubernetes\n    user: system:node:{node}\n"
                f"  name: system:node:{node}@kubernetes\n"
                f"current-context: system:node:{node}@kubernetes\nkind: Config\n"
                f"preferences: {{}}\nusers:\n- name: system:node:{node}\n  user:\n"
                f"    client-certificate: {kl}/pki/kubelet-client-current.pem\n"
                f"    client-key: {kl}/pki/kubelet-client-current.pem\n"
            ).encode(),
            0o600,
        ),
    ]
    out.canaries += [key_pem, serving.key_pem()]
    config = (
        "apiVersion: kubelet.config.k8s.io/v1beta1\nauthentication:\n  anonymous:\n"
        "    enabled: false\n  webhook:\n    cacheTTL: 0s\n    enabled: true\n  x509:\n"
        "    clientCAFile: /etc/kubernetes/pki/ca.crt\ncgroupDriver: systemd\n"
        "clusterDNS:\n- 10.96.0.10\nclusterDomain: cluster.local\n"
        "kind: KubeletConfiguration\n"
    )
    if rotate is not None:
        config += f"rotateCertificates: {'true' if rotate else 'false'}\n"
    config += "staticPodPath: /etc/kubernetes/manifests\n"
    out.entries.append(File(f"{kl}/config.yaml", config.encode()))
    out.certs["kubelet-client"] = client
    out.certs["kubelet-serving"] = serving
    return out


def check_expiration_json(certs: dict[str, pki.Issued], now: dt.datetime) -> str:
    """`kubeadm certs check-expiration -o json` for these certificates (kubeadm 1.28's
    format, hand-made)."""

    def entry(name: str, ca: str | None) -> dict[str, object]:
        after = certs[name].cert.not_valid_after_utc
        item: dict[str, object] = {
            "name": name,
            "expirationDate": after.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "residualTime": int((after - now).total_seconds() * 1e9),
        }
        if ca is not None:
            item["certificateAuthority"] = ca
        item.update(externallyManaged=False, missing=False)
        return item

    names = sorted([*KUBECONFIG_USERS, *KUBEADM_CERTS])
    doc = {
        "kind": "CertificateExpirationInfo",
        "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
        "certificates": [
            entry(n, KUBEADM_CERTS[n][1] if n in KUBEADM_CERTS else "ca") for n in names
        ],
        "certificateAuthorities": [entry(n, None) for n in CA_FILES],
    }
    return json.dumps(doc, indent=4) + "\n"
