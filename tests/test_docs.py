"""The README stays true: its Python example runs, and every CLI command is documented."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import typer
from conftest import REPO, SAMPLE_CORPUS

from ragindex.cli import app

README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_python_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(SAMPLE_CORPUS, tmp_path / "corpora")  # the example ingests ./corpora
    example = re.search(r"## The Python API\n\n```python\n(.*?)```", README, re.S)
    assert example is not None
    exec(compile(example.group(1), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "prose/zh/猫.txt" in printed
    assert re.search(r"^\d+ indexed, 0 unchanged, \{\}$", printed, re.M)


def test_every_cli_command_is_documented() -> None:
    commands = [command.name or command.callback.__name__ for command in app.registered_commands]  # type: ignore[union-attr]
    assert commands
    for name in commands:
        assert f"ragindex {name}" in README, f"`ragindex {name}` is missing from the README"


def test_every_cli_option_is_documented() -> None:
    group = typer.main.get_command(app)
    options = {
        option
        for command in [group, *getattr(group, "commands", {}).values()]
        for parameter in command.params
        for option in parameter.opts
        if option.startswith("--") and option != "--help"
    }
    assert {"--config", "--home", "--collection", "--prune", "--mode", "--kind"} <= options
    for option in sorted(options):
        assert re.search(rf"{option}\b", README), f"`{option}` is missing from the README"


def test_the_readme_sends_no_one_to_a_settings_file_in_the_current_folder() -> None:
    # settings are never read from the current folder: a checkout could redirect documents and
    # keys to a server of its choosing
    assert "ragindex.toml" not in README
    assert "~/.config/ragindex/config.toml" in README and "RAGINDEX_CONFIG" in README


def test_every_setting_in_the_readme_exists() -> None:
    from ragindex import Settings

    # RAGINDEX_TEST_*, RAGINDEX_REQUIRE_* and RAGINDEX_UPDATE_* steer the tests, not ragindex;
    # RAGINDEX_CONFIG names the settings file rather than being a setting
    steering = ("TEST_", "REQUIRE_", "UPDATE_")
    for variable in set(re.findall(r"RAGINDEX_([A-Z_]+)", README)):
        if variable.startswith(steering) or variable == "CONFIG":
            continue
        assert variable.lower() in Settings.model_fields, f"RAGINDEX_{variable} is not a setting"
