# certaudit remote collector. Read-only: it opens files for reading, writes nothing anywhere
# (no redirection into files, no temporary files), runs no tool that takes a lock or rotates
# a log, and sends only public data: complete certificate blocks, file metadata, listening
# sockets, the TLS directives of web-server configuration (file paths, addresses, names and
# keywords; any other argument, such as an inline key or a PIN, is replaced by a marker of
# what it was), and for each key file that configuration names the SHA-256 of the public
# key `openssl pkey -pubout` derives from it on the host (the key itself is read by openssl
# here and never printed).
#
# build_script() prepends these parameters, then renewal.sh (definitions for CA_RENEW):
#   CA_NONCE='<random>'  CA_MAXB=<max bytes per file>  CA_MAXF=<max entries per root>
#   CA_LISTEN=<1 or empty>                           (discover listeners and web configs)
#   CA_PROCCONF=<1 or empty>                         (also the configs running servers use)
#   CA_RENEW=<1 or empty>                            (renewal pipelines, below)
#   CA_RN_CONF CA_RN_LOGS CA_RN_UNITS CA_RN_STAMPS CA_RN_CRON CA_RN_ACME CA_RN_CADDY
#   CA_RN_KUBE CA_RN_KUBELET: newline-separated folders and files read for them;
#   CA_RN_SDRUN (systemd's runtime folder), CA_RN_SYSTEMCTL and CA_RN_KUBEADM (1 or empty:
#   ask systemctl, run `kubeadm certs check-expiration`)
#   set -- 'd/etc/ssl' ... 'x/extra/path' ... 'n/etc/nginx/nginx.conf' ...
#                     (d = default root, x = asked for, n/a/h = nginx/Apache/HAProxy config)
#
# Portable: POSIX sh (dash, bash --posix, busybox ash) with GNU or busybox find/od/head/ls
# and any POSIX awk (gawk, mawk, busybox). File names only ever travel as separate argv
# entries (find -exec, awk ARGV) and are never expanded unquoted, evaluated or parsed from
# text; every name in the output is hex-encoded. (Include patterns read from web-server
# configuration are the one thing expanded unquoted, for globbing alone, with IFS a newline.)
#
# Output: one frame on stdout, everything else is noise the parser ignores.
#   BEGIN-<nonce>
#   <TAG> <field> ... .          one record per line; the last field is always "."
#   END-<nonce> <number of record lines>
# Fields are hex ("-" for empty), base64, decimal or fixed tokens; never spaces.
#   FACT <hexkey> <hexvalue> .
#   UNSUP <hexdetail> .                              a tool or feature is missing
#   BUNDLE <hexpath> .                               a system CA bundle exists
#   ROOT <hexpath> <d|x|c> <scan|missing|skipped|broken|relative|notfile> .
#                                                    notfile: a certificate file a
#                                                    configuration names (c) is not a regular
#                                                    file; it was not opened
#   LINK <hexlink> <hextarget> <f|d> .               a symlink whose target is a regular file
#                                                    (f) or a symlinked root directory (d)
#   PEM <hexpath> <n> <label> <base64> .             n-th certificate block of a file: the DER
#                                                    of one certificate (TRUSTED CERTIFICATE:
#                                                    without what follows it) or a certs-only
#                                                    PKCS#7 (no content, no signer)
#   KPEM <hexpath> <n> <label> <base64> .            n-th certificate block inside the values of
#                                                    exactly certificate-authority-data and
#                                                    client-certificate-data (plain, quoted,
#                                                    block scalars, JSON), decoded on the host
#   KREF <hexkubeconfig> <ca|client> <hexfile> .     a certificate file a kubeconfig names
#                                                    (certificate-authority, client-certificate)
#   BAD <hexpath> <n> <unterminated|badchars|notcert|length> .   a block that was not sent
#   DER <hexpath> <cert|p7> <b64|hex> <data> <trailing 0|1> .   (p7: certs-only, as PEM)
#   BADDER <hexpath> .                               DER that changed or failed its re-check
#   KEY <hexpath> <kind> <hexowner> <hexgroup> <octal mode|-> .
#   BIG <hexpath> .                                  larger than CA_MAXB, not read
#   TOOMANY <hexroot> <max> .                        more than CA_MAXF entries, scan stopped
#   DENIED <hexpath> .  RERR <hexpath> .             could not read a file
#   ERR <hexroot> <hexmessages> .                    stderr of the walk under one root
# Listeners and web-server TLS configuration (when CA_LISTEN is set):
#   SS <hexline> .                                   one line of `ss -Htlnp`
#   TCP <4|6> <hexline> .                            a LISTEN line of /proc/net/tcp(6) (no ss)
#   SOCK <inode> <pid> <hexcomm> .                   a process holding a listening socket (no ss)
#   WEBFILE <nginx|apache|haproxy> <hexpath> .       a configuration file read
#   WEB <server> <hexfile> <line> <hexblock> <hexname> <hexargs> .
#                                                    one directive that matters for TLS, with
#                                                    the block it is in (kind, main file, line,
#                                                    file; \037-separated) and its arguments
#                                                    (\037-separated, paths made absolute; an
#                                                    argument not known to be public is only
#                                                    a marker: data:, engine:, pkcs11:,
#                                                    <not a path>, <not sent>; see pub_path)
#   KEYPUB <hexkeypath> <ok|noopenssl|unreadable|missing|notfile|failed> <sha256|-> .
#                                                    SHA-256 of the public key derived on the
#                                                    host from a key file a configuration names
#                                                    (notfile: not a regular file, not opened)
# Renewal pipelines (when CA_RENEW is set; nothing is run that renews, locks or rotates):
#   FACT systemd <running|no> .                      systemctl answered, or CA_RN_SDRUN exists
#   SDPROP <hexunit> <hexkey> <hexvalue> .           a property from `systemctl show` (state,
#                                                    triggers, the service's last result)
#   UNIT <hextimer> <hexfile|-> <enabled|disabled|masked|absent> <stamp mtime|-> .
#                                                    a timer as its files say
#   CRON <hexfile> <line> <hexschedule> <hexuser|-> <certbot|acme.sh|lego>
#        <active|commented> <nosystemd|-> <hexfolders> .   a cron line running a client
#                                                    (never its command; nosystemd: Debian's
#                                                    guard, it does nothing where systemd runs)
#   CBLIN <hexconfdir> <hexconf> <hexcert> <hexfullchain> <hexarchive> <hexauthenticator>
#         <hexserver> <hexrenew_before_expiry> .     a certbot renewal configuration
#   CBLOG <hexlogdir> <n> <hexline> .                a line of certbot's log (letsencrypt.log.n)
#                                                    matching a known pattern
#   ACME <acme.sh|lego|caddy> <hexsource> <hexname> <hexpaths> <next renewal|-> .
#                                                    certificates another ACME client manages
#                                                    (\037-separated folders and files)
#   KUBELET <hexfile> <hexkey> <true|false> .        the kubelet's rotation settings
#   KUBEADM <json|table> <hexline> .                 `kubeadm certs check-expiration` output
#
# Web-server configuration is read, never run: main files are the 'n' (nginx), 'a' (Apache)
# and 'h' (HAProxy) arguments plus the -c/-f files of running servers that run as root or a
# web-server account from the server's own binary in a system folder (ca_trusted; any other
# process is only named, in FACT ignored_servers); `include` patterns are expanded here by
# the shell's own globbing (nothing is evaluated) and the expansion is handed to awk, which
# reads each file with getline. Certificate files a configuration names outside the scan
# roots are read too (ROOT tag c), never a folder. Every file a configuration names is
# opened only when its canonical path is a regular file outside /proc, /sys and /dev
# (ca_regular), and each read of one has a deadline of CA_FTO seconds where timeout(1)
# exists (FACT file_deadline). Key digests come last, after every certificate.

