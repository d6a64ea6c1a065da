"""workers.Worker: one function off the GUI thread, outcome reported by signals in order."""

from __future__ import annotations

import threading

from desktop_app.gui.workers import Worker


def _record_signals(worker: Worker) -> list[tuple]:
    """Every signal the worker emits, as (name, *args), in the order the GUI thread got them."""
    seen: list[tuple] = []
    sig = worker.signals
    sig.started.connect(lambda: seen.append(("started",)))
    sig.progressed.connect(lambda pct: seen.append(("progressed", pct)))
    sig.returned.connect(lambda value: seen.append(("returned", value)))
    sig.errored.connect(lambda exc: seen.append(("errored", exc)))
    sig.finished.connect(lambda: seen.append(("finished",)))
    return seen


def test_worker_emits_started_returned_finished_in_order(qtbot):
    caller = threading.get_ident()
    worker = Worker(lambda a, b: (a + b, threading.get_ident()), 2, b=40)
    sig = worker.signals
    seen = _record_signals(worker)
    with qtbot.waitSignals([sig.started, sig.returned, sig.finished], order="strict",
                           timeout=5000):
        worker.start()
    assert [event[0] for event in seen] == ["started", "returned", "finished"]
    value, thread_id = seen[1][1]
    assert value == 42
    assert thread_id != caller  # it really ran off the GUI thread


def test_worker_emits_errored_then_finished_and_not_returned(qtbot):
    def fail():
        raise ValueError("broken input")

    worker = Worker(fail)
    sig = worker.signals
    seen = _record_signals(worker)
    with qtbot.waitSignals([sig.started, sig.errored, sig.finished], order="strict",
                           timeout=5000):
        worker.start()
    assert [event[0] for event in seen] == ["started", "errored", "finished"]
    exc = seen[1][1]
    assert isinstance(exc, ValueError)
    assert str(exc) == "broken input"
    assert exc.__traceback__ is not None


def test_worker_passes_progress_callback(qtbot):
    def job(progress):
        for pct in (25, 50, 100):
            progress(pct)
        return "done"

    worker = Worker(job)
    seen = _record_signals(worker)
    with qtbot.waitSignal(worker.signals.finished, timeout=5000):
        worker.start()
    assert seen == [("started",), ("progressed", 25), ("progressed", 50), ("progressed", 100),
                    ("returned", "done"), ("finished",)]


def test_worker_cancel_is_seen_by_the_job(qtbot):
    worker = Worker(lambda is_cancelled: is_cancelled())
    worker.cancel()
    with qtbot.waitSignal(worker.signals.returned, timeout=5000) as blocker:
        worker.start()
    assert blocker.args == [True]


def test_worker_request_ids_increase():
    first, second = Worker(print), Worker(print)
    assert second.request_id > first.request_id
