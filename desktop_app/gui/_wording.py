"""Fixed wording shown in several places: the title, the disclaimer, the data credit."""

from __future__ import annotations

from desktop_app.library import DISCLAIMER as RESULT_DISCLAIMER

APP_TITLE = "ECG Case Finder"
#: The banner on every screen; the result screens add :data:`RESULT_DISCLAIMER` from the core.
DISCLAIMER = "Decision aid only \u2014 this app does not diagnose."
#: Short credit for printed summaries (the About box gives the full citation).
PTBXL_CREDIT = "PTB-XL, PhysioNet, CC BY 4.0"
PTBXL_CITATION = (
    "PTB-XL (Wagner P. et al., \u201cPTB-XL, a large publicly available electrocardiography "
    "dataset\u201d, <i>Scientific Data</i> 7, 154, 2020), distributed by PhysioNet under "
    "CC BY 4.0")


def sex_age(age: float | None, sex: str | None) -> str:
    """``"56 y, female"``; unknown parts are left out."""
    parts = []
    if age is not None:
        parts.append(f"{age:.0f} y")
    if sex:
        parts.append(sex)
    return ", ".join(parts) if parts else "age and sex not given"


__all__ = ["APP_TITLE", "DISCLAIMER", "PTBXL_CITATION", "PTBXL_CREDIT", "RESULT_DISCLAIMER",
           "sex_age"]
