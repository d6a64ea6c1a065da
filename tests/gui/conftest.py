"""GUI fixtures: a shown main window on a stand-in case library, and a check that no
background work outlives a test.

The trained models are not in ``assets/`` yet, so the window searches the library of
tests/library (real PTB-XL records 1-100, spectrum+PCA embedding) through :func:`gui_finder`,
the one place tests get a :class:`CaseFinder`. When the shipped assets land, only that fixture
changes (to ``CaseFinder(assets_root=shipped_assets, clinic_path=...)``).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from PySide6.QtCore import QThreadPool

from desktop_app.ecg import EcgRecord, read_ecg
from tests.library.conftest import mechanics_assets  # noqa: F401  (session fixture)


class BagOfWordsText:
    """A deterministic text embedder of the library's dimension for search-by-words plumbing:
    each lower-case word maps to a fixed random vector (seeded by its CRC-32), summed and
    normalised. Its neighbours mean nothing clinically; the tests check the wiring."""

    def __init__(self, dim: int) -> None:
        self.dim = int(dim)

    def embed_texts(self, texts) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                rng = np.random.default_rng(zlib.crc32(word.encode("utf-8")))
                out[i] += rng.standard_normal(self.dim).astype(np.float32)
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-12)
        return out


@pytest.fixture
def gui_finder(mechanics_assets, tmp_path):  # noqa: F811
    """The CaseFinder the window searches with (a fresh clinic store per test)."""
    from desktop_app.service import CaseFinder

    return CaseFinder(assets_root=mechanics_assets.assets_root,
                      clinic_path=tmp_path / "clinic" / "clinic.sqlite",
                      image_encoder=mechanics_assets.embedder,
                      text_encoder=BagOfWordsText(mechanics_assets.embedder.dim))


@pytest.fixture(autouse=True)
def _no_dangling_pool_work(qapp):
    """Fail a test that leaves work running on the global thread pool (napari does the same)."""
    yield
    pool = QThreadPool.globalInstance()
    assert pool.waitForDone(10_000), "a worker was still running 10 s after the test"
    assert pool.activeThreadCount() == 0


def show_window(qtbot, finder, timeout_ms: int = 30_000):
    """A shown MainWindow at a typical laptop size (1366 x 768) whose finder has loaded."""
    from desktop_app.gui import MainWindow

    win = MainWindow(finder=finder)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    with qtbot.waitSignal(win.finder_ready, timeout=timeout_ms):
        with qtbot.waitExposed(win):
            win.show()
    return win


@pytest.fixture
def window(qtbot, gui_finder):
    """The window on the stand-in library (see :func:`gui_finder`)."""
    return show_window(qtbot, gui_finder)


@pytest.fixture(scope="session")
def ptbxl_record(ptbxl_record_path) -> EcgRecord:
    """PTB-XL record 1, read once for the view tests."""
    return read_ecg(ptbxl_record_path)
