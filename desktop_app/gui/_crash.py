"""Bugs are logged and shown, never swallowed: the global exception hook and the crash dialog.

An exception escaping a Qt slot would otherwise only print to a console the clinic never sees,
leaving a window that silently stopped doing its job. User errors (:class:`EcgError`) are not
bugs and never come here: the window shows their text and stays usable.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger(__name__)

# Dialogs are non-modal (.open()) and must outlive the hook call that made them.
_open_dialogs: list[QMessageBox] = []


def show_crash_dialog(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: TracebackType | None,
    parent: QWidget | None = None,
) -> QMessageBox | None:
    """Show an unexpected error with its traceback in a non-blocking dialog.

    Parameters
    ----------
    exc_type, exc, tb : the exception, as ``sys.exc_info()`` gives it.
    parent : the window to centre the dialog on (the active window when None).

    Returns
    -------
    QMessageBox or None
        The dialog, or None when there is no QApplication or this is not the GUI thread
        (widgets may only be created there; the error is logged either way).
    """
    app = QApplication.instance()
    if app is None or QThread.currentThread() is not app.thread():
        return None
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    box = QMessageBox(parent or QApplication.activeWindow())
    box.setIcon(QMessageBox.Icon.Critical)
    box.setWindowTitle("Unexpected error")
    box.setText(
        "Something went wrong inside ECG Case Finder. This is a bug, not a problem with your "
        "file.\nThe window may keep working; save your work and restart if it does not."
    )
    box.setInformativeText(f"{exc_type.__name__}: {exc}")
    box.setDetailedText(text)
    box.finished.connect(lambda _result, b=box: _forget(b))
    _open_dialogs.append(box)
    box.open()
    return box


def _forget(box: QMessageBox) -> None:
    if box in _open_dialogs:
        _open_dialogs.remove(box)
    box.deleteLater()


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    log.critical("unhandled exception", exc_info=(exc_type, exc, tb))
    try:
        show_crash_dialog(exc_type, exc, tb)
    except Exception:  # the hook itself must never raise
        log.exception("could not show the crash dialog")


def install_excepthook() -> None:
    """Route uncaught exceptions to the log and the crash dialog."""
    sys.excepthook = _excepthook
