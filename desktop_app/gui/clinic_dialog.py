"""The clinic's own confirmed cases: add the current ECG with its diagnosis, list, edit,
remove, export and import them. Every change goes through :class:`desktop_app.service.CaseFinder`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
    QHBoxLayout, QHeaderView, QInputDialog, QLabel, QLineEdit, QMessageBox, QPlainTextEdit,
    QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from desktop_app.errors import EcgError
from desktop_app.gui._wording import sex_age
from desktop_app.library import ClinicCase, ImportReport

log = logging.getLogger(__name__)

EXPORT_FILTER = "Clinic case files (*.zip);;All files (*)"


class AddClinicCaseDialog(QDialog):
    """Ask for the confirmed diagnosis (required), a note, and whether to keep identifiers."""

    def __init__(self, describe: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add to the clinic's cases")
        intro = QLabel(
            f"Add {describe} to the clinic's confirmed cases. Later searches will find it "
            "beside the library cases.", self)
        intro.setWordWrap(True)
        self.diagnosis_edit = QLineEdit(self)
        self.diagnosis_edit.setPlaceholderText("the confirmed diagnosis, e.g. inferior STEMI")
        self.note_edit = QPlainTextEdit(self)
        self.note_edit.setPlaceholderText("optional note (how it was confirmed, follow-up)")
        self.note_edit.setMaximumHeight(90)
        self.identifiers_check = QCheckBox(
            "Keep the patient's name and id from the file (never exported unless asked)", self)
        form = QFormLayout()
        form.addRow("Confirmed diagnosis", self.diagnosis_edit)
        form.addRow("Note", self.note_edit)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Add case")
        ok.setEnabled(False)
        self.diagnosis_edit.textChanged.connect(lambda t: ok.setEnabled(bool(t.strip())))
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.identifiers_check)
        layout.addWidget(self.buttons)

    def values(self) -> dict:
        """Keyword arguments for :meth:`CaseFinder.add_clinic_case` (besides the record)."""
        return {"diagnosis": self.diagnosis_edit.text().strip(),
                "note": self.note_edit.toPlainText().strip(),
                "keep_identifiers": self.identifiers_check.isChecked()}


class ClinicCasesDialog(QDialog):
    """List the clinic's cases with edit, remove, export and import.

    Parameters
    ----------
    finder : the :class:`desktop_app.service.CaseFinder` whose clinic store is shown.

    Signals
    -------
    cases_changed() : a case was edited, removed or imported.
    """

    cases_changed = Signal()
    COLUMNS = ("Diagnosis", "Age, sex", "Note", "Added")

    def __init__(self, finder, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._finder = finder
        self._cases: list[ClinicCase] = []
        self._box: QMessageBox | None = None
        self.setWindowTitle("Clinic cases")
        self.resize(760, 420)
        self.table = QTableWidget(0, len(self.COLUMNS), self)
        self.table.setHorizontalHeaderLabels(self.COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.count_label = QLabel(self)
        self.edit_button = QPushButton("&Edit\u2026", self)
        self.remove_button = QPushButton("&Remove", self)
        self.export_button = QPushButton("E&xport\u2026", self)
        self.import_button = QPushButton("&Import\u2026", self)
        close = QPushButton("Close", self)
        self.edit_button.clicked.connect(self._on_edit_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.import_button.clicked.connect(self._on_import_clicked)
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        for b in (self.edit_button, self.remove_button, self.export_button, self.import_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.count_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.refresh()

    @property
    def cases(self) -> list[ClinicCase]:
        return list(self._cases)

    def refresh(self) -> None:
        """Re-read the clinic's cases from the store."""
        try:
            self._cases = self._finder.clinic_cases()
        except EcgError as exc:
            self._cases = []
            self._warn("Could not read the clinic's cases", str(exc))
        self.table.setRowCount(len(self._cases))
        for r, case in enumerate(self._cases):
            texts = (case.diagnosis, sex_age(case.age, case.sex), case.note,
                     case.created_utc[:10])
            for c, text in enumerate(texts):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, case.case_id)
                self.table.setItem(r, c, item)
        n = len(self._cases)
        self.count_label.setText(f"{n} clinic case{'s' if n != 1 else ''}")
        self._update_buttons()

    def selected_case(self) -> ClinicCase | None:
        row = self.table.currentRow()
        return self._cases[row] if 0 <= row < len(self._cases) else None

    # -- operations (also called directly by tests and scripts) -------------------------------
    def edit_case(self, case_id: int, *, diagnosis: str | None = None,
                  note: str | None = None) -> ClinicCase:
        """Change a case's diagnosis and/or note."""
        changes = {k: v for k, v in (("diagnosis", diagnosis), ("note", note)) if v is not None}
        case = self._finder.edit_clinic_case(case_id, **changes)
        self.refresh()
        self.cases_changed.emit()
        return case

    def remove_case(self, case_id: int) -> None:
        """Delete a case (no confirmation; the button asks first)."""
        self._finder.remove_clinic_case(case_id)
        self.refresh()
        self.cases_changed.emit()

    def export_to(self, path: str | Path, *, include_identifiers: bool = False) -> int:
        """Write every case to ``path`` (a .zip); returns how many."""
        return self._finder.export_clinic_cases(path, include_identifiers=include_identifiers)

    def import_from(self, path: str | Path) -> ImportReport:
        """Add the cases of a shared file (all or nothing; duplicates skipped)."""
        report = self._finder.import_clinic_cases(path)
        self.refresh()
        self.cases_changed.emit()
        return report

    # -- buttons -------------------------------------------------------------------------------
    def _update_buttons(self) -> None:
        has = self.selected_case() is not None
        self.edit_button.setEnabled(has)
        self.remove_button.setEnabled(has)
        self.export_button.setEnabled(bool(self._cases))

    def _warn(self, title: str, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, title, title,
                          QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(text)
        box.open()
        self._box = box

    def _on_edit_clicked(self) -> None:
        case = self.selected_case()
        if case is None:
            return
        text, ok = QInputDialog.getText(self, "Edit clinic case", "Confirmed diagnosis",
                                        QLineEdit.EchoMode.Normal, case.diagnosis)
        if ok and text.strip():
            try:
                self.edit_case(case.case_id, diagnosis=text.strip())
            except EcgError as exc:
                self._warn("Could not change the case", str(exc))

    def _on_remove_clicked(self) -> None:
        case = self.selected_case()
        if case is None:
            return
        answer = QMessageBox.question(self, "Remove clinic case",
                                      f"Remove the case \u201c{case.diagnosis}\u201d? This "
                                      "cannot be undone.")
        if answer == QMessageBox.StandardButton.Yes:
            try:
                self.remove_case(case.case_id)
            except EcgError as exc:
                self._warn("Could not remove the case", str(exc))

    def _on_export_clicked(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export clinic cases",
                                              "clinic_cases.zip", EXPORT_FILTER)
        if not name:
            return
        ids = QMessageBox.question(
            self, "Patient identifiers",
            "Include patient names and ids in the file? Choose No unless the receiving clinic "
            "may see them.", defaultButton=QMessageBox.StandardButton.No)
        try:
            n = self.export_to(name, include_identifiers=ids == QMessageBox.StandardButton.Yes)
        except (EcgError, OSError) as exc:
            self._warn("Could not export the cases", str(exc))
            return
        self.count_label.setText(f"{n} cases written to {Path(name).name}")

    def _on_import_clicked(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Import clinic cases", "", EXPORT_FILTER)
        if not name:
            return
        try:
            report = self.import_from(name)
        except (EcgError, OSError) as exc:
            self._warn("Could not import the cases", str(exc))
            return
        self.count_label.setText(f"Imported {report.added} of {report.total} cases "
                                 f"({report.skipped_duplicates} already here)")


__all__ = ["AddClinicCaseDialog", "ClinicCasesDialog"]
