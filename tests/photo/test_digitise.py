"""The classical digitiser on generated pictures (truth known), non-ECG pictures and the
real photos of ../shared/data/photos (no truth: read plausibly or refused with a reason)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from desktop_app.ecg import LEADS_12, LeadSource, read_ecg
from desktop_app.errors import EcgReadError
from desktop_app.photo import digitise, digitise_array, find_grid, find_page, read_photo, sniff
from desktop_app.signal import heart_rate_bpm
from model_export.photo_eval import score_record
from model_export.photo_synth import ptbxl_record_path, synth_picture
from tests.photo._helpers import fold10_ids

# Floors measured on generated fold-10 pictures (thin ink, no damage): per-picture median SNR
# was 14-20 dB and median r 0.98-0.995; the floors leave room for other records and scales.
CLEAN_MEDIAN_SNR_DB = 10.0
CLEAN_MEDIAN_R = 0.95
LEAD_R = 0.9


@pytest.mark.parametrize("layout,ppm,k", [("3x4", 8.0, 0), ("6x2", 6.0, 1), ("12x1", 10.0, 2)])
def test_digitise_array_recovers_clean_render(shared_data, layout, ppm, k):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[k], shared_data / "ptbxl"))
    pic = synth_picture(rec, 100 + k, layout=layout, px_per_mm=ppm, damages=(),
                        thick_ink=False)
    out = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
    assert out.grid.px_per_mm == pytest.approx(ppm, rel=0.02)
    assert out.layout.name == layout
    assert (out.layout.speed_mm_s, out.layout.gain_mm_mv) == (25.0, 10.0)
    scores = score_record(rec, out.record)
    snr = np.median([s["snr_db"] for s in scores.values()])
    rs = np.array([s["r"] for s in scores.values()])
    assert snr >= CLEAN_MEDIAN_SNR_DB
    assert np.median(rs) >= CLEAN_MEDIAN_R
    assert np.sum(rs >= LEAD_R) >= 10
    assert out.record.source_format == "photo"
    assert all(s in (LeadSource.DIGITISED, LeadSource.DERIVED, LeadSource.MISSING)
               for s in out.record.lead_sources)


def test_digitise_array_reads_rotated_perspective_photo(shared_data):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[3], shared_data / "ptbxl"))
    pic = synth_picture(rec, 5, layout="3x4", px_per_mm=8.0, thick_ink=False,
                        damages=("perspective", "rotation", "background", "light"),
                        strength=0.5)
    out = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
    assert out.layout.name == "3x4"
    rs = [s["r"] for s in score_record(rec, out.record).values()]
    assert np.median(rs) >= 0.8


def _true_corners(pic) -> np.ndarray:
    """Where the synthesiser put the page's corners (TL, TR, BR, BL) in the picture."""
    w, h = pic.page_size_px
    m = pic.homography @ np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], float).T
    return (m[:2] / m[2]).T


# Perspective and rotation alone crop the picture to the tilted page's bounding box, so the
# page fills 90-98 % of it: the digitiser used to keep such a picture whole and left the
# perspective in (corners 3-12 mm off, SNR about 0 dB).
@pytest.mark.parametrize("damages,strength,k", [
    (("perspective",), 0.3, 0), (("perspective",), 0.8, 1), (("rotation",), 0.3, 2),
    (("rotation",), 0.8, 3), (("perspective", "rotation", "background"), 0.8, 4),
])
def test_find_page_corners_match_true_page(shared_data, damages, strength, k):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[k], shared_data / "ptbxl"))
    pic = synth_picture(rec, 40 + k, layout="3x4", px_per_mm=5.0, damages=damages,
                        strength=strength)
    _, quad = find_page(np.asarray(pic.image, dtype=np.float32))
    true = _true_corners(pic)
    err_mm = np.linalg.norm(quad - true, axis=1) / pic.px_per_mm
    assert err_mm.max() < 1.0, err_mm
    # The page's tilt, read from its top and bottom edges, within 0.2 degree.
    for a, b in ((0, 1), (3, 2)):
        found = np.degrees(np.arctan2(*(quad[b] - quad[a])[::-1]))
        want = np.degrees(np.arctan2(*(true[b] - true[a])[::-1]))
        assert found == pytest.approx(want, abs=0.2)


