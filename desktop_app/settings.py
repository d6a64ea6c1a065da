"""The one settings schema: every user-adjustable value, its default and what it means.

Loaded from ``settings.json`` in the user config folder, then overridden by environment
variables ``ECGFINDER_<FIELD>`` (upper case), saved atomically. No other module reads
environment variables or config files. Free of Qt: the CLI and tests use it too.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "ECGCaseFinder"
ENV_PREFIX = "ECGFINDER_"
# Bump when a field is renamed or its meaning changes, and add a migration below.
SCHEMA_VERSION = 1

LAYOUTS = ("3x4", "6x2", "12x1")


def _f(default: Any, description: str, **choices: Any) -> Any:
    return field(default=default, metadata={"description": description, **choices})


@dataclass(frozen=True)
class Settings:
    """User settings. Each field's metadata holds a one-line description."""

    schema_version: int = _f(SCHEMA_VERSION, "version of this schema, for migrations")
    top_k: int = _f(10, "number of similar cases to show (1-50)")
    layout: str = _f("3x4", "default page layout of the ECG", choices=LAYOUTS)
    paper_speed_mm_s: float = _f(25.0, "paper speed in mm/s (25 is the clinical standard)",
                                 choices=(25.0, 50.0))
    gain_mm_mv: float = _f(10.0, "gain in mm/mV (10 is the clinical standard)",
                           choices=(5.0, 10.0, 20.0))
    theme: str = _f("light", "colour theme of the window", choices=("light", "dark"))
    recent_files: tuple[str, ...] = _f((), "recently opened files, newest first")
    max_recent_files: int = _f(10, "how many recent files to remember")

    def __post_init__(self) -> None:
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices is not None and getattr(self, f.name) not in choices:
                raise ValueError(
                    f"setting {f.name}={getattr(self, f.name)!r}: expected one of {choices}"
                )
        if not 1 <= self.top_k <= 50:
            raise ValueError(f"setting top_k={self.top_k}: expected 1-50")

    def describe(self) -> dict[str, str]:
        return {f.name: f.metadata["description"] for f in fields(self)}


# Ordered migrations: MIGRATIONS[v] turns a version-v dict into a version-(v+1) dict.
MIGRATIONS: dict[int, Any] = {}


def config_dir() -> Path:
    """Folder of ``settings.json`` (``ECGFINDER_CONFIG_DIR`` overrides it)."""
    env = os.environ.get(ENV_PREFIX + "CONFIG_DIR")
    return Path(env) if env else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Folder of the clinic's own cases (``ECGFINDER_DATA_DIR`` overrides it)."""
    env = os.environ.get(ENV_PREFIX + "DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _coerce(f, raw: Any) -> Any:
    default = f.default if f.default is not MISSING else None
    if isinstance(default, tuple):
        return tuple(raw) if isinstance(raw, (list, tuple)) else tuple(str(raw).split(os.pathsep))
    if isinstance(default, bool):
        return str(raw).lower() in ("1", "true", "yes") if isinstance(raw, str) else bool(raw)
    return type(default)(raw) if default is not None else raw


def load_settings(path: Path | None = None) -> Settings:
    """Settings from the JSON file (if any), migrated, then overridden by the environment.

    A damaged or invalid file is logged and replaced by defaults rather than stopping the app.
    """
    path = path or config_dir() / "settings.json"
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            version = int(data.get("schema_version", 1))
            while version < SCHEMA_VERSION:
                data = MIGRATIONS[version](data)
                version += 1
        except (OSError, ValueError, KeyError) as exc:
            log.warning("settings file %s unreadable (%s); using defaults", path, exc)
            data = {}
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for name, raw in data.items():
        if name not in known:
            log.warning("unknown setting %r in %s ignored", name, path)
            continue
        values[name] = _coerce(known[name], raw)
    for name, f in known.items():
        env = os.environ.get(ENV_PREFIX + name.upper())
        if env is not None:
            values[name] = _coerce(f, env)
    values["schema_version"] = SCHEMA_VERSION
    try:
        return Settings(**values)
    except (TypeError, ValueError) as exc:
        log.warning("invalid settings (%s); using defaults", exc)
        return Settings()


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings atomically (temporary file, then rename) so a crash never half-writes."""
    path = path or config_dir() / "settings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(asdict(settings), indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def with_recent_file(settings: Settings, file: str | Path) -> Settings:
    """Settings with ``file`` first in the recent-files list."""
    name = str(Path(file).resolve())
    recent = [name] + [r for r in settings.recent_files if r != name]
    return replace(settings, recent_files=tuple(recent[: settings.max_recent_files]))
