"""Shared fixtures. Qt runs offscreen; real data is read where it lies (../shared/data)."""

from __future__ import annotations

import os
from pathlib import Path

# Must be set before anything imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_DATA_ENV = "ECGFINDER_SHARED_DATA"


def _find_shared_data() -> Path:
    env = os.environ.get(_DATA_ENV)
    candidates = [Path(env)] if env else [REPO_ROOT.parent / "shared" / "data"]
    for cand in candidates:
        if (cand / "README.md").is_file() and (cand / "records").is_dir():
            return cand
    where = ", ".join(str(c) for c in candidates)
    pytest.fail(
        f"real ECG test data not found (looked in {where}); put the shared data folder beside "
        f"the checkout as ../shared/data or set {_DATA_ENV} to its path",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real ECG records, formats and photos (``../shared/data``)."""
    return _find_shared_data()


@pytest.fixture(scope="session")
def ptbxl_record_path(shared_data: Path) -> Path:
    """Header of PTB-XL record 1 (100 Hz, sinus rhythm, normal ECG)."""
    return shared_data / "records" / "00001_lr.hea"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Settings, recent files and the clinic's own cases go to a temporary folder in tests."""
    root = tmp_path_factory.mktemp("userdirs")
    monkeypatch.setenv("ECGFINDER_CONFIG_DIR", str(root / "config"))
    monkeypatch.setenv("ECGFINDER_DATA_DIR", str(root / "data"))


@pytest.fixture(scope="session")
def shipped_assets() -> Path:
    """The app's own ``assets/`` (trained encoders, case library, examples), verified.

    These are the project's build outputs, committed with the code: a test that needs the real
    models uses this fixture, and fails naming the damaged or missing file.
    """
    from desktop_app.assets import verify_assets

    root = REPO_ROOT / "assets"
    verify_assets(root)
    return root


@pytest.fixture(scope="session")
def shipped_finder(shipped_assets, tmp_path_factory):
    """One CaseFinder on the shipped assets for the session (models load once).

    Its clinic store is a session temporary file; tests that add clinic cases make their own
    finder with a fresh ``clinic_path``.
    """
    from desktop_app.service import CaseFinder

    return CaseFinder(assets_root=shipped_assets,
                      clinic_path=tmp_path_factory.mktemp("clinic") / "clinic.sqlite",
                      include_clinic=False)
