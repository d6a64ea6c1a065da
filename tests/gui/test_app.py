"""gui.run and the crash handling: the app starts, opens argv's file, and never fails silently."""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from desktop_app.gui import MainWindow, _crash, run
from desktop_app.gui import main_window as main_window_module


def test_run_opens_file_from_argv_and_returns_zero(qapp, ptbxl_record_path, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # run() installs its own
    seen: dict[str, object] = {}

    def close_when_loaded():
        win = next(w for w in QApplication.topLevelWidgets()
                   if isinstance(w, MainWindow) and w.isVisible())
        seen["window"] = win

        def done(outcome):
            seen["outcome"] = outcome
            win.close()

        if win.record is not None:
            done(win.record)
        else:
            win.record_loaded.connect(done)
            win.load_failed.connect(done)

    QTimer.singleShot(0, close_when_loaded)
    # Safety net so a broken run() fails the test instead of hanging it.
    safety = QTimer()
    safety.setSingleShot(True)
    safety.timeout.connect(QApplication.closeAllWindows)
    safety.start(20_000)
    try:
        status = run([str(ptbxl_record_path)])
    finally:
        safety.stop()
    assert status == 0
    assert sys.excepthook is _crash._excepthook
    record = seen["outcome"]
    assert getattr(record, "source_path", None) == ptbxl_record_path


def test_excepthook_logs_and_shows_crash_dialog(qapp, caplog):
    try:
        raise RuntimeError("slot blew up")
    except RuntimeError:
        exc_info = sys.exc_info()
    with caplog.at_level(logging.CRITICAL, logger="desktop_app.gui._crash"):
        _crash._excepthook(*exc_info)
    assert "slot blew up" in caplog.text
    box = _crash._open_dialogs[-1]
    try:
        assert box.isVisible()
        assert box.icon() == QMessageBox.Icon.Critical
        assert "slot blew up" in box.informativeText()
        assert "Traceback" in box.detailedText()
    finally:
        box.done(0)
    assert box not in _crash._open_dialogs


def test_main_window_reader_bug_shows_crash_dialog_and_stays_usable(
    qtbot, window, ptbxl_record_path, monkeypatch, caplog
):
    def buggy_reader(path):
        raise KeyError("internal reader bug")

    with qtbot.waitSignal(window.record_loaded, timeout=15_000):
        window.open_file(ptbxl_record_path)
    good = window.record
    monkeypatch.setattr(main_window_module, "read_ecg", buggy_reader)
    with qtbot.waitSignal(window.load_failed, timeout=15_000) as blocker:
        window.open_file(ptbxl_record_path)
    assert "KeyError" in blocker.args[0]
    assert "internal reader bug" in caplog.text  # the traceback is logged
    box = window._last_error_box
    assert box is not None and box.isVisible()
    assert box.icon() == QMessageBox.Icon.Critical
    assert window.record is good
    box.done(0)