# shellcheck disable=SC2016,SC2089,SC2090,SC2153  # awk and handler texts are literal; CA_* come first
CA_AWK_LIB='
function ca_init(  i) {
  for (i = 1; i < 256; i++) CA_ORD[sprintf("%c", i)] = i
  CA_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  for (i = 0; i < 64; i++) CA_B64V[substr(CA_B64, i + 1, 1)] = i
  for (i = 0; i < 16; i++) CA_HEXV[substr("0123456789abcdef", i + 1, 1)] = i
  CA_BOM = sprintf("%c%c%c", 239, 187, 191)
  CA_P2[0] = 1
  for (i = 1; i <= 16; i++) CA_P2[i] = CA_P2[i - 1] * 2
  SQ = sprintf("%c", 39)
  CA_CTL = sprintf("[%c-%c%c]", 1, 31, 127)
  CA_KYRE = "(certificate-authority|client-certificate)(-data)?[\"" SQ "]?[ \t]*:"
  CA_KKRE = "client-key-data[\"" SQ "]?[ \t]*:"
}
function hex(s,  o, j, n) {
  n = length(s); o = ""
  for (j = 1; j <= n; j++) o = o sprintf("%02x", CA_ORD[substr(s, j, 1)])
  return o == "" ? "-" : o
}
function hexp(s,  j, n) {
  n = length(s)
  if (n == 0) { printf "-"; return }
  for (j = 1; j <= n; j++) printf "%02x", CA_ORD[substr(s, j, 1)]
}
function b64dec(s, n, out,  i, L, c, acc, bits, k, v, p) {
  acc = 0; bits = 0; k = 0; L = length(s)
  for (i = 1; i <= L && k < n; i++) {
    c = substr(s, i, 1)
    if (c == "=") break
    if (!(c in CA_B64V)) return -1
    acc = acc * 64 + CA_B64V[c]; bits += 6
    if (bits >= 8) { bits -= 8; p = CA_P2[bits]; v = int(acc / p); out[++k] = v; acc -= v * p }
  }
  return k
}
function b64len(s,  L, pads) {
  L = length(s)
  if (L == 0 || L % 4 != 0) return -1
  pads = (substr(s, L, 1) == "=") + (substr(s, L - 1, 1) == "=")
  return L / 4 * 3 - pads
}
function hexdec(s, n, out,  i, k, L) {
  k = 0; L = length(s)
  for (i = 1; i + 1 <= L && k < n; i += 2)
    out[++k] = CA_HEXV[substr(s, i, 1)] * 16 + CA_HEXV[substr(s, i + 1, 1)]
  return k
}
function derlen(b, p, n,  l, m, j) {
  if (p + 1 > n) return -1
  l = b[p + 1]
  if (l < 128) { CA_HL = 2; return l }
  m = l - 128
  if (m < 1 || m > 4 || p + 1 + m > n) return -1
  l = 0
  for (j = 1; j <= m; j++) l = l * 256 + b[p + 1 + j]
  CA_HL = 2 + m
  return l
}
function bytes_are(b, p, s,  a, m, i) {
  m = split(s, a, " ")
  for (i = 1; i <= m; i++) if (b[p + i - 1] "" != a[i]) return 0
  return 1
}
# What a DER prefix is: cert (SEQUENCE { SEQUENCE { [0] | INTEGER ...) - the only shape that
# is ever sent, p7 (signedData), key (SEQUENCE { INTEGER 0|1 ...: PKCS#1, PKCS#8, SEC1),
# p12 (SEQUENCE { INTEGER 3 ...), enc (encrypted PKCS#8) or "". Sets CA_TOTAL.
function derkind(b, n,  l1, p, l2, p3) {
  CA_TOTAL = -1
  if (n < 6 || b[1] != 48) return ""
  l1 = derlen(b, 1, n)
  if (l1 < 0) return ""
  CA_TOTAL = CA_HL + l1; p = 1 + CA_HL
  if (b[p] == 2 && b[p + 1] == 1 && p + 2 <= n) {
    if (b[p + 2] == 0 || b[p + 2] == 1) return "key"
    if (b[p + 2] == 3) return "p12"
    return ""
  }
  if (b[p] == 6 && bytes_are(b, p + 1, "9 42 134 72 134 247 13 1 7 2")) return "p7"
  if (b[p] == 48) {
    l2 = derlen(b, p, n)
    if (l2 < 0 || l2 + CA_HL > l1) return ""
    p3 = p + CA_HL
    if (p3 > n) return ""
    if (b[p3] == 160 || b[p3] == 2) return "cert"
    if (b[p3] == 6 && bytes_are(b, p3 + 2, "42 134 72 134 247 13 1") && (b[p3 + 9] == 5 || b[p3 + 9] == 12)) return "enc"
  }
  return ""
}
# Whether b[1..n], the whole DER, is a certs-only PKCS#7: ContentInfo { signedData,
# [0] SignedData { version, digestAlgorithms, encapContentInfo { eContentType } and no
# eContent, [0] certificates, [1] crls (both optional), signerInfos SET {} } } and nothing
# after it. A signed message, whose content is not a certificate, is never sent.
function p7_certs_only(b, n,  p, l, sd_end, e_end) {
  if (b[1] != 48 || derlen(b, 1, n) < 0) return 0
  p = 1 + CA_HL
  if (b[p] != 6 || (l = derlen(b, p, n)) < 0) return 0
  p += CA_HL + l
  if (b[p] != 160 || derlen(b, p, n) < 0) return 0
  p += CA_HL
  if (b[p] != 48 || (l = derlen(b, p, n)) < 0) return 0
  sd_end = p + CA_HL + l; p += CA_HL
  if (b[p] != 2 || (l = derlen(b, p, n)) < 0) return 0
  p += CA_HL + l
  if (b[p] != 49 || (l = derlen(b, p, n)) < 0) return 0
  p += CA_HL + l
  if (b[p] != 48 || (l = derlen(b, p, n)) < 0) return 0
  e_end = p + CA_HL + l; p += CA_HL
  if (b[p] != 6 || (l = derlen(b, p, n)) < 0 || p + CA_HL + l != e_end) return 0
  p = e_end
  if (b[p] == 160) { if ((l = derlen(b, p, n)) < 0) return 0; p += CA_HL + l }
  if (b[p] == 161) { if ((l = derlen(b, p, n)) < 0) return 0; p += CA_HL + l }
  return b[p] == 49 && b[p + 1] == 0 && p + 2 == sd_end && sd_end == n + 1
}
# The base64 of the first n bytes that the base64 text s encodes (s holds at least n).
function b64cut(s, n,  q, r, g, v) {
  q = int(n / 3); r = n - q * 3
  if (r == 0) return substr(s, 1, q * 4)
  g = substr(s, q * 4 + 1, 4)
  if (r == 1) { v = CA_B64V[substr(g, 2, 1)]; return substr(s, 1, q * 4) substr(g, 1, 1) substr(CA_B64, v - v % 16 + 1, 1) "==" }
  v = CA_B64V[substr(g, 3, 1)]
  return substr(s, 1, q * 4) substr(g, 1, 2) substr(CA_B64, v - v % 4 + 1, 1) "="
}
function badpath(f) {
  return f !~ /^\// || f ~ /^\/(dev|proc|sys|inet|inet4|inet6)(\/|$)/
}
function pem_bad(s, why) {
  printf "BAD %s %d %s .\n", CA_HP, S_n[s], why
  S_in[s] = 0; S_body[s] = ""
}
function pem_emit(s, tag,  body, b, k, want, kd, dl, lab) {
  body = S_body[s]; S_in[s] = 0; S_body[s] = ""
  want = (S_lab[s] == "PKCS7" || S_lab[s] == "CERTIFICATE CHAIN") ? "p7" : "cert"
  split("", b)
  k = b64dec(body, want == "p7" ? length(body) : 24, b)
  kd = derkind(b, k)
  if (kd != want) { printf "BAD %s %d notcert .\n", CA_HP, S_n[s]; return }
  dl = b64len(body)
  if (dl > CA_TOTAL && S_lab[s] == "TRUSTED CERTIFICATE") {
    body = b64cut(body, CA_TOTAL)
    dl = CA_TOTAL
  }
  if (dl != CA_TOTAL) { printf "BAD %s %d length .\n", CA_HP, S_n[s]; return }
  if (want == "p7" && !p7_certs_only(b, k)) { printf "BAD %s %d notcert .\n", CA_HP, S_n[s]; return }
  lab = S_lab[s]; gsub(/ /, "_", lab)
  printf "%s %s %d %s %s .\n", tag, CA_HP, S_n[s], lab, body
}
function pem_line(s, line, tag,  t) {
  t = line
  if (substr(t, 1, 3) == CA_BOM) t = substr(t, 4)
  sub(/\r$/, "", t); sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t)
  if (substr(t, 1, 5) == "-----") {
    if (S_in[s] && t == ("-----END " S_lab[s] "-----")) { pem_emit(s, tag); return }
    if (S_in[s]) pem_bad(s, "unterminated")
    if (t ~ /^-----BEGIN (CERTIFICATE|TRUSTED CERTIFICATE|X509 CERTIFICATE|PKCS7|CERTIFICATE CHAIN)-----$/) {
      S_in[s] = 1; S_lab[s] = substr(t, 12, length(t) - 16); S_body[s] = ""
      S_n[s] = S_next[s]++
    }
    return
  }
  if (!S_in[s] || t == "") return
  if (t !~ /^[A-Za-z0-9+\/=]+$/) { pem_bad(s, "badchars"); return }
  S_body[s] = S_body[s] t
}
function pem_start(s) { S_in[s] = 0; S_body[s] = ""; S_next[s] = 0 }
function pem_end(s) { if (S_in[s]) pem_bad(s, "unterminated") }
# Kubeconfig data. Only the values of exactly `certificate-authority-data` and
# `client-certificate-data` are read (a plain, quoted or block scalar; a JSON member), they
# are decoded here and only the certificate blocks inside are printed (KPEM): no other key,
# `client-key-data` included, is ever decoded. `certificate-authority` and
# `client-certificate` file names are printed as KREF (mode "refs": as absolute paths for
# the shell). KM is the value being read: "" none, plain, block, dq or sq (quoted, on
# further lines); KI the indentation of its key.
function kube_reset() { KM = ""; KV = ""; KK = ""; KI = -1 }
function kube_indent(line,  n) { n = match(line, /[^ ]/); return n ? n - 1 : length(line) }
function kube_line(line,  t, ind) {
  t = line; sub(/\r$/, "", t)
  if (KM == "dq" || KM == "sq") { kube_quoted(t); return 1 }
  if (KM != "") {
    if (t ~ /^[ \t]*$/) return 1
    ind = kube_indent(t)
    if (ind > KI && !(KM == "plain" && t ~ /^[ \t]*#/)) {
      sub(/^[ \t]+/, "", t)
      if (KM == "plain") sub(/[ \t]+#.*$/, "", t)
      KV = KV t
      return 1
    }
    kube_flush()
  }
  return kube_start(t)
}
# The key of a YAML line, when it is one of the four: sets KK and KI, returns what follows
# its colon (with a leading "\001" when the line is not one of them).
function kube_key(t,  s, ind, p, q, i, K, rest) {
  s = t; ind = kube_indent(s); s = substr(s, ind + 1)
  if (substr(s, 1, 2) == "- ") {
    s = substr(s, 3); p = match(s, /[^ ]/)
    if (!p) return "\001"
    ind += 1 + p; s = substr(s, p)
  }
  q = substr(s, 1, 1)
  if (q != "\"" && q != SQ) q = ""
  else s = substr(s, 2)
  for (i = 1; i <= 4; i++) {
    K = (i == 1) ? "certificate-authority-data" : (i == 2) ? "client-certificate-data" : (i == 3) ? "certificate-authority" : "client-certificate"
    if (substr(s, 1, length(K)) != K) continue
    rest = substr(s, length(K) + 1)
    if (q != "") { if (substr(rest, 1, 1) != q) continue; rest = substr(rest, 2) }
    sub(/^[ \t]*/, "", rest)
    if (substr(rest, 1, 1) != ":") continue
    rest = substr(rest, 2)
    if (q == "" && rest != "" && rest !~ /^[ \t]/) continue
    KK = K; KI = ind
    sub(/^[ \t]+/, "", rest); sub(/[ \t]+$/, "", rest)
    return rest
  }
  return "\001"
}
function kube_start(t,  rest, c) {
  rest = kube_key(t)
  if (rest == "\001") return kube_json(t)
  if (KK !~ /-data$/) { kube_ref(KK, kube_scalar(rest)); kube_reset(); return 1 }
  if (substr(rest, 1, 1) == "!") sub(/^![^ \t]*[ \t]*/, "", rest)
  c = substr(rest, 1, 1)
  KV = ""
  if (c == "|" || c == ">") { KM = "block"; return 1 }
  if (c == "\"" || c == SQ) { KM = (c == "\"") ? "dq" : "sq"; kube_quoted(substr(rest, 2)); return 1 }
  sub(/[ \t]+#.*$/, "", rest)
  KV = rest; KM = "plain"
  return 1
}
function kube_quoted(s,  i, L, c, q) {
  q = (KM == "dq") ? "\"" : SQ
  L = length(s)
  for (i = 1; i <= L; i++) {
    c = substr(s, i, 1)
    if (c == q) {
      if (KM == "sq" && substr(s, i + 1, 1) == SQ) { i++; continue }
      kube_flush()
      return
    }
    if (KM == "dq" && c == "\\") { i++; continue }
    KV = KV c
  }
}
function kube_scalar(s,  q, j) {
  q = substr(s, 1, 1)
  if (q == "\"" || q == SQ) { s = substr(s, 2); j = index(s, q); return j ? substr(s, 1, j - 1) : s }
  sub(/[ \t]+#.*$/, "", s)
  return s
}
# JSON (or YAML flow) members "key": "value", any number on a line.
function kube_json(t,  s, K, j, v, found) {
  if (t ~ /^[ \t]*#/ || (!index(t, "\"certificate-authority") && !index(t, "\"client-certificate"))) return 0
  s = t; found = 0
  while (match(s, /"(certificate-authority-data|client-certificate-data|certificate-authority|client-certificate)"[ \t]*:[ \t]*"/)) {
    K = substr(s, RSTART + 1); K = substr(K, 1, index(K, "\"") - 1)
    s = substr(s, RSTART + RLENGTH); j = index(s, "\"")
    if (!j) break
    v = substr(s, 1, j - 1); s = substr(s, j + 1)
    if (K !~ /-data$/) kube_ref(K, v)
    else if (!KREFS) kube_value(v)
    found = 1
  }
  return found
}
function kube_ref(K, v,  d) {
  gsub(/\\/, "", v)
  if (v == "" || length(v) > 4096 || v ~ CA_CTL) return
  if (KREFS) {
    if (substr(v, 1, 1) != "/") { d = KFILE; sub(/\/[^\/]*$/, "", d); v = d "/" v }
    print v
    return
  }
  printf "KREF %s %s %s .\n", CA_HP, (K == "client-certificate") ? "client" : "ca", hex(v)
}
function kube_flush() { if (KK != "" && !KREFS) kube_value(KV); kube_reset() }
function kube_end() { if (KM != "") kube_flush(); kube_reset() }
function kube_value(v,  i, L, c, acc, bits, p, ch, buf) {
  gsub(/[ \t\r\\]/, "", v)
  acc = 0; bits = 0; buf = ""; L = length(v); S_in[2] = 0; S_body[2] = ""
  for (i = 1; i <= L; i++) {
    c = substr(v, i, 1)
    if (!(c in CA_B64V)) break
    acc = acc * 64 + CA_B64V[c]; bits += 6
    if (bits >= 8) {
      bits -= 8; p = CA_P2[bits]; ch = int(acc / p); acc -= ch * p
      if (ch == 10) { pem_line(2, buf, "KPEM"); buf = "" }
      else if (ch > 0 && length(buf) < 4096) buf = buf sprintf("%c", ch)
    }
  }
  if (buf != "") pem_line(2, buf, "KPEM")
  pem_end(2)
}
'

# Pass A over the first `lim` arguments: one flag word per file, space separated.
#   p pkcs12 name, j keystore name, x key name, 0 starts with byte 0x30, c certificate
#   block, k private-key block (or kubeconfig client-key-data), y kubeconfig certificate
#   data, L grew past the cap,
#   e could not be read, - nothing to do.
CA_AWK_CLS='
BEGIN {
  ca_init()
  k = ARGC - 1; if (lim + 0 < k) k = lim + 0
  for (i = 1; i <= k; i++) {
    f = ARGV[i]; fl = ""
    base = f; sub(/.*\//, "", base); ext = tolower(base)
    if (ext ~ /\./) sub(/.*\./, "", ext); else ext = ""
    if (badpath(f)) { printf "- "; continue }
    if (ext == "p12" || ext == "pfx") { printf "p "; continue }
    if (ext ~ /^(jks|keystore|bks|jceks|uber)$/) { printf "j "; continue }
    if (ext ~ /^(key|pk8|p8|ppk|priv)$/) fl = "x"
    n = 0; first = 1; hc = 0; hk = 0; hy = 0; big = 0
    while ((r = (getline line < f)) > 0) {
      if (first) { first = 0; if (substr(line, 1, 1) == "0") fl = fl "0" }
      n += length(line) + 1
      if (n > maxb + 1) { big = 1; break }
      if (index(line, "-----BEGIN")) {
        if (line ~ /-----BEGIN [A-Z0-9 ]*PRIVATE KEY/) hk = 1
        else if (line ~ /-----BEGIN (CERTIFICATE|TRUSTED CERTIFICATE|X509 CERTIFICATE|PKCS7|CERTIFICATE CHAIN)-----/) hc = 1
      } else if (index(line, "PuTTY-User-Key-File-") == 1) hk = 1
      else if (index(line, "certificate") || index(line, "key-data")) {
        if (line ~ CA_KYRE) hy = 1
        if (line ~ CA_KKRE) hk = 1
      }
    }
    if (r < 0) fl = fl "e"
    close(f)
    if (big) fl = fl "L"
    if (hc) fl = fl "c"
    if (hk) fl = fl "k"
    if (hy) fl = fl "y"
    printf "%s ", (fl == "" ? "-" : fl)
  }
  exit
}
'

# Pass B: certificate blocks of the files pass A flagged c or y (never key blocks).
CA_AWK_PEM='
BEGIN {
  ca_init()
  k = ARGC - 1; if (lim + 0 < k) k = lim + 0
  split(cls, F, " ")
  for (i = 1; i <= k; i++) {
    if (F[i] !~ /[cy]/ || F[i] ~ /[eL]/) continue
    f = ARGV[i]
    if (badpath(f)) continue
    CA_HP = hex(f); n = 0; ky = (F[i] ~ /y/)
    pem_start(1); pem_start(2); kube_reset()
    while ((getline line < f) > 0) {
      n += length(line) + 1
      if (n > maxb + 1) break
      if (ky && kube_line(line)) continue
      pem_line(1, line, "PEM")
    }
    if (ky) kube_end()
    pem_end(1)
    close(f)
  }
  exit
}
'

# DER prefix (od -tx1 text in h) -> "<kind> <total length>".
CA_AWK_DERSNIFF='
BEGIN {
  ca_init()
  n = split(h, a, " ")
  for (i = 1; i <= n; i++) b[i] = CA_HEXV[substr(a[i], 1, 1)] * 16 + CA_HEXV[substr(a[i], 2, 1)]
  kd = derkind(b, n)
  printf "%s %d\n", (kd == "" ? "none" : kd), CA_TOTAL
  exit
}
'

# The encoded DER on stdin is checked again (it is what gets printed) and printed.
CA_AWK_DEROUT='
BEGIN { ca_init(); p = ARGV[1]; ARGV[1] = "" }
{ d = d $0 }
END {
  gsub(/[^A-Za-z0-9+\/=]/, "", d)
  split("", b)
  want = (kind == "p7") ? length(d) : 24
  if (enc == "b64") { m = b64dec(d, want, b); dl = b64len(d) } else { m = hexdec(d, want, b); dl = length(d) / 2 }
  kd = derkind(b, m)
  if (kind == "p7" && !p7_certs_only(b, m)) kd = ""
  if (d != "" && kd == kind && dl == CA_TOTAL) printf "DER %s %s %s %s %s .\n", hex(p), kind, enc, d, trail
  else printf "BADDER %s .\n", hex(p)
}
'

# ls -ld output on stdin -> KEY record.
CA_AWK_KEY='
function bit(c, on, v) { return index(on, c) ? v : 0 }
BEGIN { ca_init(); p = ARGV[1]; ARGV[1] = ""; done = 0 }
NR == 1 && !done {
  m = $1
  mode = bit(substr(m, 2, 1), "r", 256) + bit(substr(m, 3, 1), "w", 128) + bit(substr(m, 4, 1), "xs", 64)
  mode += bit(substr(m, 5, 1), "r", 32) + bit(substr(m, 6, 1), "w", 16) + bit(substr(m, 7, 1), "xs", 8)
  mode += bit(substr(m, 8, 1), "r", 4) + bit(substr(m, 9, 1), "w", 2) + bit(substr(m, 10, 1), "xt", 1)
  mode += bit(substr(m, 4, 1), "sS", 2048) + bit(substr(m, 7, 1), "sS", 1024) + bit(substr(m, 10, 1), "tT", 512)
  printf "KEY %s %s %s %s %o .\n", hex(p), kind, hex($3), hex($4), mode
  done = 1
}
END { if (!done) printf "KEY %s %s - - - .\n", hex(p), kind }
'

# Web-server configuration (see the header). mode: inc | rec | paths. ARGV: main files, "%%",
# then the expanded includes as (pattern, count, file...) groups.
CA_AWK_WEB='
function web_init(  i, j, c, p) {
  ca_init()
  SQ = sprintf("%c", 39); US = sprintf("%c", 31)
  CTL = sprintf("[%c-%c%c]", 1, 31, 127)
  ADDR = "^[][a-z0-9.:*_%@,-]+$"
  NAME = "^([a-z][a-z0-9+.-]*://?)?[a-z0-9_.*-]+(:[0-9]+)?$"
  NGXLISTEN = "^(ssl|quic|http2|http3|default_server|default|proxy_protocol|deferred|bind|reuseport)$"
  ONOFF = "^(on|off|optional|optional_no_ca|none|require)$"
  PROTO = "^[+-]?(all|sslv2|sslv3|tlsv1|tlsv1[.][0-3])$"
  BINDWORD = "^(ssl|crt|crt-list|ca-file)$"
  i = 1
  while (i < ARGC && ARGV[i] != "%%") { MAIN[++NMAIN] = ARGV[i]; i++ }
  for (i++; i + 1 < ARGC; i += 2 + c) {
    p = ARGV[i]; c = ARGV[i + 1] + 0; MAPN[p] = c
    for (j = 1; j <= c; j++) MAPF[p, j] = ARGV[i + 1 + j]
  }
}
function web_dir(f,  d) {
  d = f; sub(/\/[^\/]*$/, "", d)
  if (srv == "apache" && d ~ /\/conf$/) sub(/\/conf$/, "", d)
  return d == "" ? "/" : d
}
function web_abs(p, base) {
  if (p == "" || substr(p, 1, 1) == "/" || index(p, "$") || p ~ /^[A-Za-z][A-Za-z0-9+.-]*:/) return p
  if (base == "") return p
  return (base ~ /\/$/ ? base : base "/") p
}
function web_words(s, W,  n, i, L, c, q, w, had) {
  n = 0; w = ""; q = ""; had = 0; L = length(s)
  for (i = 1; i <= L; i++) {
    c = substr(s, i, 1)
    if (q != "") {
      if (c == "\\" && i < L) { i++; w = w substr(s, i, 1); continue }
      if (c == q) { q = ""; continue }
      w = w c; continue
    }
    if (c == "\"" || c == SQ) { q = c; had = 1; continue }
    if (c == " " || c == "\t" || c == "\r") {
      if (w != "" || had) { W[++n] = w; w = ""; had = 0 }
      continue
    }
    w = w c
  }
  if (w != "" || had) W[++n] = w
  return n
}
# What of a configuration argument crosses the wire. A file argument: an absolute path of
# printable characters, else only a marker of what it was (an inline "data:" key or
# certificate, an engine or PKCS#11 URI and its PIN, anything else). Other arguments: only
# when they have the shape of what they are (an address, a host name, a keyword).
function pub_path(p,  l) {
  if (substr(p, 1, 1) == "/" && length(p) <= 4096 && p !~ CTL) return p
  l = tolower(p)
  if (substr(l, 1, 5) == "data:") return "data:"
  if (substr(l, 1, 7) == "engine:") return "engine:"
  if (substr(l, 1, 7) == "pkcs11:") return "pkcs11:"
  return "<not a path>"
}
function pub_like(w, re) {
  return (w == "" || (length(w) <= 255 && tolower(w) ~ re)) ? w : "<not sent>"
}
# P[2..] = the public form of the arguments W[2..n] of directive `name`; returns the count.
function web_public(name, W, n, P,  i, re, val) {
  if (name ~ /^(ssl_certificate|ssl_certificate_key|sslcertificatefile|sslcertificatekeyfile|sslcertificatechainfile|include|includeoptional)$/) {
    if (n >= 2) P[2] = pub_path(W[2])
    return n >= 2 ? 2 : n
  }
  val = 0
  for (i = 2; i <= n; i++) {
    if (val) { P[i] = pub_path(W[i]); val = 0; continue }
    if (name == "bind") {
      re = (i == 2) ? ADDR : BINDWORD
      val = (i > 2 && W[i] ~ /^(crt|crt-list|ca-file)$/)
    } else if (name == "listen" && i > 2 && srv != "haproxy") re = (srv == "nginx") ? NGXLISTEN : "^https?$"
    else if (name ~ /^(server_name|servername|serveralias)$/) re = NAME
    else if (name ~ /^(ssl|sslengine|ssl_verify_client|sslverifyclient)$/) re = ONOFF
    else if (name ~ /^(ssl_protocols|sslprotocol)$/) re = PROTO
    else re = ADDR
    P[i] = pub_like(W[i], re)
  }
  return n
}
function web_emit(f, ln, blk, name, W, n,  i, a, P, m) {
  if (mode != "rec") return
  split("", P)
  m = web_public(name, W, n, P)
  a = ""
  for (i = 2; i <= m; i++) a = a (i > 2 ? US : "") P[i]
  printf "WEB %s %s %d %s %s %s .\n", srv, hex(f), ln, hex(blk), hex(name), hex(a)
}
function web_path(kind, p) {
  if (mode != "paths" || pub_path(p) != p || index(p, "$") || ((kind, p) in SEENP)) return
  SEENP[kind, p] = 1
  print kind " " p
}
function web_include(pat, d,  k, c) {
  if (substr(pat, 1, 1) != "/" || index(pat, "$")) return
  if (!(pat in MAPN)) {
    if (mode == "inc" && !(pat in INCSEEN)) { INCSEEN[pat] = 1; print pat }
    return
  }
  c = MAPN[pat]
  for (k = 1; k <= c; k++) web_file(MAPF[pat, k], d + 1)
}
function web_block(  i) {
  for (i = SD; i >= 1; i--) if (SID[i] != "") return SID[i]
  return "H" US ROOTF
}
function web_file(f, d,  line, ln, nb, r) {
  if (d > 8 || (f in OPEN) || NREAD >= 256 || badpath(f)) return
  OPEN[f] = 1; NREAD++
  if (mode == "rec") printf "WEBFILE %s %s .\n", srv, hex(f)
  ln = 0; nb = 0; CUR[d] = ""; Q[d] = ""; CONT[d] = ""
  while ((r = (getline line < f)) > 0) {
    ln++; nb += length(line) + 1
    if (nb > maxb + 0) { if (mode == "rec") printf "BIG %s .\n", hex(f); break }
    if (srv == "nginx") ngx_line(f, ln, line, d)
    else if (srv == "apache") apa_line(f, ln, line, d)
    else hap_line(f, ln, line, d)
  }
  if (r < 0 && mode == "rec") printf "RERR %s .\n", hex(f)
  close(f)
  delete OPEN[f]
}
function ngx_line(f, ln, line, d,  i, L, c) {
  L = length(line)
  for (i = 1; i <= L; i++) {
    c = substr(line, i, 1)
    if (Q[d] != "") {
      CUR[d] = CUR[d] c
      if (c == "\\" && i < L) { i++; CUR[d] = CUR[d] substr(line, i, 1); continue }
      if (c == Q[d]) Q[d] = ""
      continue
    }
    if (c == "#") break
    if (c == ";" || c == "{" || c == "}") { ngx_stmt(f, d, c); continue }
    if (CUR[d] == "") {
      if (c == " " || c == "\t" || c == "\r") continue
      CURLN[d] = ln
    }
    if (c == "\"" || c == SQ) Q[d] = c
    CUR[d] = CUR[d] c
  }
  if (CUR[d] != "") CUR[d] = CUR[d] " "
}
function ngx_stmt(f, d, c,  s, ln, n, W, name) {
  s = CUR[d]; ln = CURLN[d]; CUR[d] = ""
  split("", W)
  n = web_words(s, W)
  if (c == "}") { if (SD > 0) SD--; return }
  if (c == "{") {
    SD++; STK[SD] = W[1]
    SID[SD] = (W[1] == "server" && STK[SD - 1] != "upstream") ? "S" US ROOTF US ln US f : ""
    return
  }
  if (n == 0) return
  name = W[1]
  if (name == "include") {
    W[2] = web_abs(W[2], BASE)
    web_emit(f, ln, web_block(), name, W, n)
    web_include(W[2], d)
    return
  }
  if (name ~ /^(listen|server_name|ssl|ssl_certificate|ssl_certificate_key|ssl_verify_client|ssl_protocols)$/) {
    if (name == "ssl_certificate" || name == "ssl_certificate_key") {
      W[2] = web_abs(W[2], BASE)
      web_path(name == "ssl_certificate" ? "c" : "k", W[2])
    }
    web_emit(f, ln, web_block(), name, W, n)
  }
}
function apa_line(f, ln, line, d,  t, n, W, name) {
  t = line; sub(/\r$/, "", t)
  if (CONT[d] != "") { t = CONT[d] t; ln = CONTLN[d] }
  if (t ~ /\\$/) {
    if (CONT[d] == "") CONTLN[d] = ln
    sub(/\\$/, " ", t); CONT[d] = t
    return
  }
  CONT[d] = ""
  sub(/^[ \t]+/, "", t); sub(/[ \t]+$/, "", t)
  if (t == "" || substr(t, 1, 1) == "#") return
  split("", W)
  if (substr(t, 1, 2) == "</") { if (SD > 0) SD--; return }
  if (substr(t, 1, 1) == "<") {
    t = substr(t, 2); sub(/[ \t]*>$/, "", t)
    n = web_words(t, W); name = tolower(W[1])
    SD++; STK[SD] = name; SID[SD] = ""
    if (name == "virtualhost") {
      SID[SD] = "V" US ROOTF US ln US f
      web_emit(f, ln, SID[SD], name, W, n)
    }
    return
  }
  n = web_words(t, W); name = tolower(W[1])
  if (name == "serverroot") { BASE = W[2]; return }
  if (name == "include" || name == "includeoptional") {
    W[2] = web_abs(W[2], BASE)
    web_emit(f, ln, web_block(), name, W, n)
    web_include(W[2], d)
    return
  }
  if (name ~ /^(listen|servername|serveralias|sslengine|sslcertificatefile|sslcertificatekeyfile|sslcertificatechainfile|sslverifyclient|sslprotocol)$/) {
    if (name ~ /^sslcertificate/) {
      W[2] = web_abs(W[2], BASE)
      web_path(name == "sslcertificatekeyfile" ? "k" : "c", W[2])
      if (name == "sslcertificatefile") web_path("k", W[2])
    }
    web_emit(f, ln, web_block(), name, W, n)
  }
}
function hap_line(f, ln, line, d,  t, n, W, name, i, p) {
  t = line; sub(/\r$/, "", t)
  if (t ~ /^[ \t]*#/) return
  sub(/[ \t]+#.*$/, "", t)
  if (t ~ /^[ \t]*$/) return
  split("", W)
  n = web_words(t, W); name = tolower(W[1])
  if (t !~ /^[ \t]/ && name ~ /^(global|defaults|frontend|backend|listen|peers|resolvers|userlist|mailers|program|http-errors|ring|cache|crt-store)$/) {
    HSEC = "F" US ROOTF US ln US f
    web_emit(f, ln, HSEC, name, W, n)
    return
  }
  if (name == "crt-base") { CRTB = W[2]; return }
  if (name == "ca-base") { CAB = W[2]; return }
  if (name != "bind") return
  for (i = 2; i < n; i++) {
    if (W[i] == "crt" || W[i] == "crt-list" || W[i] == "ca-file") {
      p = web_abs(W[i + 1], W[i] == "ca-file" ? CAB : CRTB)
      W[i + 1] = p
      if (W[i] == "crt") { web_path("c", p); web_path("k", p); web_path("k", p ".key") }
    }
  }
  web_emit(f, ln, (HSEC == "" ? "F" US ROOTF US 0 US f : HSEC), name, W, n)
}
BEGIN {
  web_init()
  for (m = 1; m <= NMAIN; m++) {
    ROOTF = MAIN[m]; BASE = web_dir(ROOTF); SD = 0; HSEC = ""; CRTB = ""; CAB = ""
    web_file(ROOTF, 0)
  }
  exit
}
'

# Listening sockets without ss: LISTEN lines of /proc/net/tcp(6), then the processes that
# hold them (from `ls -l /proc/*/fd/` on stdin; only what the privilege allows).
CA_AWK_TCP='FNR > 1 && $4 == "0A" { printf "TCP %s %s .\n", fam, hex($0) } BEGIN { ca_init() }'
CA_AWK_SOCK='
BEGIN { ca_init() }
FILENAME != "-" { if (FNR > 1 && $4 == "0A") L[$10] = 1; next }
/^\/proc\/[0-9]+\/fd\/?:$/ { pid = $0; sub(/^\/proc\//, "", pid); sub(/\/.*$/, "", pid); next }
match($0, /socket:\[[0-9]+\]/) {
  ino = substr($0, RSTART + 8, RLENGTH - 9)
  if (!(ino in L) || ((ino, pid) in S) || pid == "") next
  S[ino, pid] = 1; comm = ""; f = "/proc/" pid "/comm"
  if ((getline comm < f) <= 0) comm = ""
  close(f)
  printf "SOCK %s %s %s .\n", ino, pid, hex(comm)
}
'
CA_AWK_LINES='BEGIN { ca_init() } { printf "%s %s .\n", tag, hex($0) }'
CA_AWK_KEYPUB='
BEGIN {
  ca_init(); st = ARGV[2]; d = ARGV[3]
  if (d !~ /^[0-9a-f]+$/ || length(d) != 64) { d = "-"; if (st == "ok") st = "failed" }
  printf "KEYPUB %s %s %s .\n", hex(ARGV[1]), st, d
  exit
}
'
# A server's command line (one argument per ARGV entry, or one string when the server
# rewrote its title, as nginx does) -> the file after -c / -f.
CA_AWK_ARGV='
BEGIN {
  n = 0
  for (i = 1; i < ARGC; i++) { m = split(ARGV[i], P, " "); for (j = 1; j <= m; j++) T[++n] = P[j] }
  for (i = 1; i < n; i++) if (T[i] == "-c" || T[i] == "-f") print T[i + 1]
  exit
}
'

CA_AWK_ONE='BEGIN { ca_init(); printf "%s %s .\n", ARGV[1], hex(ARGV[2]); exit }'
CA_AWK_LINK='BEGIN { ca_init(); printf "LINK %s %s %s .\n", hex(ARGV[1]), hex(ARGV[2]), ARGV[3]; exit }'
CA_AWK_PAIRS='BEGIN { ca_init(); for (i = 2; i + 1 < ARGC; i += 2) printf "%s %s %s .\n", ARGV[1], hex(ARGV[i]), hex(ARGV[i + 1]); exit }'
CA_AWK_EACH='BEGIN { ca_init(); for (i = 2; i < ARGC; i++) printf "%s %s .\n", ARGV[1], hex(ARGV[i]); exit }'
CA_AWK_ROOT='BEGIN { ca_init(); printf "ROOT %s %s %s .\n", hex(ARGV[1]), ARGV[2], ARGV[3]; exit }'
CA_AWK_HEX1='BEGIN { ca_init(); print hex(ARGV[1]); exit }'
CA_AWK_ERR='BEGIN { ca_init(); printf "ERR %s ", hex(ARGV[1]); hexp(ARGV[2]); printf " .\n"; exit }'
CA_AWK_OSID='$1 == "ID" { v = $2; gsub(/[" ]/, "", v); gsub(sprintf("%c", 39), "", v); print v; exit }'
CA_AWK_GATE='
$1 == "N" { n += $2; if (n > max + 0) { printf "TOOMANY %s %d .\n", hr, max; exit 0 } next }
{ print }
'
CA_AWK_FRAME='BEGIN { print "BEGIN-" n } { print; c++ } END { print "END-" n " " c + 0 }'

# Shell functions shared by the handlers (prepended to their text) and the main script.
# ca_tmo SECONDS CMD...: CMD under timeout(1) where the host has it (CA_TMO says which form),
# in this shell's process group; SECONDS "-" means no deadline. ca_run CMD...: CMD under
# the deadline of the walk (CA_WTMO, set for files a configuration names).
CA_SH_LIB='
set -f
ca_tmo() {
  ca_s=$1; shift
  case $ca_s:$CA_TMO in
  -:*|*:) "$@" ;;
  *:fg) timeout --foreground "$ca_s" "$@" ;;
  *:t) timeout -t "$ca_s" "$@" ;;
  *) timeout "$ca_s" "$@" ;;
  esac
}
ca_run() { ca_tmo "${CA_WTMO:--}" "$@"; }
ca_one() { awk "$CA_AWK_LIB$CA_AWK_ONE" "$1" "$2"; }
ca_key() {
  if [ -n "$CA_LS" ]; then ls -ld -- "$2" | awk -v kind="$1" "$CA_AWK_LIB$CA_AWK_KEY" "$2"
  else printf "" | awk -v kind="$1" "$CA_AWK_LIB$CA_AWK_KEY" "$2"
  fi
}
ca_der() {
  CA_DK=
  [ -n "$CA_DERSNIFF" ] || return 0
  h=$(ca_run od -An -v -tx1 -N 24 "$1") || return 0
  r=$(awk -v h="$h" "$CA_AWK_LIB$CA_AWK_DERSNIFF")
  case $r in
  cert\ *|p7\ *)
    set -- "$1" $r
    t=$(ca_run head -c "$(($3 + 1))" "$1" | wc -c | tr -d " ")
    tr=0; [ "${t:-0}" -gt "$3" ] && tr=1
    if [ -n "$CA_B64" ]; then
      ca_run head -c "$3" "$1" | base64 | tr -d "\n" |
        awk -v kind="$2" -v enc=b64 -v trail="$tr" "$CA_AWK_LIB$CA_AWK_DEROUT" "$1"
    else
      ca_run head -c "$3" "$1" | od -An -v -tx1 | tr -d " \n" |
        awk -v kind="$2" -v enc=hex -v trail="$tr" "$CA_AWK_LIB$CA_AWK_DEROUT" "$1"
    fi ;;
  key\ *|enc\ *) CA_DK=der-key ;;
  esac
}
'

# Runs under find -exec for symlinks: only a link whose target is a regular file inside a
# scan root is reported; the target is never opened here.
CA_H_LINK='
set -f
nl="
"
[ -n "$CA_RL" ] || exit 0
for f do
  printf "N 1\n" || exit 0
  [ -f "$f" ] || continue
  t=$(readlink -f "$f"; echo x); t=${t%x}; t=${t%"$nl"}
  [ -n "$t" ] || continue
  ok=
  oifs=$IFS; IFS=$nl
  for r in $CA_ROOTS_NL; do case $t in "$r"*) ok=1 ;; esac; done
  IFS=$oifs
  [ -n "$ok" ] && awk "$CA_AWK_LIB$CA_AWK_LINK" "$f" "$t" f
done
exit 0
'

# Runs under find -exec for regular files over the size cap: never opened. A PKCS#12 or
# Java keystore needs no reading to be reported as a key file.
CA_H_BIG='
printf "N %s\n" "$#" || exit 0
for f do
  case $f in
  *.[pP]12|*.[pP][fF][xX]) ca_key pkcs12 "$f" ;;
  *.[jJ][kK][sS]|*.[kK][eE][yY][sS][tT][oO][rR][eE]|*.[bB][kK][sS]|*.[jJ][cC][eE][kK][sS])
    ca_key keystore "$f" ;;
  *.[kK][eE][yY]) ca_one BIG "$f"; ca_key key "$f" ;;
  *) ca_one BIG "$f" ;;
  esac
