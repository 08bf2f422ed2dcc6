"""A host's answer is parsed off the event loop: while a big answer (thousands of distinct
certificates) is parsed, the loop keeps serving other hosts."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from audit.collect.script import build_script, new_nonce
from audit.collect.ssh import _Transcript, parse_off_loop
from audit.model import Host
from tests import pki


def test_parsing_a_big_answer_leaves_the_event_loop_free(tmp_path: Path) -> None:
    now = pki.utcnow()
    ca = pki.issue("Loop CA", now=now, ca=True)
    folder = tmp_path / "certs"
    folder.mkdir()
    for i in range(600):  # distinct certificates: nothing is in the parse caches yet
        (folder / f"c{i}.pem").write_bytes(pki.issue(f"h{i}.example", now=now, issuer=ca).pem)
    nonce = new_nonce()
    script = build_script(nonce=nonce, roots=[str(tmp_path)])
    proc = subprocess.run(["sh", "-s"], input=script, capture_output=True, timeout=120)
    transcript = _Transcript(
        stdout=bytearray(proc.stdout), stderr=bytearray(proc.stderr), nonce=nonce
    )
    transcript.exit_status = proc.returncode

    async def main() -> tuple[int, int]:
        ticks = 0
        parsing = asyncio.ensure_future(parse_off_loop(Host("h", "h"), transcript))
        while not parsing.done():  # another host's work, on the loop
            ticks += 1
            await asyncio.sleep(0.001)
        return ticks, len(parsing.result().certificates)

    ticks, certs = asyncio.run(main())
    assert certs >= 600
    assert ticks > 5, "the event loop was blocked while the answer was parsed"
