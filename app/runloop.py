"""Two hops every part of the app relies on: to the asyncio loop, and back to Qt's main thread.

The CRM client is async; the UI is Qt. Rather than marrying the two event loops, one
asyncio loop runs in a background thread (``AsyncRunner``) and coroutines are submitted to
it from anywhere. Results, CRM stream events and the engine client's callbacks (its reader
thread) come back to the Qt main thread through ``MainThread.call`` — a locked queue plus
one queued signal, as Anki's ``run_on_main`` does — so widgets are only touched there.

``asyncio`` is imported by ``AsyncRunner`` itself, not here: the dialer needs ``MainThread``
before its first paint, the asyncio loop only after it (the import costs ~35 ms at start).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, Signal, Slot

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger(__name__)

T = TypeVar("T")


class AsyncRunner:
    """An asyncio event loop on a daemon thread, for the async CRM client and outbox."""

    def __init__(self, name: str = "lodgephone-async") -> None:
        import asyncio

        self._ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()
        # Drain what stop() cancelled so nothing warns about a never-awaited task.
        pending = asyncio.all_tasks(self.loop)
        if pending:
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self.loop.is_closed()

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; thread-safe; returns a concurrent future."""
        if not self.running:
            coro.close()
            fut: concurrent.futures.Future[T] = concurrent.futures.Future()
            fut.set_exception(RuntimeError("async runner stopped"))
            return fut
        import asyncio

        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Block until ``coro`` is done. Never from the loop thread; not from the UI thread
        except at startup and shutdown."""
        if self.in_loop_thread():
            coro.close()
            raise RuntimeError("AsyncRunner.run called from its own loop thread")
        return self.submit(coro).result(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return

        import asyncio

        def _cancel_all() -> None:
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.stop()

        self.loop.call_soon_threadsafe(_cancel_all)
        self._thread.join(timeout)


class MainThread(QObject):
    """Runs callables on the Qt main thread, in order, from any thread.

    Create it on the main thread (the application creates one). ``call`` from the main
    thread itself still queues (runs on the next event-loop turn), which keeps re-entrancy
    out of signal handlers.
    """

    _wake = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        app = QCoreApplication.instance()
        if app is not None and QThread.currentThread() is not app.thread():
            raise RuntimeError("MainThread must be created on the Qt main thread")
        self._lock = threading.Lock()
        self._queue: deque[Callable[[], None]] = deque()
        self._wake.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    def call(self, fn: Callable[[], None]) -> None:
        with self._lock:
            wake = not self._queue
            self._queue.append(fn)
        if wake:
            self._wake.emit()

    def when_done(
        self,
        fut: concurrent.futures.Future[T],
        on_result: Callable[[T], None],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Call ``on_result(value)`` or ``on_error(exc)`` on the main thread when ``fut``
        finishes (a cancelled future counts as an error)."""

        def done(f: concurrent.futures.Future[T]) -> None:
            try:
                value = f.result()
            except BaseException as exc:  # CancelledError too
                if on_error is not None:
                    err = exc
                    self.call(lambda: on_error(err))
                else:
                    log.warning("background task failed: %r", exc)
                return
            self.call(lambda: on_result(value))

        fut.add_done_callback(done)

    @Slot()
    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                fn = self._queue.popleft()
            try:
                fn()
            except Exception:
                log.exception("main-thread task failed")
