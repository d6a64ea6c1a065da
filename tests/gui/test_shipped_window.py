"""The window on the shipped models and case library (not the stand-in): what a clinician
sees when opening a bundled example and searching by words."""

from __future__ import annotations

import pytest

from desktop_app import assets as A
from tests.gui.conftest import show_window


@pytest.fixture
def shipped_window(qtbot, shipped_assets, tmp_path):
    from desktop_app.service import CaseFinder

    finder = CaseFinder(assets_root=shipped_assets, clinic_path=tmp_path / "clinic.sqlite")
    return show_window(qtbot, finder, timeout_ms=60_000)


def test_shipped_example_opens_to_similar_cases_and_a_case_view(qtbot, shipped_window,
                                                                 shipped_assets):
    example = A.example_records(shipped_assets)[0]
    with qtbot.waitSignal(shipped_window.results_shown, timeout=60_000) as shown:
        shipped_window.open_file(example)
    result = shown.args[0]
    assert len(result.hits) == shipped_window.settings.top_k
    assert all(h.source == "library" for h in result.hits)
    assert result.encoder_version == A.read_manifest(shipped_assets)["encoders"]["image"][
        "version"]
    with qtbot.waitSignal(shipped_window.case_shown, timeout=30_000) as case:
        shipped_window.select_case(0)
    assert case.args[0].ecg_id == result.hits[0].ecg_id


def test_shipped_text_search_lists_library_ecgs(qtbot, shipped_window):
    with qtbot.waitSignal(shipped_window.results_shown, timeout=60_000) as shown:
        shipped_window.search_words("complete left bundle branch block")
    hits = shown.args[0].hits
    assert len(hits) == shipped_window.settings.top_k
    assert any("CLBBB" in {s.code for s in h.statements} for h in hits)