done
exit 0
'

# Runs under find -exec for regular files within the size cap, 64 at a time so that the
# gate can stop a root after CA_MAXF entries.
CA_H_FILE='
while [ "$#" -gt 0 ]; do
  k=$#; [ "$k" -gt 64 ] && k=64
  printf "N %s\n" "$k" || exit 0
  cls=$(ca_run awk -v lim="$k" -v maxb="$CA_MAXB" "$CA_AWK_LIB$CA_AWK_CLS" "$@")
  case $cls in
  *[cy]*) ca_run awk -v lim="$k" -v maxb="$CA_MAXB" -v cls="$cls" "$CA_AWK_LIB$CA_AWK_PEM" "$@" ;;
  esac
  j=0
  while [ "$j" -lt "$k" ]; do
    j=$((j + 1)); f=$1; shift
    fl=${cls%% *}; cls=${cls#* }
    case $fl in
    ""|-) continue ;;
    *e*)
      if [ ! -e "$f" ]; then continue
      elif [ -r "$f" ]; then ca_one RERR "$f"
      else ca_one DENIED "$f"
      fi
      case $fl in *x*) ca_key key "$f" ;; esac
      continue ;;
    *L*) ca_one BIG "$f"; continue ;;
    esac
    kind=
    case $fl in
    p) kind=pkcs12 ;;
    j) kind=keystore ;;
    *k*) case $fl in *c*|*y*) kind=combined ;; *) kind=pem-key ;; esac ;;
    *0*) case $fl in *c*|*y*) ;; *) ca_der "$f"; kind=$CA_DK ;; esac ;;
    esac
    if [ -z "$kind" ]; then case $fl in *x*) kind=key ;; esac; fi
    if [ -n "$kind" ]; then ca_key "$kind" "$f"; fi
  done
