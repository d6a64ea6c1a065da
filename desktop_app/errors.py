"""The app's typed errors. Every error a user can cause is an :class:`EcgError`.

The GUI catches ``EcgError``, shows its text and stays usable; anything else is a bug.
"""

from __future__ import annotations

from pathlib import Path


class EcgError(Exception):
    """Base class of every error that a user's input or a damaged install can cause."""


class EcgReadError(EcgError, ValueError):
    """A file could not be read as an ECG.

    The message reads ``file X: expected A, found B; do C``.

    Parameters
    ----------
    path : path of the file (may be None for in-memory data).
    format : the format being read (``"wfdb"``, ``"csv"``, ...) or ``"unknown"``.
    expected : what the reader needed.
    found : what it found instead.
    hint : what the user can do about it.
    """

    def __init__(
        self,
        path: str | Path | None,
        format: str,
        expected: str,
        found: str,
        hint: str = "",
    ) -> None:
        self.path = None if path is None else Path(path)
        self.format = format
        self.expected = expected
        self.found = found
        self.hint = hint
        name = self.path.name if self.path is not None else "<data>"
        msg = f"file {name} ({format}): expected {expected}, found {found}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


class EcgValueError(EcgError, ValueError):
    """An argument or a signal is outside what the app can work with (wrong shape, units, rate)."""


class AssetError(EcgError, RuntimeError):
    """A shipped asset (model, case library) is missing or damaged.

    Parameters
    ----------
    path : the damaged or missing file.
    problem : what is wrong with it.
    """

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"asset {self.path.name}: {problem}; reinstall the app from its original copy"
        )
