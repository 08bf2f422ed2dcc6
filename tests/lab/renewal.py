"""Renewal layouts as the real tools leave them, for lab hosts and local trees.

Every builder takes `root`: "" for a lab host (paths as the host sees them), or a local
folder that stands for "/" (tests/collect run the script on this machine with
build_script(renewal=RenewalPaths under that folder)). Entries are netlab File, Symlink
and Dir; absolute symlink targets are put under `root` too.

* certbot: `certbot_lineage` writes what `certbot certonly` leaves: archive/NAME/ with
  numbered generations, live/NAME/*.pem as relative links to the newest, live/NAME/README
  and renewal/NAME.conf in certbot 2.x's format (with an ACME account id and, for a DNS
  authenticator, a credentials file: neither may leave the host). `certbot_log` writes
  letsencrypt.log lines in certbot's own format (hand-made in that format: runs that renew,
  that find nothing due, that fail with what the CA reported).
* systemd: `systemctl_standin` is a `systemctl` that answers `show` with text in
  systemctl's exact `show` format (hand-made; systemd is not PID 1 in the lab).
* kubeadm: tests/lab/kubeadm.py.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from tests import pki
from tests.lab.netlab import Dir, Entry, File, Symlink

CERTBOT_VERSION = "2.1.0"


@dataclass
class Layout:
    """What a builder planted: entries, the secrets among them, the certificates by name."""

    entries: list[Entry] = field(default_factory=list)
    canaries: list[bytes] = field(default_factory=list)
    """Private keys (PEM), and short secrets (account ids, tokens) as text."""
    certs: dict[str, pki.Issued] = field(default_factory=dict)

    def add(self, other: Layout) -> Layout:
        self.entries += other.entries
        self.canaries += other.canaries
        self.certs.update(other.certs)
        return self


def _key(layout: Layout, path: str, issued: pki.Issued, fmt: str = "pkcs8") -> bytes:
    data = issued.key_pem(fmt)
    layout.entries.append(File(path, data, 0o600))
    layout.canaries.append(data)
    return data


# --------------------------------------------------------------------------- certbot


def certbot_lineage(
    root: str,
    name: str,
    acme: pki.Hierarchy,
    now: dt.datetime,
    *,
    days_after: float = 60,
    config: str = "/etc/letsencrypt",
    authenticator: str = "standalone",
    account: str = "6fe1d2a4c3b5e7f90a1b2c3d4e5f6a7b",
    token: str = "",
) -> Layout:
    """A lineage NAME with generations 1 (expired) and 2 (valid `days_after` more days)."""
    c = f"{root}{config}"
    out = Layout()
    out.entries += [
        Dir(c, 0o755),
        Dir(f"{c}/archive", 0o700),
        Dir(f"{c}/live", 0o700),
        Dir(f"{c}/archive/{name}", 0o755),
        Dir(f"{c}/live/{name}", 0o755),
        Dir(f"{c}/renewal", 0o755),
    ]
    sans = [name, f"www.{name}"]
    gens = {
        1: acme.leaf(name, now=now, days_before=120, days_after=-30, sans=sans, fresh_key=True),
        2: acme.leaf(
            name,
            now=now,
            days_before=90 - days_after,
            days_after=days_after,
            sans=sans,
            fresh_key=True,
        ),
    }
    for n, cert in gens.items():
        base = f"{c}/archive/{name}"
        out.entries += [
            File(f"{base}/cert{n}.pem", cert.pem),
            File(f"{base}/chain{n}.pem", acme.intermediate.pem),
            File(f"{base}/fullchain{n}.pem", pki.pem_bundle(cert, acme.intermediate)),
        ]
        _key(out, f"{base}/privkey{n}.pem", cert)
    for kind in ("cert", "chain", "fullchain", "privkey"):
        out.entries.append(
            Symlink(f"{c}/live/{name}/{kind}.pem", f"../../archive/{name}/{kind}2.pem")
        )
    out.entries.append(File(f"{c}/live/{name}/README", _README))
    params = f"account = {account}\nauthenticator = {authenticator}\n"
    if token:
        creds = f"{c}/dns-credentials.ini"
        params += f"dns_cloudflare_credentials = {creds}\n"
        out.entries.append(File(creds, f"dns_cloudflare_api_token = {token}\n".encode(), 0o600))
        out.canaries.append(token.encode())
    out.canaries.append(account.encode())
    conf = (
        "# renew_before_expiry = 30 days\n"
        f"version = {CERTBOT_VERSION}\n"
        f"archive_dir = {c}/archive/{name}\n"
        f"cert = {c}/live/{name}/cert.pem\n"
        f"privkey = {c}/live/{name}/privkey.pem\n"
        f"chain = {c}/live/{name}/chain.pem\n"
        f"fullchain = {c}/live/{name}/fullchain.pem\n"
        "\n# Options used in the renewal process\n[renewalparams]\n"
        f"{params}server = https://acme-v02.api.letsencrypt.org/directory\nkey_type = ecdsa\n"
    )
    out.entries.append(File(f"{c}/renewal/{name}.conf", conf.encode()))
    out.certs[name] = gens[2]
    out.certs[f"{name} (generation 1)"] = gens[1]
    return out


_README = b"""This directory contains your keys and certificates.

