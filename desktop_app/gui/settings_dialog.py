"""Edit the user settings (number of results, layout, paper speed and gain, theme)."""

from __future__ import annotations

from dataclasses import fields, replace

from PySide6.QtWidgets import (
    QComboBox, QDialog, QDialogButtonBox, QFormLayout, QSpinBox, QWidget,
)

from desktop_app.settings import Settings


def _choices(name: str) -> tuple:
    return next(f.metadata["choices"] for f in fields(Settings) if f.name == name)


def _description(name: str) -> str:
    return next(f.metadata["description"] for f in fields(Settings) if f.name == name)


class SettingsDialog(QDialog):
    """The settings form; :meth:`settings` gives the edited, validated :class:`Settings`."""

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self._base = settings
        self.top_k_spin = QSpinBox(self)
        self.top_k_spin.setRange(1, 50)
        self.top_k_spin.setValue(settings.top_k)
        self.layout_combo = QComboBox(self)
        self.layout_combo.addItems(list(_choices("layout")))
        self.layout_combo.setCurrentText(settings.layout)
        self.speed_combo = QComboBox(self)
        for v in _choices("paper_speed_mm_s"):
            self.speed_combo.addItem(f"{v:g} mm/s", v)
        self.speed_combo.setCurrentIndex(self.speed_combo.findData(settings.paper_speed_mm_s))
        self.gain_combo = QComboBox(self)
        for v in _choices("gain_mm_mv"):
            self.gain_combo.addItem(f"{v:g} mm/mV", v)
        self.gain_combo.setCurrentIndex(self.gain_combo.findData(settings.gain_mm_mv))
        self.theme_combo = QComboBox(self)
        self.theme_combo.addItems(list(_choices("theme")))
        self.theme_combo.setCurrentText(settings.theme)
        form = QFormLayout(self)
        for label, widget, name in (
            ("Number of similar cases", self.top_k_spin, "top_k"),
            ("Default layout", self.layout_combo, "layout"),
            ("Paper speed", self.speed_combo, "paper_speed_mm_s"),
            ("Gain", self.gain_combo, "gain_mm_mv"),
            ("Theme", self.theme_combo, "theme"),
        ):
            widget.setToolTip(_description(name))
            form.addRow(label, widget)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> Settings:
        """The settings as edited (other fields as they were)."""
        return replace(self._base, top_k=self.top_k_spin.value(),
                       layout=self.layout_combo.currentText(),
                       paper_speed_mm_s=float(self.speed_combo.currentData()),
                       gain_mm_mv=float(self.gain_combo.currentData()),
                       theme=self.theme_combo.currentText())


__all__ = ["SettingsDialog"]
