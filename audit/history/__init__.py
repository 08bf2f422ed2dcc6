"""SQLite run history: durable, versioned, one writer at a time.

A run is committed as it goes (one transaction per host) and is either complete or marked
partial; WAL with `synchronous=FULL`; a second run at the same time is refused by a lock;
a database from a newer schema is refused. The database and its -wal, -shm and lock files
are created mode 0600: they hold host names, addresses, paths and findings.

Layout of the database (schema version in `PRAGMA user_version`, the file marked as ours
with `PRAGMA application_id`):

    runs          one row per run: id, started/finished, status, inventory, settings (JSON)
    hosts         one row per HostResult of a run (Host fields, outcome, timings, bytes),
                  pointing at its evidence: files_evidence, trust_evidence (its system CA
                  bundles), listener_evidence; its probes' timings (probe_ms), which differ
                  every run, stay in the row
    evidence      one row per distinct body of evidence, named by the SHA-256 of its rows:
                  a host whose files, trust store or listeners are byte-identical to
                  evidence already stored (last night's) points at it instead of copying it
    certificates  one row per distinct certificate across all runs, unique by sha256: the
                  DER once, plus the parsed CertInfo columns (an integer `pk` is what the
                  rows below point at, to keep them small)
    locations     where each certificate was found (path, kind, index, format,
                  servername -> certificates.pk), per files or trust-store evidence
    unparseable, key_files, issues, tls_configs     per files evidence
    ca_bundles    per trust-store evidence (per files evidence in records of schema 4)
    listeners -> probes -> probe_chain     per listener evidence; chains in order
    findings      per run, every Finding field, in model order; their texts (title,
                  detail, diagnose, fix, why) once per distinct text in finding_texts
    location_view, served_view   locations and served chains joined to run id and sha256

Every child row carries `seq`, its position in the model's tuple, so a run reads back in
exactly the order it was written. Datetimes are ISO 8601 UTC text ("...Z"). Text that is
not valid UTF-8 (lone surrogates from a `surrogateescape` decode of a remote file name) is
stored as a BLOB of its `surrogatepass` encoding and restored exactly on reading.

The run lock is an `flock` on `<db>.lock`, taken by `begin_run` and held until
`finish_run` or `close`; readers never take it (they only peek to tell a running run from
an interrupted one). The lock file is never followed through a symlink, and anything but
a regular file there is refused.

What a run costs: a host whose evidence did not change since it was last recorded costs
its `hosts` row and its findings' rows (tools/bench_history.py measures a 150-certificate
host at about 1.4 KB per run, against 21.5 KB when every run copied its evidence). Old
runs go with `History.prune`, which also deletes the evidence, certificates and texts
nothing points at any more.

Modules:

    schema   the table declarations, migrations, schema_version, opening checks
    table    Column / Index / Table: DDL, INSERT and SELECT generated from a declaration
    superseded  declarations a rebuild replaced (they generate the earlier migrations)
    rows     model <-> row mapping, by column name
    codec    value codecs (text, datetimes, JSON lists) and rows by column name
    store    History: open, close, transactions, begin/resume/record/finish a run
    evidence a host's evidence and a finding's texts, stored once and shared by digest
    writer   HostWriter: a running run's hosts committed from a thread of their own
    prune    deleting runs, and what nothing left points at
    reads    RunReads (History's reading half): list_runs, load_run, run_status, ...
    lock     RunLock, the run lock file
    files    default_db_path, creating the database file, errors that name it

The diff between two runs is pure logic and lives in `audit.diff`.
"""

from audit.history.files import default_db_path
from audit.history.lock import LOCK_GRACE_SECONDS
from audit.history.reads import RunStatus, RunSummary
from audit.history.schema import APPLICATION_ID, BUSY_TIMEOUT_MS, Migration, schema_version
from audit.history.store import CERT_CACHE_SIZE, History
from audit.history.writer import HostWriter

__all__ = [
    "APPLICATION_ID",
    "BUSY_TIMEOUT_MS",
    "CERT_CACHE_SIZE",
    "LOCK_GRACE_SECONDS",
    "History",
    "HostWriter",
    "Migration",
    "RunStatus",
    "RunSummary",
    "default_db_path",
    "schema_version",
]
