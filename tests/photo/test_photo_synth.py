"""The picture generator: seeded, and its ground truth matches what it drew."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from model_export.photo_synth import DAMAGES, ptbxl_record_path, synth_picture
from tests.photo._helpers import fold10_ids


@pytest.fixture(scope="module")
def record(shared_data):
    return read_ecg(ptbxl_record_path(fold10_ids(shared_data)[0], shared_data / "ptbxl"))


def test_synth_picture_same_seed_same_picture(record):
    a = synth_picture(record, 7, px_per_mm=4.0, damages=DAMAGES)
    b = synth_picture(record, 7, px_per_mm=4.0, damages=DAMAGES)
    c = synth_picture(record, 8, px_per_mm=4.0, damages=DAMAGES)
    assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    assert a.truth_json() == b.truth_json()
    assert not np.array_equal(np.asarray(a.image), np.asarray(c.image)) \
        or a.truth_json() != c.truth_json()


def test_synth_picture_clean_render_has_identity_homography(record):
    pic = synth_picture(record, 1, layout="6x2", px_per_mm=5.0, damages=())
    assert pic.layout == "6x2" and pic.damages == {}
    assert np.allclose(pic.homography, np.eye(3))
    assert pic.image.size == pic.page_size_px


def test_synth_picture_homography_puts_page_inside_picture(record):
    pic = synth_picture(record, 3, px_per_mm=4.0,
                        damages=("perspective", "rotation", "background"), strength=1.0)
    w, h = pic.page_size_px
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=float).T
    mapped = pic.homography @ corners
    xy = mapped[:2] / mapped[2]
    assert np.all(xy >= -1) and np.all(xy[0] <= pic.image.width + 1)
    assert np.all(xy[1] <= pic.image.height + 1)
    # The background margin is table, not paper: the picture is larger than the page.
    assert pic.image.width > w or pic.image.height > h
    assert set(pic.damages) == {"perspective", "rotation", "background"}


def test_synth_picture_rejects_unknown_damage(record):
    with pytest.raises(ValueError, match="unknown damages"):
        synth_picture(record, 0, damages=("coffee",))


def test_synth_picture_homography_holds_the_drawn_rotation(record):
    pic = synth_picture(record, 4, px_per_mm=4.0, damages=("rotation",), strength=1.0)
    H = pic.homography
    angle = np.degrees(np.arctan2(H[1, 0], H[0, 0]))
    assert angle == pytest.approx(pic.damages["rotation"]["angle_deg"], abs=1e-6)
    # The mapped page centre is paper (bright), the picture's corners are table (darker).
    w, h = pic.page_size_px
    c = H @ np.array([w / 2, h / 2, 1.0])
    img = np.asarray(pic.image, dtype=np.float32).mean(axis=2)
    cx, cy = int(c[0] / c[2]), int(c[1] / c[2])
    paper = np.median(img[cy - 20:cy + 20, cx - 20:cx + 20])
    assert paper > img[0, 0] + 20 or paper > img[-1, -1] + 20