done
exit 0
'

ca_have() { [ -n "$(command -v "$1")" ]; }

# ca_tmo and ca_run for the main script too (the library's own fixed text).
eval "$CA_SH_LIB"

ca_unsup() { awk "$CA_AWK_LIB$CA_AWK_EACH" UNSUP "$@"; }

ca_facts() {
  os_id=
  if [ -r /etc/os-release ]; then os_id=$(awk -F= "$CA_AWK_OSID" /etc/os-release); fi
  sh_exe=
  if [ -n "$CA_RL" ]; then sh_exe=$(readlink "/proc/$$/exe"); fi
  find_exe=
  if [ -n "$CA_FIND" ] && [ -n "$CA_RL" ]; then find_exe=$(readlink -f "$(command -v find)"); fi
  awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT \
    os "$(uname -s)" os_id "$os_id" uid "$(id -u)" user "$(id -un)" \
    shell "${sh_exe:-unknown}" find "${find_exe:-unknown}" \
    find_exec_plus "$CA_EXECPLUS" encoding "$CA_ENC" \
    max_file_bytes "$CA_MAXB" max_files_per_root "$CA_MAXF" file_deadline "${CA_TMO:+$CA_FTO}"
}

ca_caps() {
  CA_FIND=; CA_RL=; CA_B64=; CA_DERSNIFF=1; CA_T=+; CA_EXECPLUS=yes; CA_ENC=base64; CA_LS=1
  missing=
  if ca_have find; then CA_FIND=1; else missing="$missing find"; fi
  if ca_have readlink; then CA_RL=1; else missing="$missing readlink"; fi
  for c in od head tr wc; do
    ca_have "$c" || { missing="$missing $c"; CA_DERSNIFF=; }
  done
  ca_have ls || { missing="$missing ls"; CA_LS=; }
  if ca_have base64; then CA_B64=1; else CA_ENC=hex; fi
  # Reads of files a configuration names get a deadline of CA_FTO seconds each where
  # timeout(1) exists (GNU: --foreground keeps the command in this process group; old
  # busybox: -t).
  CA_TMO=; CA_WTMO=
  if ! ca_have timeout; then :
  elif timeout --foreground 9 true 2>/dev/null; then CA_TMO=fg
  elif timeout 9 true 2>/dev/null; then CA_TMO=plain
  elif timeout -t 9 true 2>/dev/null; then CA_TMO=t
  fi
  if [ -n "$CA_FIND" ]; then
    # Old busybox builds lack "-exec {} +"; fall back to one handler per file.
    if ! probe=$(find /dev/null -prune -exec true {} + 2>&1); then CA_T=";"; CA_EXECPLUS=no; fi
    : "$probe"
  fi
  export CA_B64 CA_DERSNIFF CA_RL CA_LS CA_TMO CA_WTMO
  # shellcheck disable=SC2086
  [ -z "$missing" ] || ca_unsup $missing
}

