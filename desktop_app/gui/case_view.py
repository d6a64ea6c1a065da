"""One similar case next to the patient's ECG: its 12 leads on the same paper scale, one lead
overlaid on the patient's, its statements with likelihoods and its report.

The case's traces come from :meth:`desktop_app.service.CaseFinder.case_traces`, read by a
worker; this module only draws what it is given.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QHBoxLayout, QHeaderView, QLabel, QSizePolicy,
    QTableWidget, QTableWidgetItem, QTabWidget, QTextBrowser, QVBoxLayout, QWidget,
)

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource
from desktop_app.gui._wording import sex_age
from desktop_app.gui.ecg_view import (
    MAJOR_GRID_COLOUR, MINOR_GRID_COLOUR, PAPER_COLOUR, TRACE_COLOUR, EcgView, trace_path,
)
from desktop_app.gui.results_panel import hit_title
from desktop_app.render import STANDARD_GAIN_MM_MV, STANDARD_SPEED_MM_S
from desktop_app.service import Hit

CASE_COLOUR = QColor(0, 90, 200)
# The overlay strip: 10 s at the paper speed, 40 mm tall (±2 mV at 10 mm/mV).
_OVERLAY_S = 10.0
_OVERLAY_HEIGHT_MM = 40.0


def case_record(signal_mv: np.ndarray, fs_hz: float) -> EcgRecord:
    """An :class:`EcgRecord` of a stored case's traces (NaN rows become missing leads)."""
    signal_mv = np.asarray(signal_mv, dtype=np.float32)
    missing = np.all(np.isnan(signal_mv), axis=1)
    return EcgRecord(signal_mv, fs_hz, source_format="library", lead_sources=tuple(
        LeadSource.MISSING if m else LeadSource.RECORDED for m in missing))


