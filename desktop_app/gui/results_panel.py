"""The list of similar confirmed cases: thumbnail, similarity, age/sex and main statements.

The panel only shows what the service returned (:class:`desktop_app.service.SearchResult`);
thumbnails arrive later from a worker and are filled in by case key.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget,
)

from desktop_app.gui._wording import sex_age
from desktop_app.service import Hit, SearchResult

THUMB_SIZE = QSize(150, 101)  # the 3x4 page's aspect ratio
# Statements listed per case in the list; the case view shows them all.
_MAIN_STATEMENTS = 3


def hit_title(hit: Hit) -> str:
    """``"#1  PTB-XL 1234"`` or ``"#2  Clinic case"``."""
    where = f"PTB-XL {hit.ecg_id}" if hit.source == "library" else "Clinic case"
    return f"#{hit.rank}  {where}"


def hit_summary(hit: Hit) -> str:
    """The list text of one hit: title, similarity, age/sex, main statements."""
    if hit.diagnosis:
        words = [hit.diagnosis]
    else:
        ranked = sorted(hit.statements, key=lambda s: -(s.likelihood or 0.0))
        words = [s.description for s in ranked[:_MAIN_STATEMENTS] if s.description]
    more = len(hit.statements) - _MAIN_STATEMENTS
    tail = f" (+{more} more)" if more > 0 and not hit.diagnosis else ""
    return (f"{hit_title(hit)}   similarity {hit.similarity:.2f}\n"
            f"{sex_age(hit.age, hit.sex)}\n"
            f"{'; '.join(words) or 'no statements'}{tail}")


def _placeholder() -> QPixmap:
    pix = QPixmap(THUMB_SIZE)
    pix.fill(QColor(245, 236, 236))
    return pix


class ResultsPanel(QWidget):
    """Similar cases of the last search, most similar first.

    Signals
    -------
    case_selected(Hit) : the user selected a case (None when the selection is cleared).
    """

    case_selected = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._result: SearchResult | None = None
        self.heading = QLabel("Similar confirmed cases", self)
        self.heading.setWordWrap(True)
        self.heading.setStyleSheet("font-weight: bold;")
        self.message_label = QLabel("Open an ECG to find similar confirmed cases.", self)
        self.message_label.setWordWrap(True)
        self.message_label.setObjectName("results_message")
        self.list = QListWidget(self)
        self.list.setIconSize(THUMB_SIZE)
        self.list.setWordWrap(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list.setAccessibleName("Similar cases")
        self.list.currentRowChanged.connect(self._on_current_row_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.message_label)
        layout.addWidget(self.list, 1)

    @property
    def result(self) -> SearchResult | None:
        return self._result

    @property
    def hits(self) -> tuple[Hit, ...]:
        return () if self._result is None else self._result.hits

    def show_result(self, result: SearchResult) -> None:
        """List ``result``'s hits (placeholders until :meth:`set_thumbnail`)."""
        self._result = result
        self.list.blockSignals(True)
        self.list.clear()
        placeholder = QIcon(_placeholder())
        for hit in result.hits:
            item = QListWidgetItem(placeholder, hit_summary(hit))
            item.setData(Qt.ItemDataRole.UserRole, hit.case_key)
            item.setToolTip(hit.statements_en or (hit.diagnosis or ""))
            self.list.addItem(item)
        self.list.blockSignals(False)
        if result.query_text is not None:
            self.heading.setText(f"Library ECGs near the words \u201c{result.query_text}\u201d")
        else:
            self.heading.setText(f"{len(result.hits)} most similar confirmed cases")
        self.message_label.setText(result.disclaimer)

    def set_thumbnail(self, case_key: str, image: QImage) -> None:
        """Show ``image`` for the hit ``case_key`` (ignored if that hit is no longer listed)."""
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == case_key:
                pix = QPixmap.fromImage(image).scaled(
                    THUMB_SIZE, Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation)
                item.setIcon(QIcon(pix))

    def show_message(self, text: str, *, clear: bool = False) -> None:
        """Show a line above the list (searching, failed, unavailable); ``clear`` empties it."""
        self.message_label.setText(text)
        if clear:
            self._result = None
            self.list.clear()
            self.heading.setText("Similar confirmed cases")

    def select(self, row: int) -> None:
        self.list.setCurrentRow(row)

    def _on_current_row_changed(self, row: int) -> None:
        hits = self.hits
        self.case_selected.emit(hits[row] if 0 <= row < len(hits) else None)


__all__ = ["THUMB_SIZE", "ResultsPanel", "hit_summary", "hit_title"]
