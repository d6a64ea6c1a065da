"""Settings: declared once, environment overrides, atomic saves, damaged files survived."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from desktop_app.settings import (
    Settings, config_dir, load_settings, save_settings, with_recent_file,
)


def test_settings_defaults_are_clinical_standard():
    s = Settings()
    assert (s.paper_speed_mm_s, s.gain_mm_mv, s.layout, s.top_k) == (25.0, 10.0, "3x4", 10)


def test_settings_every_field_is_described():
    assert all(text for text in Settings().describe().values())


def test_settings_round_trip(tmp_path):
    path = tmp_path / "settings.json"
    s = replace(Settings(), top_k=5, layout="6x2")
    save_settings(s, path)
    assert load_settings(path) == s
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".settings-")]


def test_settings_env_overrides_file(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    save_settings(replace(Settings(), top_k=5), path)
    monkeypatch.setenv("ECGFINDER_TOP_K", "7")
    assert load_settings(path).top_k == 7


def test_settings_damaged_file_gives_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("{not json", encoding="utf-8")
    assert load_settings(path) == Settings()


def test_settings_invalid_value_gives_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"layout": "5x5"}), encoding="utf-8")
    assert load_settings(path) == Settings()


def test_settings_rejects_bad_choice():
    with pytest.raises(ValueError, match="layout"):
        Settings(layout="5x5")


def test_settings_recent_files_newest_first_and_bounded(tmp_path):
    s = replace(Settings(), max_recent_files=2)
    for name in ("a.hea", "b.hea", "a.hea", "c.hea"):
        s = with_recent_file(s, tmp_path / name)
    assert [p.rsplit("/", 1)[-1] for p in s.recent_files] == ["c.hea", "a.hea"]


def test_settings_config_dir_redirected_in_tests(tmp_path_factory):
    # The autouse fixture keeps tests away from the real user's settings.
    assert "userdirs" in str(config_dir())