# Sets CA_SCAN (the canonical path to walk, empty for nothing), CA_STATE and, when that
# differs from the path asked for (a symlinked root or a symlinked parent), CA_LT (d or f).
ca_resolve() {
  CA_SCAN=; CA_LT=; p=$1
  case $p in /*) ;; *) CA_STATE=relative; return ;; esac
  case $p in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) CA_STATE=skipped; return ;; esac
  if [ ! -e "$p" ]; then
    if [ -L "$p" ]; then CA_STATE=broken; else CA_STATE=missing; fi
    return
  fi
  t=$p
  if [ -n "$CA_RL" ]; then
    t=$(readlink -f "$p"; echo x); t=${t%x}; t=${t%"$CA_NL"}
    [ -n "$t" ] || t=$p
  fi
  case $t in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) CA_STATE=skipped; return ;; esac
  if [ "$t" != "$p" ]; then
    if [ -d "$t" ]; then CA_LT=d
    elif [ -f "$t" ]; then CA_LT=f
    else CA_STATE=skipped; return
    fi
  fi
  CA_SCAN=$t; CA_STATE=scan
}

# One walk per root: never crosses into another filesystem (-xdev) or into /proc, /sys,
# /dev; never follows a symlink; reads regular files only. The copies update-ca-trust
# generates from tls-ca-bundle.pem (hashed folder, OpenSSL trust, Java, EFI formats) are
# skipped: they hold the same anchors again and would triple the output on RHEL. So is
# Debian's c_rehash link farm in /etc/ssl/certs (~300 symlinks into /usr/share, or to
# files the walk reads directly): resolving each one costs a process, most of a walk.
ca_walk() {
  # shellcheck disable=SC2067  # CA_T is "+" or ";"
  e=$( { find "$1" -xdev \( -path /proc -o -path /sys -o -path /dev \
      -o -path /etc/pki/ca-trust/extracted/pem/directory-hash \
      -o -path /etc/pki/ca-trust/extracted/openssl -o -path /etc/pki/ca-trust/extracted/java \
      -o -path /etc/pki/ca-trust/extracted/edk2 \
      -o \( -type l -path '/etc/ssl/certs/*' \) \) -prune -o \
      -type l -exec sh -c "$CA_H_LINK" sh {} "$CA_T" -o \
      -type f -size +"$CA_MAXB"c -exec sh -c "$CA_SH_LIB$CA_H_BIG" sh {} "$CA_T" -o \
      -type f -exec sh -c "$CA_SH_LIB$CA_H_FILE" sh {} "$CA_T" 2>&1 1>&3 3>&-; } | head -c 65536)
  [ -z "$e" ] || awk "$CA_AWK_LIB$CA_AWK_ERR" "$1" "$e"
}

ca_scan() {
  hr=$(awk "$CA_AWK_LIB$CA_AWK_HEX1" "$1")
  ca_walk "$1" 3>&1 | awk -v max="$CA_MAXF" -v hr="$hr" "$CA_AWK_GATE"
}

# Listening TCP sockets: `ss -Htlnp` when it works, else /proc/net/tcp(6) and the fd links
# of processes (both include loopback-only listeners; owners only where privilege allows).
ca_listen() {
  if ca_have ss && out=$(ss -Htlnp 2>/dev/null); then
    awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT sockets ss
    [ -z "$out" ] || printf '%s\n' "$out" | awk -v tag=SS "$CA_AWK_LIB$CA_AWK_LINES"
    return 0
  fi
  set --
  for t in /proc/net/tcp /proc/net/tcp6; do [ -r "$t" ] && set -- "$@" "$t"; done
  if [ "$#" -eq 0 ]; then
    awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT sockets none
    ca_unsup "ss and /proc/net/tcp"
    return 0
  fi
  awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT sockets proc
  for t do
    fam=4; [ "$t" = /proc/net/tcp6 ] && fam=6
    awk -v fam="$fam" "$CA_AWK_LIB$CA_AWK_TCP" "$t"
  done
  if [ -n "$CA_LS" ]; then
    set +f
    # shellcheck disable=SC2012  # fd entries are numbers; only the link targets are read
    ls -l /proc/[0-9]*/fd/ 2>/dev/null | awk "$CA_AWK_LIB$CA_AWK_SOCK" "$@" -
    set -f
  fi
  return 0
}

