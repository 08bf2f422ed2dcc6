# certaudit remote collector, renewal pipelines: the awk programs and shell functions
# remote.sh calls when CA_RENEW is set (ca_krefs before the walk, ca_renewal after it).
# build_script() puts this text before remote.sh's; it only defines, and runs nothing.
# The records it prints are listed at the top of remote.sh. Read-only like the rest: it
# never runs certbot or `kubeadm certs renew`, nothing that takes a lock or rotates a log.

# What renews the certificates (CA_RENEW): certbot's timers, cron entries, renewal
# configurations and log; other ACME clients; the kubelet's rotation settings; kubeadm's
# own view. Only fields a report needs cross the wire: never an account, a credential file
# or a token (a renewal configuration's other keys, a cron line's command, a unit's
# environment stay on the host).
CA_AWK_RNLIB='
function rn_init() { US = sprintf("%c", 31) }
function rn_path(v) {
  if (v == "") return ""
  return (substr(v, 1, 1) == "/" && length(v) <= 4096 && v !~ CA_CTL) ? v : "<not a path>"
}
function rn_like(v, re) { return (v == "" || (length(v) <= 255 && v ~ re)) ? v : "<not sent>" }
# "key=path" (US-separated) for each option of a renewal client that names a folder:
# certbot --config-dir and --logs-dir, acme.sh --home and --config-home, lego --path.
function rn_opts(s,  n, W, i, w, k, v, o) {
  n = split(s, W, /[ \t]+/); o = ""
  for (i = 1; i <= n; i++) {
    w = W[i]; gsub(/"/, "", w); gsub(SQ, "", w); k = ""
    if (w ~ /^--(config-dir|logs-dir|home|config-home|path)=/) {
      k = w; sub(/=.*/, "", k); v = substr(w, length(k) + 2)
    } else if (w ~ /^--(config-dir|logs-dir|home|config-home|path)$/ && i < n) {
      k = w; i++; v = W[i]; gsub(/"/, "", v); gsub(SQ, "", v)
    }
    if (k == "") continue
    v = rn_path(v)
    if (v == "" || v == "<not a path>") continue
    o = o (o == "" ? "" : US) substr(k, 3) "=" v
  }
  return o
}
function rn_print(o,  n, P, i) { n = split(o, P, US); for (i = 1; i <= n; i++) print P[i] }
function rn_client(t) {
  if (t ~ /(^|[\/ \t"])(certbot|letsencrypt)([ \t";&|)]|$)/) return "certbot"
  if (t ~ /acme[.]sh([ \t";&|)]|$)/) return "acme.sh"
  if (t ~ /(^|[\/ \t"])lego([ \t";&|)]|$)/) return "lego"
  return ""
}
'

# Cron files (ARGV; /etc/crontab and cron.d lines have a user field, spool files do not):
# each line, commented or not, that runs a renewal client. mode=rec prints CRON records
# (schedule, user, client, guard, folders: never the command itself); mode=dirs prints the
# folders its active lines name, for the shell.
CA_AWK_CRON='
BEGIN {
  ca_init(); rn_init()
  F5 = "[0-9A-Za-z*/,-]+"
  SCHED = "^(@[a-z]+|" F5 " " F5 " " F5 " " F5 " " F5 ")$"
  for (a = 1; a < ARGC; a++) {
    f = ARGV[a]; sys = (f !~ /\/spool\//); ln = 0
    while ((getline line < f) > 0 && ln < 5000) {
      ln++
      t = line; sub(/\r$/, "", t); sub(/^[ \t]+/, "", t); st = "active"
      if (substr(t, 1, 1) == "#") { t = substr(t, 2); sub(/^[ \t]+/, "", t); st = "commented" }
      cl = rn_client(t)
      if (cl == "") continue
      n = split(t, W, /[ \t]+/)
      if (substr(W[1], 1, 1) == "@") { sc = W[1]; k = 2 }
      else { sc = W[1] " " W[2] " " W[3] " " W[4] " " W[5]; k = 6 }
      if (sc !~ SCHED || n < k + sys) continue
      u = "-"
      if (sys) { u = W[k]; k++; if (u !~ /^[A-Za-z0-9_.-]+$/ || length(u) > 32) u = "<not sent>" }
      cmd = ""
      for (i = k; i <= n; i++) cmd = cmd " " W[i]
      gd = (cmd ~ /![ \t]*-d[ \t]+\/run\/systemd\/system/) ? "nosystemd" : "-"
      o = rn_opts(cmd)
      if (mode == "rec") printf "CRON %s %d %s %s %s %s %s %s .\n", hex(f), ln, hex(sc), hex(u), cl, st, gd, hex(o)
      else if (st == "active") rn_print(o)
    }
    close(f)
  }
  exit
}
'
# ExecStart lines of unit files (ARGV) -> the folders they name, for the shell.
CA_AWK_UNITOPTS='
BEGIN { ca_init(); rn_init() }
/^[ \t]*ExecStart[ \t]*=/ { rn_print(rn_opts($0)) }
'
CA_AWK_UNIT='
BEGIN { ca_init(); printf "UNIT %s %s %s %s .\n", hex(ARGV[1]), hex(ARGV[2]), ARGV[3], ARGV[4]; exit }
'
# `systemctl show` on stdin: the listed properties of each unit, by its Id.
CA_AWK_SDSHOW='
BEGIN {
  ca_init()
  split("Id LoadState UnitFileState ActiveState SubState Result LastTriggerUSec NextElapseUSecRealtime ExecMainStatus ExecMainExitTimestamp ExecMainStartTimestamp", L, " ")
  for (i in L) K[L[i]] = 1
}
function flush(  k) {
  if ("Id" in P) for (k in P) printf "SDPROP %s %s %s .\n", hex(P["Id"]), hex(k), hex(P[k])
  split("", P)
}
/^[ \t\r]*$/ { flush(); next }
{ k = $0; sub(/=.*/, "", k); if (k in K) { v = substr($0, length(k) + 2); sub(/\r$/, "", v); P[k] = substr(v, 1, 200) } }
END { flush() }
'
# cli.ini of a certbot configuration folder -> its logs-dir and config-dir, for the shell.
CA_AWK_CLIINI='
BEGIN { ca_init(); rn_init() }
/^[ \t]*(logs-dir|config-dir)[ \t]*=/ {
  k = $0; sub(/[ \t]*=.*/, "", k); sub(/^[ \t]+/, "", k)
  v = $0; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t\r]+$/, "", v); v = rn_path(v)
  if (v != "" && v != "<not a path>") print k "=" v
}
'
# Renewal configurations (ARGV) of the folder `dir`: one CBLIN record each, with the few
# public fields the audit needs (never the account, a credentials file or any other key).
CA_AWK_CBCONF='
BEGIN {
  ca_init(); rn_init()
  for (a = 1; a < ARGC; a++) {
    f = ARGV[a]; ce = fc = ar = au = sv = rb = ""; sect = ""; ln = 0
    while ((getline line < f) > 0 && ++ln <= 1000) {
      t = line; sub(/\r$/, "", t)
      if (t ~ /^[ \t]*\[/) { sect = t; gsub(/[][ \t]/, "", sect); continue }
      if (t ~ /^[ \t]*[#;]/ || !index(t, "=")) continue
      k = t; sub(/[ \t]*=.*/, "", k); sub(/^[ \t]+/, "", k)
      v = t; sub(/^[^=]*=[ \t]*/, "", v); sub(/[ \t]+$/, "", v)
      if (sect == "") {
        if (k == "cert") ce = rn_path(v)
        else if (k == "fullchain") fc = rn_path(v)
        else if (k == "archive_dir") ar = rn_path(v)
        else if (k == "renew_before_expiry") rb = rn_like(v, "^[0-9]+ *[a-z]*$")
      } else if (sect == "renewalparams") {
        if (k == "authenticator") au = rn_like(v, "^[A-Za-z0-9_.:-]+$")
        else if (k == "server") sv = rn_like(v, "^https?://[A-Za-z0-9._~:/%@+-]+$")
      }
    }
    close(f)
    printf "CBLIN %s %s %s %s %s %s %s %s .\n", hex(dir), hex(f), hex(ce), hex(fc), hex(ar), hex(au), hex(sv), hex(rb)
  }
  exit
}
'
# The tail of one certbot log (stdin; n = its rotation number): only the lines of the
# known patterns cross, each cut to 600 bytes, 200 at most.
CA_AWK_CBLOG='
BEGIN { ca_init(); c = 0 }
c < 200 && (/Notifying user: Processing / || /Failed to renew certificate / || / [(](success|failure)[)][ \t\r]*$/ || /[(]skipped[)][ \t\r]*$/ || /Certificate not yet due for renewal/ || /Certificate is due for renewal/ || /^[ \t]+(Domain|Type|Detail):/) {
  t = $0; sub(/\r$/, "", t)
  if (length(t) > 600) t = substr(t, 1, 600)
  printf "CBLOG %s %d %s .\n", hex(d), n, hex(t); c++
}
'
# acme.sh domain configurations (ARGV): the domain, the files --install-cert writes and
# the next renewal time; never an API key (those live in account.conf, never opened).
CA_AWK_ACMESH='
BEGIN {
  ca_init(); rn_init()
  for (a = 1; a < ARGC; a++) {
    f = ARGV[a]; dm = cp = fp = ""; nx = "-"; ln = 0
    while ((getline line < f) > 0 && ++ln <= 500) {
      if (line !~ /^Le_(Domain|RealCertPath|RealFullChainPath|NextRenewTime)=/) continue
      k = line; sub(/=.*/, "", k); v = substr(line, length(k) + 2); sub(/\r$/, "", v)
      gsub(SQ, "", v); gsub(/"/, "", v)
      if (k == "Le_Domain") dm = rn_like(v, "^[A-Za-z0-9*._-]+$")
      else if (k == "Le_RealCertPath") cp = rn_path(v)
      else if (k == "Le_RealFullChainPath") fp = rn_path(v)
      else if (v ~ /^[0-9]+$/ && length(v) <= 12) nx = v
    }
    close(f)
    o = f; sub(/[^\/]*$/, "", o)
    if (substr(cp, 1, 1) == "/") o = o US cp
    if (substr(fp, 1, 1) == "/") o = o US fp
    printf "ACME acme.sh %s %s %s %s .\n", hex(f), hex(dm), hex(o), nx
  }
  exit
}
'
CA_AWK_ACME1='
BEGIN { ca_init(); printf "ACME %s %s - %s - .\n", ARGV[1], hex(ARGV[2]), hex(ARGV[3]); exit }
'
# The kubelet configuration (ARGV): rotateCertificates and serverTLSBootstrap of
# config.yaml, --rotate-certificates of its flags file.
CA_AWK_KUBELET='
BEGIN { ca_init() }
FILENAME ~ /[.]env$/ {
  if (match($0, /--rotate-certificates(=(true|false))?/)) {
    v = substr($0, RSTART, RLENGTH)
    printf "KUBELET %s %s %s .\n", hex(FILENAME), hex("--rotate-certificates"), (v ~ /=false/) ? "false" : "true"
  }
  next
}
/^(rotateCertificates|serverTLSBootstrap):[ \t]*(true|false)[ \t\r]*(#.*)?$/ {
  k = $0; sub(/:.*/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
  printf "KUBELET %s %s %s .\n", hex(FILENAME), hex(k), (v ~ /^true/) ? "true" : "false"
}
'
# `kubeadm certs check-expiration` on stdin: 300 lines at most, 400 bytes each.
CA_AWK_KUBEADM='
BEGIN { ca_init() }
NR <= 300 { t = $0; sub(/\r$/, "", t); printf "KUBEADM %s %s .\n", kind, hex(substr(t, 1, 400)) }
'
# Kubeconfigs (ARGV) -> the absolute paths of the certificate files they name.
CA_AWK_KREFS='
BEGIN {
  ca_init(); KREFS = 1
  for (a = 1; a < ARGC; a++) {
    KFILE = ARGV[a]; kube_reset()
    while ((getline line < KFILE) > 0) kube_line(line)
    kube_end()
    close(KFILE)
  }
  exit
}
'

# Whether a renewal-related file may be read: a regular file (canonical path outside
# /proc, /sys and /dev), readable, within the size cap.
ca_rfile() { ca_regular "$1" && [ -r "$CA_REG" ] && ca_small "$CA_REG"; }

# The mtime of $1 in seconds since the epoch (GNU or busybox date, else stat), or "-".
ca_mtime() {
  ca_m=$(date -r "$1" +%s 2>/dev/null) || ca_m=$(stat -c %Y "$1" 2>/dev/null) || ca_m=
  case $ca_m in "" | *[!0-9]* | ?????????????*) echo - ;; *) echo "$ca_m" ;; esac
}

# Adds the "KEY=FOLDER" lines in $1 (from rn_opts) to the folders read later.
ca_rnadd() {
  oifs=$IFS; IFS=$CA_NL
  for o in $1; do
    case $o in
    config-dir=/*) CA_RN_CONF="$CA_RN_CONF$CA_NL${o#*=}" ;;
    logs-dir=/*) CA_RN_LOGS="$CA_RN_LOGS$CA_NL${o#*=}" ;;
    home=/* | config-home=/*) CA_RN_ACME="$CA_RN_ACME$CA_NL${o#*=}" ;;
    path=/*) CA_RN_LEGO="$CA_RN_LEGO$CA_NL${o#*=}" ;;
    esac
  done
  IFS=$oifs
}

# Whether the folder list $2 (newline-separated) already holds $1; adds it if not.
ca_seen() {
  case "$CA_NL$CA_SEEN" in *"$CA_NL$1$CA_NL"*) return 0 ;; esac
  CA_SEEN="$CA_SEEN$1$CA_NL"
  return 1
}

# certbot's timers. systemctl answers where systemd runs (SDPROP records); the unit
# files are read either way: where they are, whether they are enabled (a
# timers.target.wants link) or masked (a link to /dev/null), the timer's stamp file, and
# the folders the service's ExecStart names (drop-ins included).
ca_units() {
  sd=
  [ -d "$CA_RN_SDRUN" ] && sd=1
  if [ -n "$CA_RN_SYSTEMCTL" ] && ca_have systemctl; then
    out=$(ca_tmo 10 env TZ=UTC systemctl show --no-pager \
      -p Id,LoadState,UnitFileState,ActiveState,SubState,Result,LastTriggerUSec \
      -p NextElapseUSecRealtime,ExecMainStatus,ExecMainExitTimestamp,ExecMainStartTimestamp \
      certbot.timer certbot.service snap.certbot.renew.timer snap.certbot.renew.service \
      2>/dev/null </dev/null) || out=
    case $out in *Id=*) sd=1; printf '%s\n' "$out" | awk "$CA_AWK_LIB$CA_AWK_SDSHOW" ;; esac
  fi
  awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT systemd "$([ -n "$sd" ] && echo running || echo no)"
  oifs=$IFS
  for u in certbot.timer snap.certbot.renew.timer; do
    frag=; st=absent; opts=
    IFS=$CA_NL
    for d in $CA_RN_UNITS; do
      if [ -L "$d/$u" ] && [ -n "$CA_RL" ] && [ "$(readlink "$d/$u" 2>/dev/null)" = /dev/null ]; then
        st=masked; frag="$d/$u"; break
      fi
      [ -z "$frag" ] && [ -f "$d/$u" ] && frag="$d/$u"
    done
    if [ "$st" != masked ] && [ -n "$frag" ]; then
      st=disabled
      for d in $CA_RN_UNITS; do
        if [ -e "$d/timers.target.wants/$u" ] || [ -L "$d/timers.target.wants/$u" ]; then st=enabled; fi
      done
    fi
    svc=${u%.timer}.service
    for d in $CA_RN_UNITS; do
      IFS=$oifs
      [ -f "$d/$svc" ] && ca_rfile "$d/$svc" && opts="$opts$(awk "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_UNITOPTS" "$CA_REG")$CA_NL"
      set +f
      for f in "$d/$svc.d"/*.conf; do
        ca_rfile "$f" && opts="$opts$(awk "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_UNITOPTS" "$CA_REG")$CA_NL"
      done
      set -f
      IFS=$CA_NL
    done
    IFS=$oifs
    stamp=-
    [ -f "$CA_RN_STAMPS/stamp-$u" ] && stamp=$(ca_mtime "$CA_RN_STAMPS/stamp-$u")
    awk "$CA_AWK_LIB$CA_AWK_UNIT" "$u" "${frag:--}" "$st" "$stamp"
    ca_rnadd "$opts"
  done
}

# Cron: /etc/crontab, /etc/cron.d/* and root's crontab, where readable.
ca_cron() {
  set --
  oifs=$IFS; IFS=$CA_NL
  for c in $CA_RN_CRON; do
    IFS=$oifs
    if [ -d "$c" ]; then
      set +f
      for f in "$c"/*; do
        case ${f##*/} in .* | *~ | *.dpkg-* | *.swp) continue ;; esac
        ca_rfile "$f" && set -- "$@" "$f"
      done
      set -f
    elif [ -f "$c" ]; then
      ca_rfile "$c" && set -- "$@" "$c"
    fi
    IFS=$CA_NL
  done
  IFS=$oifs
  [ "$#" -gt 0 ] || return 0
  ca_tmo "$CA_FTO" awk -v mode=rec "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_CRON" "$@"
  ca_rnadd "$(ca_tmo "$CA_FTO" awk -v mode=dirs "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_CRON" "$@")"
}

# certbot: the renewal configurations of every configuration folder (the default, and
# those units, cron lines and cli.ini name), then the tails of its logs, newest first.
ca_certbot() {
  CA_SEEN=
  oifs=$IFS; IFS=$CA_NL
  for c in $CA_RN_CONF; do
    IFS=$oifs
    if ! ca_seen "$c" && [ -d "$c" ]; then
      ca_rfile "$c/cli.ini" && ca_rnadd "$(awk "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_CLIINI" "$CA_REG")"
      set --
      set +f
      for f in "$c"/renewal/*.conf; do ca_rfile "$f" && set -- "$@" "$f"; done
      set -f
      [ "$#" -eq 0 ] || ca_tmo "$CA_FTO" awk -v dir="$c" "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_CBCONF" "$@"
    fi
    IFS=$CA_NL
  done
  CA_SEEN=
  for l in $CA_RN_LOGS; do
    IFS=$oifs
    if ! ca_seen "$l" && [ -d "$l" ]; then
      i=0
      while [ "$i" -le 9 ]; do
        f="$l/letsencrypt.log"
        [ "$i" -eq 0 ] || f="$f.$i"
        if ca_regular "$f" && [ -r "$CA_REG" ]; then
          ca_tmo "$CA_FTO" tail -c 262144 "$CA_REG" 2>/dev/null |
            awk -v d="$l" -v n="$i" "$CA_AWK_LIB$CA_AWK_CBLOG"
        fi
        i=$((i + 1))
      done
    fi
    IFS=$CA_NL
  done
  IFS=$oifs
}

# Other ACME clients: acme.sh homes (domain configurations), lego folders, Caddy storage.
ca_acme() {
  CA_SEEN=
  oifs=$IFS; IFS=$CA_NL
  for h in $CA_RN_ACME; do
    IFS=$oifs
    if ! ca_seen "$h" && [ -d "$h" ]; then
      set --
      set +f
      for f in "$h"/*/*.conf; do
        case $f in "$h"/ca/* | */account.conf) continue ;; esac
        ca_rfile "$f" && set -- "$@" "$f"
      done
      set -f
      [ "$#" -eq 0 ] || ca_tmo "$CA_FTO" awk "$CA_AWK_LIB$CA_AWK_RNLIB$CA_AWK_ACMESH" "$@"
    fi
    IFS=$CA_NL
  done
  for g in $CA_RN_LEGO; do
    [ -d "$g/certificates" ] && awk "$CA_AWK_LIB$CA_AWK_ACME1" lego "$g" "$g/certificates/"
  done
  for g in $CA_RN_CADDY; do
    [ -d "$g/certificates" ] && awk "$CA_AWK_LIB$CA_AWK_ACME1" caddy "$g" "$g/certificates/"
  done
  IFS=$oifs
}

# The kubelet's rotation settings, and kubeadm's own view where kubeadm is installed
# (JSON where the version has it, the table otherwise). Neither renews anything.
ca_kube() {
  awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT kubernetes "$CA_RN_KUBE" kubelet "$CA_RN_KUBELET"
  set --
  for f in "$CA_RN_KUBELET/config.yaml" "$CA_RN_KUBELET/kubeadm-flags.env"; do
    ca_rfile "$f" && set -- "$@" "$f"
  done
  [ "$#" -eq 0 ] || ca_tmo "$CA_FTO" awk "$CA_AWK_LIB$CA_AWK_KUBELET" "$@"
  [ -n "$CA_RN_KUBEADM" ] && ca_have kubeadm || return 0
  kind=json
  out=$(ca_tmo 30 kubeadm certs check-expiration -o json 2>/dev/null </dev/null) || out=
  case $out in
  *CertificateExpirationInfo*) ;;
  *)
    kind=table
    out=$(ca_tmo 30 kubeadm certs check-expiration 2>/dev/null </dev/null) || :
    ;;
  esac
  case $out in *CERTIFICATE*) printf '%s\n' "$out" | awk -v kind="$kind" "$CA_AWK_LIB$CA_AWK_KUBEADM" ;; esac
}

# The certificate files the kubeconfigs of the Kubernetes folder name (absolute paths, one
# a line), to be read like files a web server's configuration names.
ca_krefs() {
  set --
  set +f
  for f in "$CA_RN_KUBE"/*.conf; do ca_rfile "$f" && set -- "$@" "$f"; done
  set -f
  [ "$#" -eq 0 ] || ca_tmo "$CA_FTO" awk "$CA_AWK_LIB$CA_AWK_KREFS" "$@"
}

ca_renewal() {
  CA_RN_LEGO=
  ca_units
  ca_cron
  ca_certbot
  ca_acme
  ca_kube
}
