"""Asset manifest: publish writes it; verification names a damaged or missing file."""

from __future__ import annotations

import json
import shutil

import pytest

from desktop_app import assets as A
from desktop_app.errors import AssetError


@pytest.fixture()
def assets_copy(mechanics_assets, tmp_path):
    root = tmp_path / "assets"
    shutil.copytree(mechanics_assets.assets_root, root)
    return root


def test_assets_manifest_lists_every_file_with_size_and_sha(mechanics_assets):
    root = mechanics_assets.assets_root
    manifest = A.verify_assets(root)
    assert set(manifest["files"]) == {A.LIBRARY_INDEX, A.LIBRARY_STORE}
    for name, entry in manifest["files"].items():
        assert entry["bytes"] == (root / name).stat().st_size
        assert entry["sha256"] == A.sha256_file(root / name)
    assert manifest["library"]["encoder_version"] == mechanics_assets.embedder.version
    assert manifest["total_bytes"] == sum(e["bytes"] for e in manifest["files"].values())


@pytest.mark.parametrize("name", [A.LIBRARY_STORE, A.LIBRARY_INDEX])
def test_assets_flipped_byte_names_file(assets_copy, name):
    path = assets_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(AssetError, match=path.name) as info:
        A.verify_assets(assets_copy)
    assert info.value.path == path and "SHA-256" in info.value.problem
    A.verify_assets(assets_copy, check_hashes=False)  # same size: only the hash sees it


def test_assets_missing_file_names_it(assets_copy):
    (assets_copy / A.LIBRARY_INDEX).unlink()
    with pytest.raises(AssetError, match="index.hnsw: the file is missing"):
        A.verify_assets(assets_copy, check_hashes=False)


def test_assets_truncated_file_names_it(assets_copy):
    path = assets_copy / A.LIBRARY_STORE
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(AssetError, match="cases.sqlite: it has"):
        A.verify_assets(assets_copy, check_hashes=False)


def test_assets_manifest_missing_or_damaged(assets_copy):
    manifest = assets_copy / A.MANIFEST
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])
    with pytest.raises(AssetError, match="manifest.json: the asset manifest is damaged"):
        A.verify_assets(assets_copy)
    manifest.unlink()
    with pytest.raises(AssetError, match="manifest is missing"):
        A.verify_assets(assets_copy)


def test_assets_required_file_not_listed(assets_copy):
    with pytest.raises(AssetError, match="image_encoder.onnx: the asset manifest does not"):
        A.verify_assets(assets_copy, required=A.SEARCH_ASSETS)


def test_assets_manifest_path_outside_root_refused(assets_copy):
    path = assets_copy / A.MANIFEST
    doc = json.loads(path.read_text())
    doc["files"]["../outside.bin"] = {"bytes": 1, "sha256": "0" * 64}
    path.write_text(json.dumps(doc))
    with pytest.raises(AssetError, match="inside the assets folder"):
        A.verify_assets(assets_copy)
