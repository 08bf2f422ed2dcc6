"""TLS probing: handshakes against one endpoint, directly or through an SSH channel, and
the probing of every listener of a host.

Modules, each importing only those listed before it:

- names: decoding what peers send (X.501 names as RFC 4514 text, first lines of
  plaintext answers made inert);
- wire: reading the handshake off the wire (record headers, the handshake-message tap,
  ServerHello version, Certificate chain, CertificateRequest CA names);
- starttls_codec: the byte formats of the binary preambles (LDAP's BER, MySQL's packets);
- starttls: the plaintext preambles that upgrade a connection to TLS, one class per
  protocol in a registry, and the protocol a server's greeting names;
- handshake: `probe_tls` (one handshake over any stream pair, never raises),
  `probe_direct`, the client context;
- listeners: `probe_listeners`, every listener of one host within the host's deadline.

Everything other packages use is importable from here.
"""

from audit.probe.handshake import (
    MAX_HANDSHAKE_BYTES,
    OpenStream,
    client_context,
    probe_direct,
    probe_tls,
)
from audit.probe.listeners import (
    LEGACY_PROTOCOLS,
    ProbeSettings,
    legacy_offer_problem,
    probe_listeners,
)
from audit.probe.names import dn_text, printable
from audit.probe.starttls import REGISTRY as STARTTLS_REGISTRY
from audit.probe.starttls import STARTTLS_PROTOCOLS, StartTls, StartTlsRefused

# USE_MESSAGE_CALLBACK is re-exported for reading only: the tap reads the flag from
# audit.probe.wire, so that is where a test switches it off.
from audit.probe.wire import READ_CHUNK, USE_MESSAGE_CALLBACK, looks_like_tls

__all__ = [
    "LEGACY_PROTOCOLS",
    "MAX_HANDSHAKE_BYTES",
    "READ_CHUNK",
    "STARTTLS_PROTOCOLS",
    "STARTTLS_REGISTRY",
    "USE_MESSAGE_CALLBACK",
    "OpenStream",
    "ProbeSettings",
    "StartTls",
    "StartTlsRefused",
    "client_context",
    "dn_text",
    "legacy_offer_problem",
    "looks_like_tls",
    "printable",
    "probe_direct",
    "probe_listeners",
    "probe_tls",
]