# Whether the server process /proc/PID ($1, comm $2) may name configuration for root to
# read: every uid of its Uid: line is root's or a web-server account's (CA_SVC_UIDS), and its
# executable is that server's binary in a system folder, owned by root and writable by no
# one else (folder included). An unprivileged user's own "nginx" names nothing.
ca_trusted() {
  ca_u=$(awk '$1 == "Uid:" { print $2, $3, $4, $5; exit }' "$1/status" 2>/dev/null)
  [ -n "$ca_u" ] || return 1
  for ca_x in $ca_u; do
    case " $CA_SVC_UIDS " in *" $ca_x "*) ;; *) return 1 ;; esac
  done
  ca_e=$(readlink "$1/exe" 2>/dev/null) || return 1
  ca_e=${ca_e% (deleted)}
  case $2:$ca_e in
  nginx:/usr/sbin/nginx | nginx:/usr/bin/nginx | nginx:/usr/local/sbin/nginx) ;;
  nginx:/usr/local/bin/nginx | nginx:/usr/local/nginx/sbin/nginx) ;;
  haproxy:/usr/sbin/haproxy | haproxy:/usr/bin/haproxy) ;;
  haproxy:/usr/local/sbin/haproxy | haproxy:/usr/local/bin/haproxy) ;;
  apache2:/usr/sbin/apache2 | httpd:/usr/sbin/httpd | httpd:/usr/bin/httpd) ;;
  httpd:/usr/local/apache2/bin/httpd | httpd:/usr/local/sbin/httpd) ;;
  *) return 1 ;;
  esac
  ca_rootonly "$ca_e" && ca_rootonly "${ca_e%/*}"
}

