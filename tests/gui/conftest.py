"""GUI fixtures: a shown main window, and a check that no background work outlives a test."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QThreadPool

from desktop_app.ecg import EcgRecord, read_ecg


@pytest.fixture(autouse=True)
def _no_dangling_pool_work(qapp):
    """Fail a test that leaves work running on the global thread pool (napari does the same)."""
    yield
    pool = QThreadPool.globalInstance()
    assert pool.waitForDone(10_000), "a worker was still running 10 s after the test"
    assert pool.activeThreadCount() == 0


@pytest.fixture
def window(qtbot):
    """A shown MainWindow at a typical laptop size (1366 x 768), closed after the test."""
    from desktop_app.gui import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1366, 768)
    with qtbot.waitExposed(win):
        win.show()
    return win


@pytest.fixture(scope="session")
def ptbxl_record(ptbxl_record_path) -> EcgRecord:
    """PTB-XL record 1, read once for the view tests."""
    return read_ecg(ptbxl_record_path)
