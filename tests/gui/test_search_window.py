"""The window searches: open -> similar cases listed, a case beside the patient, words, cancel,
and the finder loading (or failing to load) in the background."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from desktop_app.ecg import read_ecg
from desktop_app.gui import MainWindow
from desktop_app.gui._wording import DISCLAIMER, RESULT_DISCLAIMER
from desktop_app.gui.consensus_panel import consensus_rows
from desktop_app.service import CaseFinder

RESULTS_TIMEOUT_MS = 20_000
RECORDS = "ptbxl/records100/00000"


def _library_record(mechanics_assets, shared_data, nth=3):
    ecg_id = [c["ecg_id"] for c in mechanics_assets.cases if c["strat_fold"] != 10][nth]
    return ecg_id, shared_data / RECORDS / f"{ecg_id:05d}_lr.hea"


def _open_and_wait(qtbot, window, path):
    with qtbot.waitSignal(window.results_shown, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.open_file(path)
    return blocker.args[0]


def test_window_open_file_lists_similar_cases(qtbot, window, mechanics_assets, shared_data,
                                              gui_finder):
    ecg_id, path = _library_record(mechanics_assets, shared_data)
    result = _open_and_wait(qtbot, window, path)
    assert window.record.source_path == path
    assert window.search_result is result
    k = window.settings.top_k
    assert len(result.hits) == k
    # A library record finds itself first, with similarity 1.
    assert result.hits[0].ecg_id == ecg_id
    assert result.hits[0].similarity == pytest.approx(1.0, abs=1e-4)
    # Same hits as the facade gives directly.
    direct = gui_finder.find_similar(path, k)
    assert [h.case_key for h in result.hits] == [h.case_key for h in direct.hits]
    panel = window.results_panel
    assert panel.list.count() == k
    first = panel.list.item(0).text()
    assert f"PTB-XL {ecg_id}" in first and "similarity 1.00" in first
    assert result.disclaimer == RESULT_DISCLAIMER
    assert panel.message_label.text() == RESULT_DISCLAIMER
    # Consensus panel: the service's vote, worded as decision support, note visible.
    assert window.consensus_panel.rows() == consensus_rows(result.consensus)
    assert window.consensus_panel.note_label.isVisible()
    assert DISCLAIMER in window.consensus_panel.note_label.text()
    assert "does not diagnose" in window.consensus_panel.note_label.text()
    assert window.progress_bar.isHidden() and window.cancel_button.isHidden()
    # Thumbnails follow from a worker; every item gets a drawn one.
    qtbot.waitUntil(lambda: len(window._thumbnails) == k, timeout=RESULTS_TIMEOUT_MS)
    icon = panel.list.item(0).icon().pixmap(panel.list.iconSize()).toImage()
    assert not icon.isNull() and icon.width() > 50


def test_window_shows_heart_rate(qtbot, window, ptbxl_record_path):
    _open_and_wait(qtbot, window, ptbxl_record_path)
    assert window.heart_rate is not None and 40 < window.heart_rate < 120
    assert window.hr_label.text() == f"HR {window.heart_rate:.0f} bpm"


def test_window_select_case_shows_it_beside_patient(qtbot, window, mechanics_assets,
                                                    shared_data, gui_finder):
    _, path = _library_record(mechanics_assets, shared_data, nth=10)
    result = _open_and_wait(qtbot, window, path)
    hit = result.hits[2]
    with qtbot.waitSignal(window.case_shown, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.select_case(2)
    assert blocker.args[0] is hit
    view = window.case_view
    assert view.isVisible()
    signal, fs = gui_finder.case_traces(hit)
    np.testing.assert_allclose(view.record.signal, signal, equal_nan=True)
    assert view.record.fs_hz == fs
    # Same paper scale as the patient's ECG, same layout.
    patient, case = window.ecg_view.paper, view.ecg_view.paper
    assert case.px_per_mm() == pytest.approx(patient.px_per_mm())
    assert case.layout_name == patient.layout_name
    window.zoom_in_action.trigger()
    assert case.px_per_mm() == pytest.approx(patient.px_per_mm())
    window.set_layout("6x2")
    assert case.layout_name == "6x2"
    # Statements with likelihoods, report in English, original on demand.
    table = view.statements_table
    assert table.rowCount() == len(hit.statements)
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == \
        [s.description for s in hit.statements]
    assert hit.report_en and hit.report_en in view.report_view.toPlainText()
    view.original_check.setChecked(True)
    assert hit.report_original in view.report_view.toPlainText()
    # Overlay: one chosen lead of patient and case.
    view.lead_combo.setCurrentText("V2")
    assert view.overlay.lead == "V2"
    assert view.overlay.grab().toImage().width() > 0
    # Next/previous shortcuts step through the list.
    with qtbot.waitSignal(window.case_shown, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.next_case_action.trigger()
    assert blocker.args[0] is result.hits[3]


def test_window_search_by_words(qtbot, window, gui_finder):
    with qtbot.waitSignal(window.results_shown, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.text_search.edit.setText("inferior MI")
        qtbot.keyClick(window.text_search.edit, Qt.Key.Key_Return)
    result = blocker.args[0]
    assert result.query_text == "inferior MI" and result.query is None
    direct = gui_finder.search_text("inferior MI", window.settings.top_k)
    assert [h.case_key for h in result.hits] == [h.case_key for h in direct.hits]
    assert window.results_panel.list.count() == len(result.hits) == window.settings.top_k
    assert "inferior MI" in window.results_panel.heading.text()
    with qtbot.waitSignal(window.results_shown, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.search_words("AV block")
    assert blocker.args[0].query_text == "AV block"


def test_window_cancel_search_drops_result(qtbot, window, ptbxl_record_path):
    shown = []
    window.results_shown.connect(shown.append)
    with qtbot.waitSignal(window.search_started, timeout=RESULTS_TIMEOUT_MS):
        window.open_file(ptbxl_record_path)
    assert window.cancel_action.isEnabled() and window.cancel_button.isVisible()
    with qtbot.waitSignal(window.search_cancelled, timeout=1000):
        window.cancel_action.trigger()
    qtbot.waitUntil(lambda: not window._workers, timeout=RESULTS_TIMEOUT_MS)
    assert shown == []
    assert window.results_panel.list.count() == 0
    assert "cancelled" in window.results_panel.message_label.text()
    assert window.progress_bar.isHidden() and not window.cancel_action.isEnabled()
    # Still usable: the next search shows its results.
    _open_and_wait(qtbot, window, ptbxl_record_path)
    assert window.results_panel.list.count() == window.settings.top_k


def test_window_unreadable_file_keeps_results_and_stays_usable(qtbot, window,
                                                               ptbxl_record_path, tmp_path):
    result = _open_and_wait(qtbot, window, ptbxl_record_path)
    bad = tmp_path / "broken.hea"
    bad.write_text("this is not a WFDB header\n")
    with qtbot.waitSignal(window.load_failed, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.open_file(bad)
    assert "broken.hea" in blocker.args[0]
    assert window._last_error_box.isVisible()
    assert window.search_result is result  # the previous results stay
    window._last_error_box.done(0)
    _open_and_wait(qtbot, window, ptbxl_record_path)


def test_window_short_record_says_why_no_search(qtbot, window, ptbxl_record, tmp_path):
    import wfdb

    short = ptbxl_record.signal[:, :300].T.astype(np.float64)  # 3 s at 100 Hz
    wfdb.wrsamp("short", fs=100, units=["mV"] * 12, sig_name=[
        "I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"],
        p_signal=short, fmt=["16"] * 12, write_dir=str(tmp_path))
    with qtbot.waitSignal(window.search_failed, timeout=RESULTS_TIMEOUT_MS) as blocker:
        window.open_file(tmp_path / "short.hea")
    assert "at least 5 s" in blocker.args[0]
    assert window.record.duration_s == pytest.approx(3.0)  # still shown
    assert "at least 5 s" in window.results_panel.message_label.text()


def test_window_appears_before_finder_loads_and_survives_asset_error(qtbot, tmp_path,
                                                                    ptbxl_record_path):
    empty = tmp_path / "no_assets"
    empty.mkdir()
    finder = CaseFinder(assets_root=empty, clinic_path=tmp_path / "c.sqlite")
    win = MainWindow(finder=finder)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.finder_failed, timeout=RESULTS_TIMEOUT_MS) as blocker:
        win.show()
        assert win.finder_state == "loading"  # shown first, loading later
    text = blocker.args[0]
    assert "unavailable" in text and "manifest" in text.lower()
    assert win.finder_state == "failed"
    assert text in win.results_panel.message_label.text()
    assert win._last_error_box is None  # no modal box in the way
    with qtbot.waitSignal(win.record_loaded, timeout=RESULTS_TIMEOUT_MS):
        win.open_file(ptbxl_record_path)
    assert win.ecg_view.paper.record is not None
    assert "unavailable" in win.results_panel.message_label.text()
    qtbot.waitUntil(lambda: not win._workers, timeout=RESULTS_TIMEOUT_MS)
    assert win.progress_bar.isHidden()  # no search is waiting


def test_window_search_waits_for_finder_then_runs(qtbot, gui_finder, ptbxl_record_path):
    win = MainWindow(finder=gui_finder)  # never shown: the open itself starts the loading
    qtbot.addWidget(win)
    with qtbot.waitSignals([win.finder_ready, win.results_shown], timeout=RESULTS_TIMEOUT_MS):
        win.open_file(ptbxl_record_path)
    assert win.results_panel.list.count() == win.settings.top_k


def test_calipers_measure_time_and_amplitude(qtbot, window, ptbxl_record_path):
    _open_and_wait(qtbot, window, ptbxl_record_path)
    paper = window.ecg_view.paper
    s = paper.px_per_mm()
    start, end = QPoint(int(40 * s), int(60 * s)), QPoint(int(50 * s), int(50 * s))
    qtbot.mousePress(paper, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(paper, end)
    qtbot.mouseRelease(paper, Qt.MouseButton.LeftButton, pos=end)
    cal = paper.caliper
    assert cal is not None
    dx_mm = end.x() / s - start.x() / s
    dy_mm = end.y() / s - start.y() / s
    assert cal.dt_ms == pytest.approx(dx_mm / 25.0 * 1000.0)  # 25 mm/s
    assert cal.d_mv == pytest.approx(-dy_mm / 10.0)  # 10 mm/mV, up is positive
    assert cal.dt_ms == pytest.approx(400, abs=10) and cal.d_mv == pytest.approx(1.0, abs=0.05)
    assert "ms" in window.caliper_label.text() and "mV" in window.caliper_label.text()
    paper.set_paper(50.0, 20.0)  # the conversion follows the paper settings
    cal = paper.set_caliper((10.0, 20.0), (60.0, 0.0))
    assert cal.dt_ms == pytest.approx(1000.0) and cal.d_mv == pytest.approx(1.0)
    window.clear_caliper_action.trigger()
    assert paper.caliper is None and window.caliper_label.text() == ""


def test_examples_menu_opens_bundled_example(qtbot, gui_finder, ptbxl_record_path,
                                             monkeypatch):
    from desktop_app import assets

    seen = {}

    def fake_examples(root=None):
        seen["root"] = root
        return [ptbxl_record_path]

    monkeypatch.setattr(assets, "example_records", fake_examples)
    win = MainWindow(finder=gui_finder)
    qtbot.addWidget(win)
    assert seen["root"] == gui_finder.assets_root
    actions = [a for a in win.examples_menu.actions() if a.data()]
    assert [a.data() for a in actions] == [str(ptbxl_record_path)]
    with qtbot.waitSignal(win.results_shown, timeout=RESULTS_TIMEOUT_MS):
        actions[0].trigger()
    assert win.record.source_path == ptbxl_record_path


def test_examples_menu_empty_without_examples(window):
    actions = window.examples_menu.actions()
    assert len(actions) == 1 and not actions[0].isEnabled()


def test_settings_dialog_applies_and_persists(qtbot, window, ptbxl_record_path):
    from desktop_app.settings import load_settings

    dialog = window.show_settings()
    dialog.top_k_spin.setValue(4)
    dialog.layout_combo.setCurrentText("12x1")
    dialog.speed_combo.setCurrentIndex(dialog.speed_combo.findData(50.0))
    dialog.theme_combo.setCurrentText("dark")
    dialog.accept()
    saved = load_settings()
    assert (saved.top_k, saved.layout, saved.paper_speed_mm_s, saved.theme) == \
        (4, "12x1", 50.0, "dark")
    assert window.ecg_view.paper.layout_name == "12x1"
    assert window.ecg_view.paper.speed_mm_s == 50.0
    result = _open_and_wait(qtbot, window, ptbxl_record_path)
    assert len(result.hits) == 4
    window.apply_settings(saved.__class__())  # back to defaults (light theme) for other tests


@pytest.mark.parametrize("action, keys", [
    ("cancel_action", "Esc"), ("find_words_action", "Ctrl+F"), ("export_pdf_action", "Ctrl+E"),
    ("print_action", "Ctrl+P"), ("add_clinic_action", "Ctrl+Shift+A"),
    ("settings_action", "Ctrl+,"),
])
def test_window_search_shortcuts_bound(window, action, keys):
    from PySide6.QtGui import QKeySequence

    assert QKeySequence(keys) in getattr(window, action).shortcuts()


def test_window_fits_laptop_screen(qtbot, window, ptbxl_record_path):
    _open_and_wait(qtbot, window, ptbxl_record_path)
    assert window.width() <= 1366 and window.height() <= 768
    for widget in (window.results_panel, window.consensus_panel, window.text_search,
                   window.ecg_view):
        assert widget.isVisible() and widget.width() >= 250, widget