# Whether $1 is owned by root and writable by neither its group nor others.
ca_rootonly() {
  [ -n "$CA_LS" ] || return 1
  ls -ldn "$1" 2>/dev/null |
    awk 'NR == 1 && $3 == "0" && substr($1, 6, 1) != "w" && substr($1, 9, 1) != "w" { ok = 1 }
      END { exit !ok }'
}

# Main configuration files of running servers (nginx -c, haproxy -f, httpd/apache2 -f) that
# ca_trusted accepts, appended to CA_WEBMAIN as "<server> <path>" lines; the others are
# named in the fact ignored_servers. /proc is only read.
ca_procconf() {
  ca_have tr && [ -n "$CA_RL" ] || return 0
  CA_SVC_UIDS="0$(awk -F: '$1 ~ /^(www-data|nginx|apache|httpd|haproxy|www|http|wwwrun)$/ {
    printf " %s", $3 }' /etc/passwd 2>/dev/null)"
  ignored=
  set +f
  for c in /proc/[0-9]*/comm; do
    set -f
    comm=
    read -r comm 2>/dev/null <"$c" || continue
    case $comm in
    nginx) srv=nginx ;;
    haproxy) srv=haproxy ;;
    httpd|apache2) srv=apache ;;
    *) continue ;;
    esac
    d=${c%/comm}
    [ -r "$d/cmdline" ] || continue
    args=$(tr '\000' '\n' 2>/dev/null <"$d/cmdline") || continue
    oifs=$IFS; IFS=$CA_NL
    # shellcheck disable=SC2086  # IFS is a newline here: one argument per line
    confs=$(awk "$CA_AWK_ARGV" $args)
    IFS=$oifs
    [ -n "$confs" ] || continue
    if ! ca_trusted "$d" "$comm"; then ignored="$ignored $comm:${d#/proc/}"; continue; fi
    IFS=$CA_NL
    for conf in $confs; do
      case $conf in /*) CA_WEBMAIN="$CA_WEBMAIN$srv $conf$CA_NL" ;; esac
    done
    IFS=$oifs
  done
  set -f
  [ -z "$ignored" ] || awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT ignored_servers "${ignored# }"
}

# Whether the file $1 that a configuration names may be opened: its canonical path (CA_REG)
# lies outside /proc, /sys and /dev and is a regular file, not a FIFO, a device, a socket
# or a folder. Nothing is opened to find out.
ca_regular() {
  CA_REG=
  case $1 in /*) ;; *) return 1 ;; esac
  ca_t=$1
  if [ -n "$CA_RL" ]; then
    ca_t=$(readlink -f "$1" 2>/dev/null; echo x); ca_t=${ca_t%x}; ca_t=${ca_t%"$CA_NL"}
  elif [ -L "$1" ]; then
    return 1
  fi
  case $ca_t in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"") return 1 ;; esac
  [ -f "$ca_t" ] && [ ! -p "$ca_t" ] && [ ! -c "$ca_t" ] && [ ! -b "$ca_t" ] &&
    [ ! -S "$ca_t" ] || return 1
  CA_REG=$ca_t
}

# One traversal of a server's main configuration file. Include patterns are expanded by the
# shell's globbing alone, a few rounds deep, then awk prints the records (and, for the
# shell, the certificate and key paths named, into CA_WEBPATHS). Each awk run has a deadline.
ca_small() {
  [ -z "$CA_FIND" ] || [ -z "$(find "$1" -prune -size +"$CA_MAXB"c 2>/dev/null)" ]
}

ca_web() {
  srv=$1; main=$2
  ca_regular "$main" || return 0
  if ! ca_small "$CA_REG"; then awk "$CA_AWK_LIB$CA_AWK_EACH" BIG "$main"; return 0; fi
  oifs=$IFS; IFS=$CA_NL
  set -- "$main" "%%"
  rounds=0
  while [ "$rounds" -lt 6 ]; do
    rounds=$((rounds + 1))
    new=$(ca_tmo "$CA_FTO" awk -v mode=inc -v srv="$srv" -v maxb="$CA_MAXB" \
      "$CA_AWK_LIB$CA_AWK_WEB" "$@")
    [ -n "$new" ] || break
    for pat in $new; do
      ok=
      set +f
      for f in $pat; do
        case $f in *"$CA_NL"*) continue ;; esac
        ca_regular "$f" || continue
        if ca_small "$CA_REG"; then ok="$ok$f$CA_NL"; else awk "$CA_AWK_LIB$CA_AWK_EACH" BIG "$f"; fi
      done
      set -f
      n=0
      for f in $ok; do n=$((n + 1)); done
      set -- "$@" "$pat" "$n"
      for f in $ok; do set -- "$@" "$f"; done
    done
  done
  ca_tmo "$CA_FTO" awk -v mode=rec -v srv="$srv" -v maxb="$CA_MAXB" "$CA_AWK_LIB$CA_AWK_WEB" "$@"
  CA_WEBPATHS="$CA_WEBPATHS$(ca_tmo "$CA_FTO" awk -v mode=paths -v srv="$srv" \
    -v maxb="$CA_MAXB" "$CA_AWK_LIB$CA_AWK_WEB" "$@")$CA_NL"
  IFS=$oifs
}

# For each key file a configuration names: the SHA-256 of the public key openssl derives
# from it here. Only that digest is printed; the key stays on the host. Runs after every
# certificate is collected; a path that is not a regular file is never opened (notfile), one
# over the size cap is not read (BIG), and each openssl run has a deadline.
ca_keypubs() {
  ossl=
  ca_have openssl && ossl=1
  awk "$CA_AWK_LIB$CA_AWK_PAIRS" FACT openssl "$([ -n "$ossl" ] && echo yes || echo no)"
  oifs=$IFS; IFS=$CA_NL
  for l in $CA_WEBPATHS; do
    case $l in "k /"*) k=${l#k } ;; *) continue ;; esac
    d=-
    if [ ! -e "$k" ]; then st=missing
    elif ! ca_regular "$k"; then st=notfile
    elif [ ! -r "$CA_REG" ]; then st=unreadable
    elif [ -z "$ossl" ]; then st=noopenssl
    elif ! ca_small "$CA_REG"; then st=failed; awk "$CA_AWK_LIB$CA_AWK_EACH" BIG "$k"
    else
      d=$(ca_tmo "$CA_FTO" openssl pkey -in "$CA_REG" -passin pass: -pubout -outform DER \
        2>/dev/null </dev/null | openssl dgst -sha256 2>/dev/null)
      d=${d##*[ =]}
      st=ok
      case $d in "" | e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)
        st=failed; d=- ;;
      esac
    fi
    awk "$CA_AWK_LIB$CA_AWK_KEYPUB" "$k" "$st" "$d"
  done
  IFS=$oifs
}

# Whether the canonical path $1 lies inside a root already in CA_ROOTS_NL.
ca_inside() {
  oifs=$IFS; IFS=$CA_NL
  for r in $CA_ROOTS_NL; do
    case "$1/" in "$r"*) IFS=$oifs; return 0 ;; esac
  done
  IFS=$oifs
  return 1
}

ca_main() {
  ca_caps
  ca_facts
  CA_WEBPATHS=
  if [ -n "$CA_LISTEN" ]; then
    ca_listen
    CA_WEBMAIN=
    for a do
      case $a in
      n/*) CA_WEBMAIN="${CA_WEBMAIN}nginx ${a#?}$CA_NL" ;;
      a/*) CA_WEBMAIN="${CA_WEBMAIN}apache ${a#?}$CA_NL" ;;
      h/*) CA_WEBMAIN="${CA_WEBMAIN}haproxy ${a#?}$CA_NL" ;;
      esac
    done
    [ -z "$CA_PROCCONF" ] || ca_procconf
    seen=
    oifs=$IFS; IFS=$CA_NL
    for m in $CA_WEBMAIN; do
      case "$CA_NL$seen" in *"$CA_NL$m$CA_NL"*) continue ;; esac
      seen="$seen$m$CA_NL"
      IFS=$oifs
      ca_web "${m%% *}" "${m#* }"
      IFS=$CA_NL
    done
    for l in $CA_WEBPATHS; do
      case $l in "c /"*) set -- "$@" "c${l#c }" ;; esac
    done
    IFS=$oifs
  fi
  if [ -n "$CA_RENEW" ]; then
    refs=$(ca_krefs)
    oifs=$IFS; IFS=$CA_NL
    for l in $refs; do
      case $l in /*) set -- "$@" "c$l" ;; esac
    done
    IFS=$oifs
  fi
  set -- "$@" "--"
  for c in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt \
      /etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem /etc/ssl/cert.pem \
      /etc/ssl/ca-bundle.pem /etc/pki/tls/cacert.pem \
      /etc/ca-certificates/extracted/tls-ca-bundle.pem; do
    [ -f "$c" ] && set -- "$@" "$c"
  done
  # Positional parameters are now: roots... -- bundles...
  CA_ROOTS_NL=
  for a do
    [ "$a" = "--" ] && break
    case $a in d*|x*) ;; *) continue ;; esac
    ca_resolve "${a#?}"
    [ -n "$CA_SCAN" ] || continue
    CA_ROOTS_NL="$CA_ROOTS_NL${CA_SCAN%/}/$CA_NL"
  done
  export CA_ROOTS_NL
  bundles=
  for a do
    if [ -n "$bundles" ]; then awk "$CA_AWK_LIB$CA_AWK_EACH" BUNDLE "$a"; continue; fi
    [ "$a" = "--" ] && { bundles=1; continue; }
    tag=${a%"${a#?}"}
    case $tag in d|x|c) ;; *) continue ;; esac
    ca_resolve "${a#?}"
    CA_WTMO=
    if [ "$tag" = c ]; then
      # a certificate file a configuration names: read (with a deadline) unless a root
      # already covers it; a folder, a special file or a pseudo-filesystem path is a
      # file that is not one (notfile), never walked or opened
      [ -n "$CA_SCAN" ] || [ "$CA_STATE" = skipped ] || continue
      [ -n "$CA_SCAN" ] && ca_inside "${CA_SCAN%/}" && continue
      if [ -z "$CA_SCAN" ] || ! ca_regular "$CA_SCAN"; then
        awk "$CA_AWK_LIB$CA_AWK_ROOT" "${a#?}" c notfile
        continue
      fi
      CA_ROOTS_NL="$CA_ROOTS_NL${CA_SCAN%/}/$CA_NL"
      export CA_ROOTS_NL
      CA_WTMO=${CA_TMO:+$CA_FTO}
    fi
    export CA_WTMO
    awk "$CA_AWK_LIB$CA_AWK_ROOT" "${a#?}" "$tag" "$CA_STATE"
    [ -n "$CA_SCAN" ] || continue
    [ -z "$CA_LT" ] || awk "$CA_AWK_LIB$CA_AWK_LINK" "${a#?}" "$CA_SCAN" "$CA_LT"
    [ -n "$CA_FIND" ] && ca_scan "$CA_SCAN"
  done
  CA_WTMO=
  [ -z "$CA_RENEW" ] || ca_renewal
  [ -z "$CA_LISTEN" ] || ca_keypubs
  return 0
}

set -f
IFS='
 	'
CA_NL='
'
CA_FTO=10
LC_ALL=C
PATH="${PATH:+$PATH:}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
unset BASH_ENV ENV CDPATH
export LC_ALL PATH CA_MAXB CA_AWK_LIB CA_AWK_CLS CA_AWK_PEM CA_AWK_DERSNIFF CA_AWK_DEROUT \
  CA_AWK_KEY CA_AWK_ONE CA_AWK_LINK
if ca_have awk; then
  ca_main "$@" </dev/null | awk -v n="$CA_NONCE" "$CA_AWK_FRAME"
else
  printf 'BEGIN-%s\nUNSUP 61776b .\nEND-%s 1\n' "$CA_NONCE" "$CA_NONCE"
fi
