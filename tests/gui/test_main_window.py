"""MainWindow: open, show, fail gracefully, remember; reading happens off the GUI thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QThreadPool, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence

from desktop_app import __version__
from desktop_app.gui import MainWindow
from desktop_app.gui.main_window import DISCLAIMER
from desktop_app.settings import load_settings
from tests.gui._pixels import dark_mask, image_rgb, reddish_mask

LOAD_TIMEOUT_MS = 15_000


def _load(qtbot, window: MainWindow, path: Path):
    with qtbot.waitSignal(window.record_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.open_file(path)
    return blocker.args[0]


def _fail(qtbot, window: MainWindow, path: Path) -> str:
    with qtbot.waitSignal(window.load_failed, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.open_file(path)
    return blocker.args[0]


def _mime_with(path: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    return mime


def test_main_window_opens_ptbxl_record(qtbot, window, ptbxl_record_path):
    record = _load(qtbot, window, ptbxl_record_path)
    assert window.record is record
    assert window.ecg_view.paper.record is record
    assert record.signal.shape[0] == 12
    assert len(record.present_leads()) == 12
    assert window.fs_label.text() == "100 Hz"
    assert window.duration_label.text() == "10.0 s"
    assert ptbxl_record_path.name in window.windowTitle()
    qtbot.waitUntil(lambda: not window._workers, timeout=LOAD_TIMEOUT_MS)
    assert window.progress_bar.isHidden()


def test_main_window_layout_switch_repaints(qtbot, window, ptbxl_record_path):
    _load(qtbot, window, ptbxl_record_path)
    paper = window.ecg_view.paper
    images = {}
    for name in ("6x2", "12x1", "3x4"):
        window.set_layout(name)
        assert window.layout_combo.currentText() == name
        assert paper.page_layout.name == name
        rgb = image_rgb(paper.grab().toImage())
        assert reddish_mask(rgb).mean() > 0.05, f"{name}: no grid"
        assert dark_mask(rgb).sum() > 2000, f"{name}: no trace"
        images[name] = rgb
    assert images["6x2"].shape != images["12x1"].shape or \
        not (images["6x2"] == images["12x1"]).all()
    assert load_settings().layout == "3x4"  # the last choice is remembered


def test_main_window_bad_files_show_error_and_keep_record(qtbot, window, ptbxl_record_path,
                                                         tmp_path):
    good = _load(qtbot, window, ptbxl_record_path)
    bad = tmp_path / "bad.hea"
    bad.write_bytes(b"\x00\xffnot a header\x9c\x01" * 50)
    text = _fail(qtbot, window, bad)
    assert "bad.hea" in text
    box = window._last_error_box
    assert box is not None and box.isVisible()
    assert "bad.hea" in box.text()
    assert box.informativeText() == text  # the reader's own expected/found/hint message
    assert window.record is good  # the previous ECG stays on screen
    assert window.ecg_view.paper.record is good

    empty = tmp_path / "empty.hea"
    empty.write_bytes(b"")
    text = _fail(qtbot, window, empty)
    assert "empty" in text
    assert window._last_error_box.isVisible()
    assert window.record is good
    assert str(bad.resolve()) not in window.settings.recent_files

    again = _load(qtbot, window, ptbxl_record_path)
    assert window.record is again


def test_main_window_drops_superseded_result(qtbot, window, ptbxl_record_path, tmp_path):
    bad = tmp_path / "bad.hea"
    bad.write_bytes(b"garbage")
    failures: list[str] = []
    window.load_failed.connect(failures.append)
    with qtbot.waitSignal(window.record_loaded, timeout=LOAD_TIMEOUT_MS):
        window.open_file(bad)  # superseded before its error can be delivered
        window.open_file(ptbxl_record_path)
    qtbot.waitUntil(lambda: not window._workers, timeout=LOAD_TIMEOUT_MS)
    assert failures == []
    assert window._last_error_box is None


def test_main_window_recent_files_updated_and_persisted(qtbot, window, ptbxl_record_path):
    assert window.settings.recent_files == ()
    _load(qtbot, window, ptbxl_record_path)
    expected = str(ptbxl_record_path.resolve())
    assert window.settings.recent_files[0] == expected
    assert load_settings().recent_files[0] == expected
    entries = [a.data() for a in window.recent_menu.actions() if a.data()]
    assert entries == [expected]

    fresh = MainWindow()
    qtbot.addWidget(fresh)
    assert [a.data() for a in fresh.recent_menu.actions() if a.data()] == [expected]
    recent_action = next(a for a in fresh.recent_menu.actions() if a.data() == expected)
    with qtbot.waitSignal(fresh.record_loaded, timeout=LOAD_TIMEOUT_MS):
        recent_action.trigger()


def test_main_window_drag_enter_accepts_files_only(window, ptbxl_record_path):
    # The event does not own its QMimeData: keep a reference for the event's lifetime.
    mime = _mime_with(ptbxl_record_path)
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter.setAccepted(False)
    window.dragEnterEvent(enter)
    assert enter.isAccepted()

    text_only = QMimeData()
    text_only.setText("hello")
    refused = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, text_only,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dragEnterEvent(refused)
    assert not refused.isAccepted()


def test_main_window_drop_opens_file(qtbot, window, ptbxl_record_path):
    mime = _mime_with(ptbxl_record_path)
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.record_loaded, timeout=LOAD_TIMEOUT_MS) as blocker:
        window.dropEvent(drop)
    assert drop.isAccepted()
    assert blocker.args[0].source_path == ptbxl_record_path


def test_main_window_shows_disclaimer(window):
    assert window.disclaimer_label.isVisible()
    assert window.disclaimer_label.text() == DISCLAIMER
    assert "does not diagnose" in DISCLAIMER


def test_main_window_about_credits_licences(qtbot, window):
    box = window.show_about()
    assert box.isVisible()
    text = box.text() + box.informativeText()
    for needed in (__version__, "LGPL", "onnxruntime", "MIT", "PTB-XL", "Wagner",
                   "Scientific Data", "2020", "PhysioNet", "CC BY 4.0"):
        assert needed in text, needed


@pytest.mark.parametrize("action, keys", [
    ("zoom_in_action", "Ctrl+="), ("zoom_out_action", "Ctrl+-"),
    ("zoom_reset_action", "Ctrl+0"), ("open_action", "Ctrl+O"), ("quit_action", "Ctrl+Q"),
])
def test_main_window_shortcuts_bound(window, action, keys):
    assert QKeySequence(keys) in getattr(window, action).shortcuts()


def test_main_window_zoom_actions_change_view(qtbot, window, ptbxl_record_path):
    _load(qtbot, window, ptbxl_record_path)
    paper = window.ecg_view.paper
    width = paper.width()
    window.zoom_in_action.trigger()
    assert paper.width() > width
    window.zoom_reset_action.trigger()
    assert paper.width() == width
    window.zoom_out_action.trigger()
    assert paper.width() < width


def test_main_window_close_waits_for_running_read(qtbot, ptbxl_record_path):
    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    win.open_file(ptbxl_record_path)
    win.close()
    assert QThreadPool.globalInstance().activeThreadCount() == 0
