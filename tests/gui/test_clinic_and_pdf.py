"""Clinic cases from the window (add, list, edit, remove, export, import) and the PDF summary."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QPageSize
from PySide6.QtPrintSupport import QPrinter

from desktop_app.gui._wording import DISCLAIMER, PTBXL_CREDIT, RESULT_DISCLAIMER
from desktop_app.gui.clinic_dialog import ClinicCasesDialog
from tests.gui._pdf import pdf_pages_text, squeeze

TIMEOUT_MS = 20_000


def _open(qtbot, window, path):
    with qtbot.waitSignal(window.results_shown, timeout=TIMEOUT_MS) as blocker:
        window.open_file(path)
    qtbot.waitUntil(lambda: not window._workers, timeout=TIMEOUT_MS)
    return blocker.args[0]


def test_add_current_ecg_to_clinic_cases(qtbot, window, ptbxl_record_path, gui_finder):
    _open(qtbot, window, ptbxl_record_path)
    dialog = window.show_add_clinic_case()
    assert dialog.isVisible()
    ok = dialog.buttons.buttons()[0]
    assert not ok.isEnabled()  # a diagnosis is required
    dialog.diagnosis_edit.setText("confirmed: normal sinus rhythm")
    dialog.note_edit.setPlainText("echo normal")
    assert ok.isEnabled()
    with qtbot.waitSignal(window.clinic_case_added, timeout=TIMEOUT_MS) as blocker:
        dialog.accept()
    case = blocker.args[0]
    assert case.diagnosis == "confirmed: normal sinus rhythm" and case.note == "echo normal"
    assert case.patient_id is None and case.patient_name is None  # not kept unless ticked
    assert [c.case_id for c in gui_finder.clinic_cases()] == [case.case_id]
    # The next search finds it, marked as a clinic case.
    result = _open(qtbot, window, ptbxl_record_path)
    clinic_hits = [h for h in result.hits if h.source == "clinic"]
    assert clinic_hits and clinic_hits[0].diagnosis == case.diagnosis
    row = result.hits.index(clinic_hits[0])
    assert "Clinic case" in window.results_panel.list.item(row).text()
    # Adding the same ECG twice is refused with a message; the window stays usable.
    window.add_clinic_case("again")
    qtbot.waitUntil(lambda: window._last_error_box is not None
                    and window._last_error_box.isVisible(), timeout=TIMEOUT_MS)
    assert "already" in window._last_error_box.informativeText()
    window._last_error_box.done(0)


def test_manage_clinic_cases_edit_remove_export_import(qtbot, window, ptbxl_record_path,
                                                       gui_finder, tmp_path):
    _open(qtbot, window, ptbxl_record_path)
    with qtbot.waitSignal(window.clinic_case_added, timeout=TIMEOUT_MS) as blocker:
        window.add_clinic_case("first diagnosis")
    case = blocker.args[0]
    dialog = window.show_clinic_cases()
    assert isinstance(dialog, ClinicCasesDialog) and dialog.isVisible()
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 0).text() == "first diagnosis"
    with qtbot.waitSignal(dialog.cases_changed, timeout=1000):
        dialog.edit_case(case.case_id, diagnosis="revised diagnosis", note="after review")
    assert dialog.table.item(0, 0).text() == "revised diagnosis"
    assert gui_finder.clinic_cases()[0].note == "after review"
    exported = tmp_path / "share.zip"
    assert dialog.export_to(exported) == 1 and exported.stat().st_size > 0
    dialog.remove_case(case.case_id)
    assert dialog.table.rowCount() == 0 and gui_finder.clinic_cases() == []
    report = dialog.import_from(exported)
    assert (report.added, report.total) == (1, 1)
    assert dialog.table.item(0, 0).text() == "revised diagnosis"
    dialog.table.selectRow(0)
    assert dialog.edit_button.isEnabled() and dialog.remove_button.isEnabled()
    dialog.accept()


def test_export_pdf_summary_without_identifiers(qtbot, window, ptbxl_record_path, tmp_path):
    result = _open(qtbot, window, ptbxl_record_path)
    out = tmp_path / "summary.pdf"
    with qtbot.waitSignal(window.pdf_exported, timeout=TIMEOUT_MS) as blocker:
        window.export_pdf(out)
    assert blocker.args[0] == str(out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = pdf_pages_text(out)
    assert len(pages) == 2
    text = squeeze("".join(pages))
    for needed in (DISCLAIMER, RESULT_DISCLAIMER, PTBXL_CREDIT,
                   "Patient identifiers not included", "Similarity",
                   result.consensus.items[0].description):
        assert squeeze(needed) in text, needed
    assert f"PTB-XL{result.hits[0].ecg_id}" in text
    assert squeeze(ptbxl_record_path.name) not in text  # the file name is an identifier


def test_export_pdf_with_identifiers_names_the_file(qtbot, window, ptbxl_record_path,
                                                    tmp_path):
    _open(qtbot, window, ptbxl_record_path)
    out = tmp_path / "with_ids.pdf"
    with qtbot.waitSignal(window.pdf_exported, timeout=TIMEOUT_MS):
        window.export_pdf(out, include_identifiers=True)
    text = squeeze("".join(pdf_pages_text(out)))
    assert squeeze(ptbxl_record_path.name) in text
    assert squeeze("Patient identifiers not included") not in text


def test_print_summary_paints_two_pages(qtbot, window, ptbxl_record_path, tmp_path):
    _open(qtbot, window, ptbxl_record_path)
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setPageSize(QPageSize(QPageSize.PageSizeId.A4))
    out = tmp_path / "printed.pdf"
    printer.setOutputFileName(str(out))
    rid = window.print_summary(printer)
    assert rid is not None
    qtbot.waitUntil(lambda: rid not in window._workers and out.is_file()
                    and out.stat().st_size > 0, timeout=TIMEOUT_MS)
    assert len(pdf_pages_text(out)) == 2


@pytest.mark.parametrize("action", ["add_clinic_action", "export_pdf_action", "print_action"])
def test_record_actions_disabled_until_an_ecg_is_open(window, action):
    assert not getattr(window, action).isEnabled()
