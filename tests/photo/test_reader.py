"""Pictures through the format table: read_ecg digitises photos, and only photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from desktop_app.ecg import FORMATS, read_ecg, sniff_format
from desktop_app.errors import EcgReadError
from desktop_app.photo import sniff


def test_formats_lists_photo_reader_last():
    assert FORMATS[-1].name == "photo"
    assert FORMATS[-1].reader().__name__ == "read_photo"
    assert {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"} <= set(FORMATS[-1].suffixes)


def test_sniff_format_claims_every_real_photo(shared_data):
    photos = sorted((shared_data / "photos").iterdir())
    assert len(photos) >= 10
    assert [sniff_format(p) for p in photos] == ["photo"] * len(photos)


def test_photo_sniffer_claims_no_other_format_file(shared_data):
    files = [p for sub in ("records", "formats") for p in sorted((shared_data / sub).rglob("*"))
             if p.is_file()]
    assert len(files) >= 20
    for path in files:
        head = path.read_bytes()[:4096]
        assert not sniff(head, path), path
        assert sniff_format(path) != "photo", path


def test_read_ecg_digitises_real_photo(shared_data):
    rec = read_ecg(shared_data / "photos" / "ecg00006.png")
    assert rec.source_format == "photo"
    assert rec.meta["photo"]["layout"] == "3x4"
    assert len(rec.present_leads()) >= 10


def _non_ecg_pictures() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:600, 0:800]
    text = Image.new("RGB", (800, 1100), "white")
    draw = ImageDraw.Draw(text)
    for i in range(40):
        draw.text((40, 20 + 25 * i), "Lorem ipsum dolor sit amet, consectetur adipiscing",
                  fill=(0, 0, 0))
    grid = np.full((700, 1400, 3), 255, np.uint8)
    for k in range(200):
        x = 7 * k
        grid[:, x:x + 1, 1:] = 150 if k % 5 == 0 else 210
        grid[x:x + 1, :, 1:] = 150 if k % 5 == 0 else 210
    return {
        "blank": np.full((600, 800, 3), 250, np.uint8),
        "noise": rng.integers(0, 256, size=(600, 800, 3), dtype=np.uint8),
        "checkerboard": np.repeat(((xx // 20 + yy // 20) % 2 * 200 + 30)
                                  .astype(np.uint8)[..., None], 3, axis=2),
        "text": np.asarray(text),
        "empty_grid": grid,
    }


@pytest.mark.parametrize("name", sorted(_non_ecg_pictures()))
@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_read_ecg_refuses_non_ecg_picture_with_reason(tmp_path, name, suffix):
    path = tmp_path / f"{name}{suffix}"
    Image.fromarray(_non_ecg_pictures()[name]).save(path)
    with pytest.raises(EcgReadError) as err:
        read_ecg(path)
    exc = err.value
    assert exc.format == "photo"
    assert exc.expected == "a photo or scan of a printed 12-lead ECG"
    assert exc.found and exc.hint
    assert "\n" not in str(exc)


def test_read_ecg_refuses_picture_suffix_with_other_content(tmp_path):
    path = tmp_path / "scan.png"
    path.write_bytes(bytes(range(256)) * 4)  # no reader's content: the suffix decides
    with pytest.raises(EcgReadError, match="undecodable picture") as err:
        read_ecg(path)
    assert "save the picture again" in err.value.hint
