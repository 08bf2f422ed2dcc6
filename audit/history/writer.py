"""`HostWriter`: the hosts of a running run, committed from a thread of their own.

The fleet audit runs on an asyncio event loop, and a commit with `synchronous=FULL` waits
for the disk (milliseconds to tens of milliseconds, every host). The loop hands each
finished host to `put`, which only queues it; one writer thread commits the hosts in the
order they were queued, each in its own transaction as `History.record_host` does, so a
host is durable moments after it ends while the loop goes on auditing. `close` returns
when every queued host is committed.

While a writer is open its History belongs to it: the caller makes no other call on that
History until `close` returns. A failed commit stops the writer: what was committed
stays, later hosts are not written, and the failure (a HistoryError naming the database)
is raised by the next `put` and by `close`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType

from audit.errors import HistoryError
from audit.history.store import History
from audit.model import HostResult

_Item = tuple[HostResult, int | None]


class HostWriter:
    """Commits hosts of run `run_id` of `history` from one thread, in the order given."""

    def __init__(
        self,
        history: History,
        run_id: str,
        *,
        on_commit: Callable[[HostResult], None] | None = None,
    ) -> None:
        """`on_commit` is called from the writer thread after each host's commit."""
        self._history = history
        self._run_id = run_id
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._error: HistoryError | None = None
        self._closed = False
        self.committed = 0
        """Hosts committed so far."""
        self._thread = threading.Thread(
            target=self._work, name="certaudit-history-writer", daemon=True
        )
        self._thread.start()

    def put(self, result: HostResult, position: int | None = None) -> None:
        """Queue one host (see `History.record_host` for `position`); never waits for the
        disk. Raises the HistoryError of an earlier failed commit."""
        if self._error is not None:
            raise self._error
        if self._closed:
            raise HistoryError(f"the writer of run {self._run_id} is closed")
        self._queue.put((result, position))

    def close(self) -> None:
        """Wait until every queued host is committed; raise the HistoryError of a failed
        commit, if any. Idempotent."""
        self._drain()
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # stopped: nothing after a failure is written
            result, position = item
            try:
                self._history.record_host(self._run_id, result, position=position)
            except HistoryError as exc:
                self._error = exc
                continue
            except Exception as exc:  # a bug must surface as a stated error, not a hang
                self._error = HistoryError(
                    f"cannot record host {result.host.name} in {self._history.path}: "
                    f"{type(exc).__name__}: {exc}"
                )
                continue
            self.committed += 1
            if self._on_commit is not None:
                self._on_commit(result)

    def __enter__(self) -> HostWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:  # commit what is queued; the exception already on its way wins
            self._drain()
