"""The results document of the photo evaluation, on one real fold-10 record."""

from __future__ import annotations

import numpy as np

from model_export.photo_eval import run_report, snr_db, write_report
from tests.photo._helpers import fold10_ids


def test_snr_db_follows_challenge_definition():
    x = np.sin(np.linspace(0, 20, 500))
    noise = 0.1 * np.cos(np.linspace(0, 7, 500))
    expected = 10 * np.log10(np.sum(x ** 2) / np.sum(noise ** 2))
    assert snr_db(x, x + noise) == np.float64(expected)


def test_run_report_without_assets_says_retrieval_not_measured(shared_data, tmp_path):
    root = shared_data / "ptbxl"
    ecg_id = fold10_ids(shared_data)[0]
    result = run_report({"clean": [ecg_id], "jpeg": [ecg_id]}, root, root / "ptbxl_metadata.csv",
                        seed=0, strengths=(0.5,), assets_root=tmp_path)
    assert result["retrieval"] is None and result["encoder_bytes"] is None
    rows = {(r["condition"], r["strength"]): r for r in result["rows"]}
    clean = rows[("clean", 0.0)]
    assert clean["n"] == 1 and clean["read"] + len(clean["refused"]) == 1
    assert set(clean["lead_snr_db"]) == {"I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2",
                                         "V3", "V4", "V5", "V6"}
    assert clean["median_snr_db"] > 5 and clean["median_r"] > 0.9
    assert rows[("jpeg", 0.5)]["n"] == 1 and rows[("blur", 0.5)]["n"] == 0
    out = write_report(result, tmp_path / "PHOTO_RESULTS.md", sample="1 record", seed=0)
    text = out.read_text(encoding="utf-8")
    assert "not yet measured: needs the shipped encoder" in text
    assert "| clean | 0.0 | 1 |" in text and "median SNR, clean renders >= 20 dB" in text
    assert "Seconds per picture" in text