class LeadOverlayWidget(QWidget):
    """One lead of the patient (black) and of the case (blue) on one strip of paper."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._patient: EcgRecord | None = None
        self._case: EcgRecord | None = None
        self._lead = "II"
        self._speed_mm_s = STANDARD_SPEED_MM_S
        self._gain_mm_mv = STANDARD_GAIN_MM_MV
        self.setMinimumHeight(120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    @property
    def lead(self) -> str:
        return self._lead

    def set_records(self, patient: EcgRecord | None, case: EcgRecord | None) -> None:
        self._patient, self._case = patient, case
        self.update()

    def set_lead(self, lead: str) -> None:
        if lead not in LEADS_12:
            raise ValueError(f"unknown lead {lead!r}; expected one of {LEADS_12}")
        self._lead = lead
        self.update()

    def set_paper(self, speed_mm_s: float, gain_mm_mv: float) -> None:
        self._speed_mm_s, self._gain_mm_mv = speed_mm_s, gain_mm_mv
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(600, 200)

    def _px_per_mm(self) -> float:
        width_mm = _OVERLAY_S * self._speed_mm_s + 4.0
        return max(0.5, min(self.width() / width_mm, self.height() / (_OVERLAY_HEIGHT_MM + 8)))

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.fillRect(self.rect(), PAPER_COLOUR)
            s = self._px_per_mm()
            width_mm = _OVERLAY_S * self._speed_mm_s
            x0_mm, top_mm = 2.0, 6.0
            for major in (False, True):
                pen = QPen(MAJOR_GRID_COLOUR if major else MINOR_GRID_COLOUR)
                painter.setPen(pen)
                if not major and s < 3.0:
                    continue
                for i in range(int(width_mm) + 1):
                    if (i % 5 == 0) == major:
                        x = (x0_mm + i) * s
                        painter.drawLine(QPointF(x, top_mm * s),
                                         QPointF(x, (top_mm + _OVERLAY_HEIGHT_MM) * s))
                for j in range(int(_OVERLAY_HEIGHT_MM) + 1):
                    if (j % 5 == 0) == major:
                        y = (top_mm + j) * s
                        painter.drawLine(QPointF(x0_mm * s, y), QPointF((x0_mm + width_mm) * s, y))
            baseline_mm = top_mm + _OVERLAY_HEIGHT_MM / 2
            idx = LEADS_12.index(self._lead)
            font = QFont(self.font())
            font.setPixelSize(13)
            font.setBold(True)
            painter.setFont(font)
            legend_x = x0_mm * s
            for rec, colour, name in ((self._patient, TRACE_COLOUR, "patient"),
                                      (self._case, CASE_COLOUR, "case")):
                label = f"{self._lead} {name}"
                if rec is None or rec.lead_sources[idx] is LeadSource.MISSING:
                    label += " (not recorded)"
                else:
                    n = min(rec.signal.shape[1], int(round(_OVERLAY_S * rec.fs_hz)))
                    t_s = np.arange(n) / rec.fs_hz
                    x_mm = x0_mm + t_s * self._speed_mm_s
                    y_mm = baseline_mm - rec.signal[idx, :n].astype(float) * self._gain_mm_mv
                    y_mm = np.clip(y_mm, top_mm, top_mm + _OVERLAY_HEIGHT_MM)
                    pen = QPen(colour)
                    pen.setCosmetic(True)
                    pen.setWidthF(1.6)
                    painter.save()
                    painter.scale(s, s)
                    painter.setPen(pen)
                    painter.drawPath(trace_path(x_mm, y_mm))
                    painter.restore()
                painter.setPen(colour)
                painter.drawText(QPointF(legend_x, 4.5 * s), label)
                legend_x += painter.fontMetrics().horizontalAdvance(label) + 24
        finally:
            painter.end()


class CaseView(QWidget):
    """The selected similar case: ECG on paper, lead overlay, statements and report.

    Parameters
    ----------
    leader : the patient's :class:`EcgView`; the case is drawn at its scale.
    """

    def __init__(self, leader: EcgView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hit: Hit | None = None
        self._record: EcgRecord | None = None
        self._patient: EcgRecord | None = None
        self.header = QLabel("Select a similar case to compare it with the patient's ECG.", self)
        self.header.setWordWrap(True)
        self.header.setStyleSheet("font-weight: bold; padding: 2px 4px;")
        self.tabs = QTabWidget(self)
        self.ecg_view = EcgView(self, leader=leader)
        self.tabs.addTab(self.ecg_view, "Case ECG")

        overlay_page = QWidget(self)
        self.lead_combo = QComboBox(overlay_page)
        self.lead_combo.addItems(list(LEADS_12))
        self.lead_combo.setCurrentText("II")
        self.lead_combo.setToolTip("Lead to overlay: patient in black, case in blue")
        self.overlay = LeadOverlayWidget(overlay_page)
        self.lead_combo.currentTextChanged.connect(self.overlay.set_lead)
        row = QHBoxLayout()
        row.addWidget(QLabel("Lead:", overlay_page))
        row.addWidget(self.lead_combo)
        row.addStretch(1)
        ov = QVBoxLayout(overlay_page)
        ov.addLayout(row)
        ov.addWidget(self.overlay, 1)
        self.tabs.addTab(overlay_page, "Lead overlay")

        details = QWidget(self)
        self.statements_table = QTableWidget(0, 3, details)
        self.statements_table.setHorizontalHeaderLabels(("Statement", "Code", "Likelihood"))
        self.statements_table.verticalHeader().hide()
        self.statements_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        h = self.statements_table.horizontalHeader()
        h.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            h.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.report_view = QTextBrowser(details)
        self.original_check = QCheckBox("Show the original report", details)
        self.original_check.toggled.connect(self._show_report)
        dv = QVBoxLayout(details)
        dv.addWidget(self.statements_table, 1)
        dv.addWidget(self.original_check)
        dv.addWidget(self.report_view, 1)
        self.tabs.addTab(details, "Statements and report")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.tabs, 1)

    @property
    def hit(self) -> Hit | None:
        return self._hit

    @property
    def record(self) -> EcgRecord | None:
        return self._record

    def set_patient(self, record: EcgRecord | None) -> None:
        self._patient = record
        self.overlay.set_records(record, self._record)

    def set_paper(self, speed_mm_s: float, gain_mm_mv: float) -> None:
        self.overlay.set_paper(speed_mm_s, gain_mm_mv)

    def show_case(self, hit: Hit | None, record: EcgRecord | None) -> None:
        """Show ``hit`` with its traces (None clears the view)."""
        self._hit, self._record = hit, record
        self.ecg_view.paper.set_record(record)
        self.overlay.set_records(self._patient, record)
        if hit is None:
            self.header.setText("Select a similar case to compare it with the patient's ECG.")
            self.statements_table.setRowCount(0)
            self.report_view.clear()
            return
        self.header.setText(f"{hit_title(hit)}   similarity {hit.similarity:.2f}   "
                            f"{sex_age(hit.age, hit.sex)}")
        statements = hit.statements
        self.statements_table.setRowCount(len(statements))
        for r, st in enumerate(statements):
            lik = "not recorded" if st.likelihood is None else f"{st.likelihood:.0f} %"
            for c, text in enumerate((st.description, st.code, lik)):
                self.statements_table.setItem(r, c, QTableWidgetItem(text))
        self.original_check.setEnabled(bool(hit.report_original))
        self._show_report()

    def report_text(self) -> str:
        """The report as shown: English, or the original when the box is ticked."""
        hit = self._hit
        if hit is None:
            return ""
        if hit.source == "clinic":
            return f"Confirmed diagnosis (clinic): {hit.diagnosis or ''}"
        if self.original_check.isChecked() and hit.report_original:
            lang = f" ({hit.report_language})" if hit.report_language else ""
            return f"Original report{lang}: {hit.report_original}"
        return f"Report (English): {hit.report_en or hit.statements_en or 'none'}"

    def _show_report(self, _checked: bool = False) -> None:
        self.report_view.setPlainText(self.report_text())


__all__ = ["CaseView", "LeadOverlayWidget", "case_record"]
