"""What the similar cases have in common, worded as decision support, never as a diagnosis."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout,
    QWidget,
)

from desktop_app.gui._wording import DISCLAIMER, RESULT_DISCLAIMER
from desktop_app.library import Consensus

COLUMNS = ("Statement in similar cases", "Cases", "Weighted share")
NOTE = f"{RESULT_DISCLAIMER} {DISCLAIMER}"


def consensus_rows(consensus: Consensus) -> list[tuple[str, str, str]]:
    """Table text of each item: words, ``"3 of 10"``, ``"28 %"`` (similarity-weighted)."""
    return [(it.description or it.code, f"{it.count} of {it.k}",
             f"{100.0 * it.weighted_share:.0f} %") for it in consensus.items]


class ConsensusPanel(QWidget):
    """Statements of the k most similar cases: share of neighbours and similarity-weighted."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.heading = QLabel("What the similar confirmed cases have in common", self)
        self.heading.setStyleSheet("font-weight: bold;")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip(
            "Cases: how many of the similar cases carry the statement. Weighted share: their "
            "share of the summed similarity (more similar cases count more).")
        self.note_label = QLabel(NOTE, self)
        self.note_label.setWordWrap(True)
        self.note_label.setObjectName("consensus_note")
        self.note_label.setStyleSheet(
            "QLabel#consensus_note { background: #fff4d6; color: #5a4300; padding: 3px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note_label)

    def show_consensus(self, consensus: Consensus | None) -> None:
        """Fill the table (None empties it); the note stays visible either way."""
        rows = [] if consensus is None else consensus_rows(consensus)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QTableWidgetItem(text))
        k = 0 if consensus is None else consensus.k
        self.heading.setText(
            f"What the {k} most similar confirmed cases have in common" if k else
            "What the similar confirmed cases have in common")

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row (for tests and the PDF)."""
        return [tuple(self.table.item(r, c).text() for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]


__all__ = ["COLUMNS", "NOTE", "ConsensusPanel", "consensus_rows"]
