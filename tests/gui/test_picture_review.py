"""The picture review: a photo of a paper ECG opens with its reading shown over it; the
clinician corrects corners, layout, speed or gain, reads it again and searches with it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QMimeData, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop_app.ecg import LeadSource
from desktop_app.gui.main_window import DISCLAIMER
from tests.gui._pixels import image_rgb

# A picture is decoded and digitised on a worker: 1-7 s on the 2-core machine, slower while
# other work runs.
READ_TIMEOUT_MS = 90_000
# A phone photo of a 3 x 4 printout with a rhythm strip (1200 x 632 px), read in about 2 s.
PHOTO = "ecg00041.jpg"


def _open_picture(qtbot, window, path):
    """Open a picture that reads; wait for it to be shown and searched."""
    with qtbot.waitSignals([window.record_loaded, window.results_shown],
                           timeout=READ_TIMEOUT_MS):
        window.open_file(path)
    review = window.picture_review
    assert review is not None and review.isVisible()
    return review


def _green_share(review) -> float:
    rgb = image_rgb(review.overlay_view.pixmap_item.pixmap().toImage()).astype(int)
    return float(((rgb[..., 1] > 150) & (rgb[..., 0] < 80) & (rgb[..., 2] < 80)).mean())


def test_picture_review_opens_with_overlay_and_first_reading_searched(qtbot, window,
                                                                     shared_data):
    path = shared_data / "photos" / PHOTO
    review = _open_picture(qtbot, window, path)
    reading = review.reading
    assert reading.path == path and reading.result is not None
    # The window shows and has searched with this first reading.
    assert window.record is reading.record
    assert window.record.source_format == "photo"
    assert window.search_result is not None and window.search_result.hits
    # The straightened page with the traces drawn over it, kept traces in green.
    assert not review.overlay_view.pixmap_item.pixmap().isNull()
    assert _green_share(review) > 0.002
    # The picture with its page corners as handles, where the digitiser found them.
    np.testing.assert_allclose(review.corners(), reading.result.quad, atol=0.5)
    assert not review.corners_edited
    # Each lead's confidence: kept leads are those the record holds as digitised.
    photo = reading.record.meta["photo"]
    for row in range(review.lead_table.rowCount()):
        lead = review.lead_table.item(row, 0).text()
        status = review.lead_table.item(row, 2).text()
        kept = reading.record.lead_sources[row] is LeadSource.DIGITISED
        assert status == "kept" if kept else status in ("left out", "not found"), lead
        if lead in photo["confidence"]:
            assert review.lead_table.item(row, 1).text() == f"{photo['confidence'][lead]:.0%}"
    # What was detected is named; nothing was set by the clinician.
    assert review.speed_combo.itemText(0).startswith(f"Detected: {photo['speed_mm_s']:g} mm/s")
    assert review.speed_combo.currentData() is None
    assert "set by you" not in review.message_label.text()
    assert review.disclaimer_label.isVisible()
    assert review.disclaimer_label.text() == DISCLAIMER


def test_picture_review_read_again_with_speed_then_search(qtbot, window, shared_data):
    review = _open_picture(qtbot, window, shared_data / "photos" / PHOTO)
    first = review.reading
    assert first.result.layout.speed_mm_s == 25.0
    detected_text = review.speed_combo.itemText(0)
    review.speed_combo.setCurrentIndex(review.speed_combo.findData(50.0))
    with qtbot.waitSignal(review.reading_shown, timeout=READ_TIMEOUT_MS) as blocker:
        qtbot.mouseClick(review.read_button, Qt.MouseButton.LeftButton)
        assert review.busy and not review.read_button.isEnabled()
    second = blocker.args[0]
    assert review.reading is second and second is not first
    photo = second.record.meta["photo"]
    assert photo["speed_mm_s"] == 50.0 and photo["speed_from"] == "clinician"
    assert second.corrections == {"speed_mm_s": 50.0}
    # Read at twice the speed, the same ink spans half the time.
    w1, w2 = first.record.meta["photo"]["windows_s"]["II"], photo["windows_s"]["II"]
    assert w2[1] - w2[0] == pytest.approx(0.5 * (w1[1] - w1[0]), abs=0.02)
    assert "50 mm/s (set by you)" in review.message_label.text()
    assert review.speed_combo.itemText(0) == detected_text  # still what the page showed
    assert window.record is first.record  # the window changes only when asked to search

    with qtbot.waitSignal(window.results_shown, timeout=READ_TIMEOUT_MS):
        with qtbot.waitSignal(window.record_loaded, timeout=READ_TIMEOUT_MS) as loaded:
            qtbot.mouseClick(review.search_button, Qt.MouseButton.LeftButton)
    assert loaded.args[0] is second.record
    assert window.record is second.record
    assert window.search_result.hits


def test_picture_review_drop_opens_picture(qtbot, window, shared_data):
    path = shared_data / "photos" / PHOTO
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime,
                      Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignals([window.record_loaded, window.results_shown],
                           timeout=READ_TIMEOUT_MS):
        window.dropEvent(drop)
    assert window.picture_review.isVisible()
    assert window.picture_review.reading.path == path


def test_picture_review_refusal_says_why_and_window_stays_usable(qtbot, window, tmp_path,
                                                                 ptbxl_record_path):
    noise = np.random.default_rng(3).integers(0, 256, size=(600, 900, 3), dtype=np.uint8)
    path = tmp_path / "not_an_ecg.png"
    Image.fromarray(noise).save(path)
    with qtbot.waitSignal(window.load_failed, timeout=READ_TIMEOUT_MS) as blocker:
        window.open_file(path)
    text = blocker.args[0]
    assert "no ECG grid" in text and "What to try: photograph" in text
    review = window.picture_review
    assert review.isVisible()
    assert review.message_label.text() == text
    assert review.tabs.currentWidget() is review.picture_view
    assert not review.search_button.isEnabled() and review.read_button.isEnabled()
    assert window.record is None

    # Corners set by hand are used by the next reading (which still finds no grid here).
    quad = [[50, 40], [850, 60], [840, 560], [60, 550]]
    review.set_corners(quad)
    assert review.corners_edited and review.reset_corners_button.isEnabled()
    with qtbot.waitSignal(review.reading_refused, timeout=READ_TIMEOUT_MS) as refused:
        qtbot.mouseClick(review.read_button, Qt.MouseButton.LeftButton)
    assert "no ECG grid" in refused.args[0]
    np.testing.assert_allclose(review.reading.corrections["quad"], quad)
    np.testing.assert_allclose(review.corners(), quad)

    # The window still opens and shows other files; the review of the picture goes away.
    with qtbot.waitSignal(window.record_loaded, timeout=READ_TIMEOUT_MS):
        window.open_file(ptbxl_record_path)
    assert window.record is not None and not review.isVisible()


def test_picture_review_bad_corners_are_refused_with_reason(qtbot, window, shared_data):
    review = _open_picture(qtbot, window, shared_data / "photos" / PHOTO)
    first = review.reading
    review.set_corners([[10, 10], [40, 10], [40, 40], [10, 40]])  # a 30 px "page"
    with qtbot.waitSignal(review.reading_refused, timeout=READ_TIMEOUT_MS) as refused:
        review.read_again()
    assert "at least 100 px" in refused.args[0]
    assert not review.search_button.isEnabled()
    review.reset_corners()
    assert not review.corners_edited
    with qtbot.waitSignal(review.reading_shown, timeout=READ_TIMEOUT_MS) as shown:
        review.read_again()
    assert shown.args[0].record.meta["photo"]["page_from"] == "detected"
    np.testing.assert_allclose(shown.args[0].record.signal, first.record.signal, atol=1e-6,
                               equal_nan=True)