def test_find_page_keeps_whole_page_under_soft_shadow():
    # A page filling the picture with a phone's soft shadow over its left part: the lit part is
    # a bright quad on a darker surround, but its edge fades over ~15 % of the picture, which
    # no paper edge does, so the page is not cropped to it.
    h, w = 700, 1000
    page = np.full((h, w, 3), 250.0, dtype=np.float32)
    for k in range(0, w, 5):
        page[:, k, 1:] = 150.0 if k % 25 == 0 else 210.0
    for k in range(0, h, 5):
        page[k, :, 1:] = 150.0 if k % 25 == 0 else 210.0
    xx = np.arange(w, dtype=np.float32)[None, :, None]
    page *= 1 - 0.35 / (1 + np.exp((xx - 0.4 * w) / (0.03 * w)))
    _, quad = find_page(page)
    assert np.allclose(quad, [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])

def test_digitise_array_reads_rotated_page_filling_picture(shared_data):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[5], shared_data / "ptbxl"))
    pic = synth_picture(rec, 13, layout="3x4", px_per_mm=6.0, damages=("rotation",),
                        strength=0.3, thick_ink=False)
    assert abs(pic.damages["rotation"]["angle_deg"]) > 0.3
    out = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
    assert out.layout.name == "3x4"
    assert out.grid.px_per_mm == pytest.approx(6.0, rel=0.02)
    rs = [s["r"] for s in score_record(rec, out.record).values()]
    assert np.median(rs) >= 0.9


def test_digitise_array_marks_unprinted_lead_missing(shared_data):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[4], shared_data / "ptbxl"))
    i = LEADS_12.index("V3")
    sig = rec.signal.copy()
    sig[i] = np.nan
    sources = list(rec.lead_sources)
    sources[i] = LeadSource.MISSING
    no_v3 = rec.replace(signal=sig, lead_sources=tuple(sources))
    pic = synth_picture(no_v3, 9, layout="3x4", px_per_mm=8.0, damages=(), thick_ink=False)
    out = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
    assert out.record.lead_sources[i] is LeadSource.MISSING
    assert np.all(np.isnan(out.record.signal[i]))
    assert out.record.lead_sources[LEADS_12.index("V2")] is LeadSource.DIGITISED


@pytest.mark.parametrize("kind", ["noise", "gradient"])
def test_digitise_refuses_picture_without_grid(tmp_path, kind):
    rng = np.random.default_rng(0)
    if kind == "noise":
        arr = rng.integers(0, 256, size=(600, 900, 3), dtype=np.uint8)
    else:
        ramp = np.linspace(40, 230, 900, dtype=np.float32)[None, :, None]
        arr = np.broadcast_to(ramp, (600, 900, 3)).astype(np.uint8)
    path = tmp_path / f"{kind}.png"
    Image.fromarray(arr).save(path)
    with pytest.raises(EcgReadError, match="no ECG grid") as err:
        digitise(path)
    assert err.value.format == "photo"
    assert "photograph" in err.value.hint


def test_find_grid_reports_scale_of_plain_grid():
    ppm = 7.0
    page = np.full((700, 1400, 3), 255.0, dtype=np.float32)
    for k in range(0, 200):
        x = int(round(k * ppm))
        width = 2 if k % 5 == 0 else 1
        page[:, x:x + width, 1:] = 150 if k % 5 == 0 else 210
        if x < 700:
            page[x:x + width, :, 1:] = 150 if k % 5 == 0 else 210
    assert find_grid(page).px_per_mm == pytest.approx(ppm, rel=0.01)


def test_digitise_refuses_undecodable_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    with pytest.raises(EcgReadError, match="undecodable"):
        read_photo(path)


@pytest.mark.parametrize("head,expected", [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 8, True), (b"\xff\xd8\xff\xe1abc", True),
    (b"BM6\x00\x00\x00\x00\x00\x00\x006\x00\x00\x00(\x00\x00\x00", True),
    (b"BMI,II,V1\n0.1,0.2,0.3\n", False), (b"II*\x00\x08", True), (b"MM\x00*\x00", True),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", True), (b"\x00\x00\x01\x00", False),
    (b"<?xml version", False), (b"", False),
])
def test_sniff_recognises_picture_magic(tmp_path, head, expected):
    assert sniff(head, tmp_path / "x") is expected


def test_read_photo_real_pictures_read_plausibly_or_refused(shared_data):
    photos = sorted((shared_data / "photos").iterdir())
    assert len(photos) >= 10
    read = 0
    for path in photos:
        try:
            rec = read_photo(path)
        except EcgReadError as exc:
            assert exc.format == "photo" and exc.found and exc.hint, path.name
            continue
        read += 1
        assert rec.source_format == "photo"
        assert rec.present_leads(), path.name
        rate = heart_rate_bpm(rec)
        assert rate is not None and 30 <= rate <= 220, (path.name, rate)
    assert read >= 1
