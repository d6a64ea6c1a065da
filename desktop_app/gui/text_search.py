"""Search the library by words ("inferior MI", "AV block")."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLineEdit, QPushButton, QWidget


class TextSearchWidget(QWidget):
    """A line of words and a Search button.

    Signals
    -------
    search_requested(str) : the user asked to search for these (stripped, non-empty) words.
    """

    search_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("Search by words, e.g. inferior MI, AV block")
        self.edit.setClearButtonEnabled(True)
        self.edit.setAccessibleName("Search by words")
        self.button = QPushButton("Search", self)
        self.button.setToolTip("Find library ECGs that match the words (Enter)")
        self.edit.returnPressed.connect(self._on_submit)
        self.button.clicked.connect(self._on_submit)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.button)

    def _on_submit(self) -> None:
        words = self.edit.text().strip()
        if words:
            self.search_requested.emit(words)


__all__ = ["TextSearchWidget"]
