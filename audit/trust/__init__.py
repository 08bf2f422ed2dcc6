"""Chain building and trust verdicts, with cryptography.x509.verification.

The question answered here is narrow: *does this chain reach a root a client trusts, and if
not, why not?* (and, when it does, *does a client with today's defaults still refuse it
because a certificate in it breaks a rule?*). It is kept apart from every other reason a
client may refuse a certificate, because each of those has its own finding and must not
be reported twice, or as the wrong thing. An expired leaf with a complete chain is
CERT_EXPIRED, not CHAIN_UNTRUSTED; a name mismatch is HOSTNAME_MISMATCH; a CN-only leaf is
SAN_MISSING; an RSA-1024 key or a SHA-1 signature is WEAK_KEY / WEAK_SIGNATURE. So trust is
evaluated like this:

1. **The library first.** Path building and validation are cryptography's
   (`PolicyBuilder` / `Store` / `ClientVerifier`), never ours, with three relaxations:
   a client verifier (no server name, so no name check); a permissive extension policy
   (end-entity: anything goes, so no SAN/EKU/AKI requirement; CA: only basicConstraints
   must be present, which the library insists on); and a validation time inside the leaf's
   validity window, so an expired or not-yet-valid leaf still verifies.
2. **A structural fallback when the library refuses anyway.** Some refusals cannot be
   relaxed: SHA-1/MD5 signatures ("forbidden signature algorithm"), RSA keys below 2048
   bits on a signer ("RSA key is too weak"), an intermediate expired at that time. Then the
   chain is linked by issuer name, key identifiers and the signature itself (checked with
   the issuer's public key, which still accepts legacy hashes), and we ask whether the path
   reaches a certificate in the store (same certificate, or same subject and key) or a
   certificate issued by one. If it does, the chain is *trusted* as far as trust goes; the
   verifier's refusal is kept in the verdict's detail and `strict_error`, and the other
   rules say what is wrong. Issuers taken from the chain must be CA certificates.
3. **Rules every strict client enforces.** A chain that reaches a store (by the library,
   or by signatures alone when an issuer in it is not a CA) is asked once more with the
   checks clients apply by default (`verify.client_refusal`); a refusal that names a rule
   (an issuer that is not a CA, keyCertSign, path length, name constraints, an EKU
   without serverAuth, an intermediate outside its validity, a leaf asserting CA:TRUE)
   makes the chain *invalid*, with the certificate at fault and its position
   (`refusals`). A certificate that was sent is never called missing.

The modules, each with one job:

- `stores`: the trust stores (`TrustStores`): Mozilla's roots from certifi, a --cafile,
  a host's OS store, and the fleet's intermediates.
- `paths`: linking without the library: who issued whom, paths from a pool of
  certificates, anchoring a path in a store, which certificate is the leaf, and what is
  wrong with the order a chain was sent in.
- `verify`: asking the library, relaxed (`verify_chain`, with the structural fallback),
  as a client with today's defaults (`client_refusal`) and strictly (`strict_error`), and
  tidying its refusals.
- `refusals`: which rule a refusal names (`Broken`) and which certificate breaks it.
- `facts`: a chain examined once (`ChainFacts`: the leaf, each store's answer as sent and
  with the extra intermediates, the sent order), and what a step concludes (`Conclusion`).
- `steps`: the verdict steps, in the order they are decided; its docstring lists the
  verdicts.
- `assess`: `assess_chain`: facts, then steps, then the verdict (`model.ChainVerdict`).
- `hostnames`: whether a certificate's SANs cover a host name (`matches_hostname`).
"""

from __future__ import annotations

from audit.trust.assess import assess_chain
from audit.trust.hostnames import matches_hostname
from audit.trust.paths import MAX_DEPTH
from audit.trust.stores import (
    DEFAULT_HOST_BUNDLE,
    STORE_NAMES,
    TrustStores,
    default_stores,
    fleet_intermediates,
    host_store,
    load_cafile,
    mozilla_roots,
)

__all__ = [
    "DEFAULT_HOST_BUNDLE",
    "MAX_DEPTH",
    "STORE_NAMES",
    "TrustStores",
    "assess_chain",
    "default_stores",
    "fleet_intermediates",
    "host_store",
    "load_cafile",
    "matches_hostname",
    "mozilla_roots",
]
