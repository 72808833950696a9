"""Load application settings from a JSON config file, with defaults and validation."""

import json
from pathlib import Path

DEFAULTS = {"host": "127.0.0.1", "port": 8080, "debug": False}


def load_config(path: str | Path) -> dict:
    """Read a JSON config file and merge it over the defaults."""
    with open(path, encoding="utf-8") as handle:
        user_settings = json.load(handle)
    if not isinstance(user_settings, dict):
        raise ValueError(f"{path}: the top level of a config file must be an object")
    return {**DEFAULTS, **user_settings}


def save_config(path: str | Path, settings: dict) -> None:
    Path(path).write_text(json.dumps(settings, indent=2), encoding="utf-8")
