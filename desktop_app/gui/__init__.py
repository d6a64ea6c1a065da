"""The desktop window. The only package of the app that imports PySide6.

``python -m desktop_app`` with no arguments calls :func:`run`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from desktop_app import __version__
from desktop_app.gui._crash import install_excepthook, show_crash_dialog
from desktop_app.gui.ecg_view import EcgPaperWidget, EcgView
from desktop_app.gui.main_window import APP_TITLE, MainWindow
from desktop_app.gui.workers import Worker, WorkerSignals

__all__ = [
    "EcgPaperWidget", "EcgView", "MainWindow", "Worker", "WorkerSignals", "run",
    "show_crash_dialog",
]


def _application(argv: list[str]) -> tuple[QApplication, list[str]]:
    """The QApplication (created if needed) and the arguments Qt did not consume."""
    app = QApplication.instance()
    if app is not None:
        return app, argv  # type: ignore[return-value]
    # Fractional scale factors (125 %, 150 %) are common on clinic laptops; rounding them
    # would make the ECG paper and text blurry or oversized. Must be set before the app.
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication([sys.argv[0] if sys.argv else "ecg-case-finder", *argv])
    app.setApplicationName(APP_TITLE)
    app.setApplicationDisplayName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setOrganizationName("ECGCaseFinder")
    return app, app.arguments()[1:]


def run(argv: list[str] | None = None) -> int:
    """Start the GUI and block until its window closes.

    Parameters
    ----------
    argv : command-line arguments after the program name; the first one that is not an
        option (does not start with ``-``) is opened as an ECG file. Qt's own options
        (``-platform offscreen``, ...) pass through to Qt.

    Returns
    -------
    int
        The exit status of the Qt event loop (0 on a normal close).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    app, rest = _application(argv)
    install_excepthook()
    window = MainWindow()
    window.show()
    files = [a for a in rest if not a.startswith("-")]
    if files:
        # A missing or unreadable file is reported in the window like any other.
        window.open_file(Path(files[0]))
    return int(app.exec())
