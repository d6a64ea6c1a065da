"""Searching with a picture: each lead's printed stretch is continued over the 10 s the
encoder expects (``fill_unseen``), on generated pages (truth known) and the shipped model."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, LeadSource, read_ecg
from desktop_app.photo import digitise_array, fill_unseen, known_mask
from model_export.photo_synth import ptbxl_record_path, synth_picture
from tests.photo._helpers import fold10_ids


def _reading(shared_data, ecg_id: int, layout: str, seed: int):
    rec = read_ecg(ptbxl_record_path(ecg_id, shared_data / "ptbxl"))
    pic = synth_picture(rec, seed, layout=layout, px_per_mm=8.0, damages=(), thick_ink=False)
    return rec, digitise_array(np.asarray(pic.image, dtype=np.float32), fs_hz=rec.fs_hz).record


@pytest.fixture(scope="module")
def page_3x4(shared_data):
    return _reading(shared_data, fold10_ids(shared_data)[1], "3x4", 5)


def test_fill_unseen_leaves_a_file_untouched(shared_data):
    rec = read_ecg(ptbxl_record_path(fold10_ids(shared_data)[0], shared_data / "ptbxl"))
    assert fill_unseen(rec) is rec


def test_fill_unseen_continues_each_printed_window_in_place(page_3x4):
    _, record = page_3x4
    assert record.meta["photo"]["layout"] == "3x4"
    known = known_mask(record)
    before = np.array(record.signal, copy=True)
    filled = fill_unseen(record)
    assert filled is not record and filled.meta == record.meta
    np.testing.assert_array_equal(record.signal, before)  # the clinician's reading is kept
    partly = [i for i in range(12) if known[i].any() and not known[i].all()]
    assert len(partly) >= 8, "a 3 x 4 page shows most leads for 2.5 s only"
    for i in partly:
        k = known[i]
        shown = record.signal[i, k]
        # The printed stretch stays where it was, only centred on its median ...
        np.testing.assert_allclose(filled.signal[i, k], shown - np.median(shown), atol=1e-6)
        # ... and the 0 mV the reading holds elsewhere is replaced by that stretch repeated.
        outside = filled.signal[i, ~k]
        assert np.ptp(outside) > 0.5 * np.ptp(shown)
        period = int(k.sum())
        np.testing.assert_allclose(filled.signal[i, period:2 * period],
                                   filled.signal[i, :period], atol=1e-6)
    for i, src in enumerate(record.lead_sources):
        if src is LeadSource.MISSING:
            assert filled.lead_sources[i] is LeadSource.MISSING, LEADS_12[i]


def test_search_with_a_3x4_picture_lies_nearer_its_file(shared_data, shipped_finder):
    """With the shipped encoder, the continued leads embed closer to the original recording
    than the reading with 0 mV outside each window (what the search used before)."""
    gains = []
    for n, ecg_id in enumerate(fold10_ids(shared_data)[:4]):
        rec, record = _reading(shared_data, ecg_id, "3x4", 40 + n)
        truth = shipped_finder.embed(rec)
        filled = shipped_finder.embed(record)  # the service fills a picture's reading
        flat = shipped_finder.embed(record.replace(meta={}))  # the same samples, not filled
        gains.append(float(truth @ filled) - float(truth @ flat))
    assert np.mean(gains) > 0.0 and sum(g > 0 for g in gains) >= 3, gains