`privkey.pem`  : the private key for your certificate.
`fullchain.pem`: the certificate file used in most server software.
`chain.pem`    : used for OCSP stapling in Nginx >=1.3.7.
`cert.pem`     : will break many server configurations, and should not be used
                 without reading further documentation (see link below).

WARNING: DO NOT MOVE OR RENAME THESE FILES!
         Certbot expects these files to remain in this location in order
         to function properly!

We recommend not moving these files. For more information, see the Certbot
User Guide at https://certbot.eff.org/docs/using.html#where-are-my-certificates.
"""


def _stamp(when: dt.datetime, ms: int) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S},{ms:03d}"


def _run_head(when: dt.datetime) -> list[str]:
    t = _stamp(when, 101)
    return [
        f"{t}:DEBUG:certbot._internal.main:certbot version: {CERTBOT_VERSION}",
        f"{t}:DEBUG:certbot._internal.main:Location of certbot entry point: /usr/bin/certbot",
        f"{t}:DEBUG:certbot._internal.main:Arguments: ['-q', '--no-random-sleep-on-renew']",
        f"{t}:DEBUG:certbot._internal.main:Discovered plugins: PluginsRegistry("
        "PluginEntryPoint#manual,PluginEntryPoint#null,PluginEntryPoint#standalone,"
        "PluginEntryPoint#webroot)",
        f"{t}:DEBUG:certbot._internal.log:Root logging level set at 40",
    ]


def certbot_run(
    when: dt.datetime,
    lineages: dict[str, str],
    *,
    config: str = "/etc/letsencrypt",
    expiry: dt.datetime | None = None,
    ca_detail: str = "",
) -> list[str]:
    """One `certbot -q renew` run, as letsencrypt.log records it. `lineages`: name ->
    "renewed", "not_due" or "failed" (the CA's `ca_detail` in what it reported)."""
    lines = _run_head(when)
    t = _stamp(when, 140)
    obj = "certbot._internal.display.obj:Notifying user:"
    done: dict[str, list[str]] = {"renewed": [], "not_due": [], "failed": []}
    for name, outcome in lineages.items():
        full = f"{config}/live/{name}/fullchain.pem"
        lines.append(f"{t}:DEBUG:{obj} Processing {config}/renewal/{name}.conf")
        lines.append(
            f"{t}:DEBUG:certbot._internal.plugins.selection:Requested authenticator "
            "<certbot._internal.cli.cli_utils._Default object at 0x7f3c8a1b2d90> and installer "
            "<certbot._internal.cli.cli_utils._Default object at 0x7f3c8a1b2d90>"
        )
        if outcome == "not_due":
            lines.append(f"{t}:DEBUG:{obj} Certificate not yet due for renewal")
            done["not_due"].append(f"  {full} expires on {(expiry or when):%Y-%m-%d} (skipped)")
            continue
        lines += [
            f"{t}:DEBUG:certbot._internal.storage:Should renew, less than 30 days before "
            f"certificate expiry {(expiry or when):%Y-%m-%d %H:%M:%S} UTC.",
            f"{t}:INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...",
            f"{t}:DEBUG:{obj} Renewing an existing certificate for {name} and www.{name}",
            f"{t}:DEBUG:acme.client:Requesting fresh nonce",
        ]
        if outcome == "renewed":
            lines.append(
                f"{t}:DEBUG:certbot._internal.storage:Writing new private key to "
                f"{config}/archive/{name}/privkey3.pem."
            )
            done["renewed"].append(f"  {full} (success)")
            continue
        lines += [
            f"{t}:INFO:certbot._internal.auth_handler:Challenge failed for domain {name}",
            f"{t}:DEBUG:{obj} ",
            "Certbot failed to authenticate some domains (authenticator: standalone). The "
            "Certificate Authority reported these problems:",
            f"  Domain: {name}",
            "  Type:   connection",
            f"  Detail: {ca_detail}",
            "",
            "Hint: The Certificate Authority failed to download the challenge files from the "
            "temporary standalone webserver started by Certbot on port 80. Ensure that the "
            "listed domains point to this machine and that it can accept inbound connections "
            "from the internet.",
            "",
            f"{t}:DEBUG:certbot._internal.error_handler:Calling registered functions",
            f"{t}:INFO:certbot._internal.auth_handler:Cleaning up challenges",
            f"{t}:ERROR:certbot._internal.renewal:Failed to renew certificate {name} with "
            "error: Some challenges have failed.",
            f"{t}:DEBUG:certbot._internal.renewal:Traceback was:",
            "Traceback (most recent call last):",
            '  File "/usr/lib/python3/dist-packages/certbot/_internal/renewal.py", line 540, in '
            "handle_renewal_request",
            "    main.renew_cert(lineage_config, plugins, renewal_candidate)",
            "certbot.errors.AuthorizationError: Some challenges have failed.",
            "",
        ]
        done["failed"].append(f"  {full} (failure)")
    lines.append(f"{t}:DEBUG:{obj} ")
    lines.append("- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -")
    if done["not_due"]:
        lines.append(f"{t}:DEBUG:{obj} The following certificates are not due for renewal yet:")
        lines += [f"{t}:DEBUG:{obj} {x}" for x in done["not_due"]]
    error = f"{t}:ERROR:certbot._internal.renewal:"
    if done["renewed"] and not done["failed"]:
        lines.append(f"{t}:DEBUG:{obj} Congratulations, all renewals succeeded: ")
        lines += [f"{t}:DEBUG:{obj} {x}" for x in done["renewed"]]
    elif done["renewed"]:
        lines.append(f"{t}:DEBUG:{obj} The following renewals succeeded:")
        lines += [f"{t}:DEBUG:{obj} {x}" for x in done["renewed"]]
        lines.append(f"{error}The following renewals failed:")
        lines += [f"{error}{x}" for x in done["failed"]]
    elif done["failed"]:
        lines.append(
            f"{error}All renewals failed. The following certificates could not be renewed:"
        )
        lines += [f"{error}{x}" for x in done["failed"]]
    if not done["renewed"] and not done["failed"]:
        lines.append(f"{t}:DEBUG:{obj} No renewals were attempted.")
    return lines


def certbot_log(root: str, logs: str, *runs: list[str]) -> Layout:
    """letsencrypt.log holding the runs in order (Debian's certbot appends: its cli.ini
    sets max-log-backups = 0 and logrotate rotates weekly)."""
    text = "\n".join(line for run in runs for line in run) + "\n"
    return Layout(
        [Dir(f"{root}{logs}", 0o700), File(f"{root}{logs}/letsencrypt.log", text.encode(), 0o600)]
    )


def cli_ini(root: str, logs: str, config: str = "/etc/letsencrypt") -> Layout:
    """Debian's cli.ini, with the log folder moved."""
    text = (
        "# Because we are using logrotate for greater flexibility, disable the\n"
        "# internal certbot logrotation.\nmax-log-backups = 0\n"
        "# Adjust interactive output regarding automated renewal\npreconfigured-renewal = True\n"
        f"logs-dir = {logs}\n"
    )
    return Layout([File(f"{root}{config}/cli.ini", text.encode())])


# --------------------------------------------------------------------------- systemd

CERTBOT_TIMER = b"""[Unit]
Description=Run certbot twice daily

[Timer]
OnCalendar=*-*-* 00,12:00:00
RandomizedDelaySec=43200
Persistent=true

[Install]
WantedBy=timers.target
"""
CERTBOT_SERVICE = b"""[Unit]
Description=Certbot
Documentation=file:///usr/share/doc/python-certbot-doc/html/index.html
Documentation=https://certbot.eff.org/docs
[Service]
Type=oneshot
ExecStart=/usr/bin/certbot -q renew --no-random-sleep-on-renew
PrivateTmp=true
"""
CERTBOT_CRON = b"""# /etc/cron.d/certbot: crontab entries for the certbot package
#
# Upstream recommends attempting renewal twice a day
#
# Eventually, this will be an opportunity to validate certificates
# haven't been revoked, etc.  Renewal will only occur if expiration
# is within 30 days.
#
# Important Note!  This cronjob will NOT be executed if you are
# running systemd as your init system.  If you are running systemd,
# the cronjob.timer function takes precedence over this cronjob.  For
# more details, see the systemd.timer manpage, or use systemctl show
# certbot.timer.
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

0 */12 * * * root test -x /usr/bin/certbot -a \\! -d /run/systemd/system && perl -e \
'sleep int(rand(43200))' && certbot -q renew --no-random-sleep-on-renew
"""
"""Debian 12's certbot package: /lib/systemd/system/certbot.{timer,service} and
/etc/cron.d/certbot, byte for byte."""


def _when(t: dt.datetime | None) -> str:
    return "n/a" if t is None else t.astimezone(dt.UTC).strftime("%a %Y-%m-%d %H:%M:%S UTC")


def systemctl_show(
    *,
    enabled: bool,
    active: bool,
    last: dt.datetime | None,
    next_: dt.datetime | None,
    result: str = "success",
) -> str:
    """`TZ=UTC systemctl show -p ... certbot.timer certbot.service snap.certbot.renew.timer
    snap.certbot.renew.service` as systemd 252 prints it (properties in its own order, a
    blank line between units; units that do not exist are "not-found")."""
    timer = [
        "Unit=certbot.service",
        f"NextElapseUSecRealtime={_when(next_) if active else ''}",
        f"LastTriggerUSec={_when(last)}",
        "Result=success",
        "Id=certbot.timer",
        "LoadState=loaded",
        f"ActiveState={'active' if active else 'inactive'}",
        f"SubState={'waiting' if active else 'dead'}",
        f"UnitFileState={'enabled' if enabled else 'disabled'}",
    ]
    service = [
        f"Result={result}",
        f"ExecMainStartTimestamp={_when(last)}",
        f"ExecMainExitTimestamp={_when(last + dt.timedelta(seconds=3) if last else None)}",
        f"ExecMainStatus={0 if result == 'success' else 1}",
        "Id=certbot.service",
        "LoadState=loaded",
        "ActiveState=inactive",
        "SubState=dead",
        "UnitFileState=static",
    ]
    missing = [
        [
            "Result=success",
            f"Id={name}",
            "LoadState=not-found",
            "ActiveState=inactive",
            "SubState=dead",
            "UnitFileState=",
        ]
        for name in ("snap.certbot.renew.timer", "snap.certbot.renew.service")
    ]
    return "\n\n".join("\n".join(block) for block in (timer, service, *missing)) + "\n"


STANDIN_BIN = "/opt/certaudit-lab/bin"


def systemctl_standin(root: str, show: str) -> Layout:
    """A `systemctl` at STANDIN_BIN that prints `show` for `systemctl show ...` and fails
    for anything else (it never changes anything)."""
    script = (
        "#!/bin/sh\n# certaudit lab: systemd is not PID 1 here; this answers `show` with what\n"
        "# systemctl printed for these units, and refuses everything else.\n"
        'case " $* " in *" show "*) ;; *) echo "systemctl stand-in: only show" >&2\n'
        "  exit 1 ;;\nesac\n"
        "cat <<'EOF'\n" + show + "EOF\n"
    )
    return Layout([File(f"{root}{STANDIN_BIN}/systemctl", script.encode(), 0o755)])
