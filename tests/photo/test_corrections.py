"""A clinician's corrections to a picture's reading (page corners, layout, speed, gain) and the
"too blurred" refusal, on generated pictures (truth known) and the real photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import ImageFilter

from desktop_app.ecg import LeadSource, read_ecg
from desktop_app.errors import EcgReadError, EcgValueError
from desktop_app.photo import digitise, digitise_array, load_picture, parse_layout
from model_export.photo_synth import ptbxl_record_path, synth_picture
from tests.photo._helpers import fold10_ids


@pytest.fixture(scope="module")
def clean_3x4(shared_data):
    """A clean generated 3 x 4 page (25 mm/s, 10 mm/mV, one rhythm strip) and its reading."""
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[0], shared_data / "ptbxl"))
    pic = synth_picture(rec, 11, layout="3x4", px_per_mm=8.0, damages=(), thick_ink=False)
    rgb = np.asarray(pic.image, dtype=np.float32)
    return rgb, digitise_array(rgb, fs_hz=250.0)


def _kept(record) -> list[int]:
    return [i for i, s in enumerate(record.lead_sources) if s is LeadSource.DIGITISED]


def test_digitise_array_forced_speed_halves_duration(clean_3x4):
    rgb, auto = clean_3x4
    assert auto.record.meta["photo"]["speed_from"] != "clinician"
    fast = digitise_array(rgb, fs_hz=250.0, speed_mm_s=50)
    meta = fast.record.meta["photo"]
    assert meta["speed_mm_s"] == 50.0 and meta["speed_from"] == "clinician"
    assert meta["clinician_set"] == ["speed"]
    # The same ink read at twice the speed spans half the time, lead by lead.
    auto_w = auto.record.meta["photo"]["windows_s"]
    assert set(meta["windows_s"]) == set(auto_w)
    for lead, (t0, t1) in auto_w.items():
        f0, f1 = meta["windows_s"][lead]
        assert f1 - f0 == pytest.approx(0.5 * (t1 - t0), abs=0.01), lead
    for a, b in zip(auto.traces, fast.traces):
        np.testing.assert_allclose(b.t_s, 0.5 * a.t_s, atol=1e-9)
    assert auto.record.meta["photo"]["windows_s"]["II"][1] > 9.0


def test_digitise_array_forced_gain_scales_millivolts(clean_3x4):
    rgb, auto = clean_3x4
    assert auto.layout.gain_mm_mv == 10.0
    high = digitise_array(rgb, fs_hz=250.0, gain_mm_mv=20)
    meta = high.record.meta["photo"]
    assert meta["gain_mm_mv"] == 20.0 and meta["gain_from"] == "clinician"
    kept = _kept(auto.record)
    assert len(kept) >= 10 and _kept(high.record) == kept
    # 20 mm/mV puts twice the pixels in a millivolt: the same ink reads half the voltage.
    np.testing.assert_allclose(high.record.signal[kept], 0.5 * auto.record.signal[kept],
                               atol=1e-5)
    assert np.ptp(auto.record.signal[kept]) > 0.5


def test_digitise_array_given_detected_quad_reproduces_reading(shared_data):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[2], shared_data / "ptbxl"))
    pic = synth_picture(rec, 21, layout="3x4", px_per_mm=7.0, thick_ink=False,
                        damages=("perspective", "background"), strength=0.5)
    rgb = np.asarray(pic.image, dtype=np.float32)
    auto = digitise_array(rgb, fs_hz=100.0)
    h, w = rgb.shape[:2]
    frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    assert np.max(np.abs(auto.quad - frame)) > 20, "the page should lie on a table"
    again = digitise_array(rgb, fs_hz=100.0, quad=auto.quad.tolist())
    assert again.record.meta["photo"]["page_from"] == "clinician"
    assert auto.record.meta["photo"]["page_from"] == "detected"
    assert again.layout.name == auto.layout.name
    assert again.record.lead_sources == auto.record.lead_sources
    np.testing.assert_allclose(again.record.signal, auto.record.signal, atol=1e-4,
                               equal_nan=True)
    # Corners around the whole picture (table included) give another page: another reading.
    try:
        framed = digitise_array(rgb, fs_hz=100.0, quad=frame)
    except EcgReadError:
        return
    assert framed.page.shape != auto.page.shape


def test_digitise_real_photo_given_its_quad_reproduces_reading(shared_data):
    path = shared_data / "photos" / "ecg00011.jpg"
    rgb = load_picture(path)
    auto = digitise_array(rgb, path=path)
    again = digitise_array(rgb, path=path, quad=auto.quad)
    np.testing.assert_allclose(again.record.signal, auto.record.signal, atol=1e-6,
                               equal_nan=True)
    assert again.record.meta["photo"]["clinician_set"] == ["page"]


def test_digitise_forced_layout_is_used_and_recorded(shared_data):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[1], shared_data / "ptbxl"))
    pic = synth_picture(rec, 31, layout="6x2", px_per_mm=6.0, damages=(), thick_ink=False)
    rgb = np.asarray(pic.image, dtype=np.float32)
    auto = digitise_array(rgb, fs_hz=100.0)
    assert auto.layout.name == "6x2"
    assert auto.record.meta["photo"]["layout_from"] != "clinician"
    same = digitise_array(rgb, fs_hz=100.0, layout="6x2")
    np.testing.assert_allclose(same.record.signal, auto.record.signal, atol=1e-6,
                               equal_nan=True)
    assert same.record.meta["photo"]["layout_from"] == "clinician"
    # Read as 3 x 4, three of the rows are cut in four panels: half a 6 x 2 panel each.
    wrong = digitise_array(rgb, fs_hz=100.0, layout="3x4")
    assert (wrong.layout.name, wrong.layout.n_rhythm) == ("3x4", 0)
    assert len(wrong.layout.rows) == 3
    w = wrong.record.meta["photo"]["windows_s"]
    a = auto.record.meta["photo"]["windows_s"]
    assert w["V1"][1] - w["V1"][0] == pytest.approx(0.5 * (a["V1"][1] - a["V1"][0]), rel=0.1)


def test_digitise_forced_layout_needing_more_rows_is_refused(clean_3x4):
    rgb, auto = clean_3x4
    assert len(auto.layout.rows) < 12
    with pytest.raises(EcgReadError, match="layout 12x1") as err:
        digitise_array(rgb, layout="12x1")
    assert "choose the layout printed" in err.value.hint


@pytest.mark.parametrize("kwargs,match", [
    ({"speed_mm_s": 30}, "paper speed 30"), ({"gain_mm_mv": 7}, "gain 7"),
    ({"layout": "4x3"}, "layout '4x3'"), ({"layout": "6x2+1"}, "layout '6x2\\+1'"),
    ({"quad": [[0, 0], [10, 0], [10, 10]]}, "4 \\(x, y\\) points"),
    ({"quad": [[0, 0], [50, 0], [50, 50], [0, 50]]}, "at least 100 px"),
    ({"quad": [[0, 0], [0, 300], [300, 300], [300, 0]]}, "top-left, top-right"),
    ({"quad": [[0, 0], [300, 0], [300, np.nan], [0, 300]]}, "finite"),
])
def test_digitise_array_rejects_malformed_corrections(clean_3x4, kwargs, match):
    rgb, _ = clean_3x4
    with pytest.raises(EcgValueError, match=match):
        digitise_array(rgb, **kwargs)


@pytest.mark.parametrize("spec,expected", [("3x4", ("3x4", 0)), ("3x4+1", ("3x4", 1)),
                                           ("3 X 4 + 3", ("3x4", 3)), ("6x2", ("6x2", 0)),
                                           ("12x1", ("12x1", 0))])
def test_parse_layout_reads_choices(spec, expected):
    assert parse_layout(spec) == expected


def test_digitise_refuses_blurred_picture_saying_so(shared_data, tmp_path):
    ids = fold10_ids(shared_data)
    rec = read_ecg(ptbxl_record_path(ids[3], shared_data / "ptbxl"))
    pic = synth_picture(rec, 41, layout="3x4", px_per_mm=8.0, damages=(), thick_ink=False)
    sharp = tmp_path / "sharp.png"
    pic.image.save(sharp)
    assert digitise(sharp).present_leads()
    blurred = tmp_path / "blurred.png"
    pic.image.filter(ImageFilter.GaussianBlur(1.5 * 8.0)).save(blurred)  # sigma 1.5 mm
    with pytest.raises(EcgReadError, match="too blurred") as err:
        digitise(blurred)
    assert "focus" in err.value.hint

