"""The one home for threading in the GUI: run one function off the GUI thread, report by signals.

Readers, rendering, ONNX and index calls never run on the GUI thread, or the window freezes
while a large file is parsed. A :class:`Worker` is a ``QRunnable`` on the global thread pool
that calls exactly one function and reports through :class:`WorkerSignals`. It never touches
widgets: whatever it needs from the screen is read on the GUI thread before it starts.

Signal names follow superqt's ``WorkerBaseSignals`` (``started``, ``returned``, ``errored``,
``finished``) so that the project could move to superqt without renaming slots.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

_request_ids = itertools.count(1)
# Workers queued or running. The pool holds only the C++ runnable, so without this a worker
# started and forgotten by its caller could be garbage-collected mid-run. Released on the GUI
# thread when ``finished`` is delivered.
_alive: set["Worker"] = set()


class WorkerSignals(QObject):
    """What a worker reports. Created on the GUI thread, so queued slots run there."""

    started = Signal()
    progressed = Signal(int)  # percent 0-100
    returned = Signal(object)  # the function's return value
    errored = Signal(object)  # the exception it raised (with ``__traceback__``)
    finished = Signal()  # always last, after ``returned`` or ``errored``


class Worker(QRunnable):
    """Call ``fn(*args, **kwargs)`` on a pool thread and emit its outcome.

    Parameters
    ----------
    fn : the one function to call. If it accepts keyword arguments ``progress`` and/or
        ``is_cancelled``, they are passed: ``progress(percent)`` emits ``progressed`` and
        ``is_cancelled()`` tells a chunked job to stop early.
    *args, **kwargs : its arguments.

    Attributes
    ----------
    request_id : increasing integer tag; the owner keeps the latest id it started and drops
        results of older requests (a slower earlier load must not replace a newer one).
    signals : the :class:`WorkerSignals` to connect to.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        # The pool must not delete the C++ runnable while Python still holds this object.
        self.setAutoDelete(False)
        self.fn = fn
        self.args = args
        self.kwargs = dict(kwargs)
        self.request_id = next(_request_ids)
        self.signals = WorkerSignals()
        self._cancel = threading.Event()
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        if "progress" in params:
            self.kwargs["progress"] = self.signals.progressed.emit
        if "is_cancelled" in params:
            self.kwargs["is_cancelled"] = self._cancel.is_set

    def cancel(self) -> None:
        """Ask the job to stop; only functions that poll ``is_cancelled`` can honour it."""
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:  # runs on a pool thread
        self.signals.started.emit()
        try:
            result = self.fn(*self.args, **self.kwargs)
        except Exception as exc:  # reported to the GUI, which decides what is a bug
            self.signals.errored.emit(exc)
        else:
            self.signals.returned.emit(result)
        finally:
            self.signals.finished.emit()

    def start(self, pool: QThreadPool | None = None) -> "Worker":
        """Queue this worker on ``pool`` (default: the global pool) and return it."""
        _alive.add(self)
        self.signals.finished.connect(self._release)
        (pool or QThreadPool.globalInstance()).start(self)
        return self

    def _release(self) -> None:
        _alive.discard(self)
