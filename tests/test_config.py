"""Where settings come from: arguments, then RAGINDEX_* variables, then one settings file in the
user's config folder (or named by --config / RAGINDEX_CONFIG) — never the current folder. A URL
from the file is never sent a key from elsewhere."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragindex import ConfigError, Settings
from ragindex.cli import app

KEY = "sk-do-not-show-me-1234"
PAIRS = pytest.mark.parametrize(
    ("url", "key"), [("embed_url", "embed_api_key"), ("qdrant_url", "qdrant_api_key")]
)


def write_settings(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def user_file() -> Path:
    """The user's own settings file: $XDG_CONFIG_HOME/ragindex/config.toml (set by conftest)."""
    return Path(os.environ["XDG_CONFIG_HOME"]) / "ragindex" / "config.toml"


def test_a_settings_file_in_the_current_folder_is_ignored(tmp_path: Path) -> None:
    # a checkout someone else wrote, which the user merely works in
    write_settings(tmp_path / "ragindex.toml", 'embed_url = "http://attacker.example"\n')
    write_settings(tmp_path / "config.toml", 'embed_url = "http://attacker.example"\n')
    write_settings(tmp_path / "ragindex" / "config.toml", 'embed_url = "http://attacker.example"\n')
    write_settings(tmp_path / ".env", "RAGINDEX_EMBED_URL=http://attacker.example\n")
    assert Path.cwd() == tmp_path
    settings = Settings.load()
    assert settings.embed_url is None and settings.files_read == ()
    assert Settings().embed_url is None


def test_the_users_config_folder_is_read(user_file: Path) -> None:
    write_settings(user_file, 'chunk_tokens = 300\nexclude = ["*.log"]\n')
    settings = Settings.load()
    assert settings.chunk_tokens == 300 and settings.exclude == ["*.log"]
    assert settings.files_read == (user_file,)


def test_without_xdg_config_home_the_file_is_under_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    path = write_settings(tmp_path / "me" / ".config" / "ragindex" / "config.toml", "dim = 256\n")
    settings = Settings.load()
    assert settings.dim == 256 and settings.files_read == (path,)


def test_a_relative_xdg_config_home_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the XDG spec says to ignore a relative value; taken as is it would mean the current folder
    monkeypatch.setenv("XDG_CONFIG_HOME", ".")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    write_settings(tmp_path / "ragindex" / "config.toml", 'embed_url = "http://attacker.example"\n')
    settings = Settings.load()
    assert settings.embed_url is None and settings.files_read == ()


def test_ragindex_config_names_the_file_and_config_beats_it(
    tmp_path: Path, user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settings(user_file, 'collection = "default_file"\n')
    named = write_settings(tmp_path / "team.toml", 'collection = "team"\n')
    given = write_settings(tmp_path / "given.toml", 'collection = "given"\n')
    assert Settings.load().collection == "default_file"
    monkeypatch.setenv("RAGINDEX_CONFIG", str(named))
    assert Settings.load().collection == "team"
    assert Settings.load().files_read == (named,)  # one file only: the default is not merged in
    assert Settings.load(given).collection == "given"
    assert Settings.load(config=given).files_read == (given,)


def test_arguments_beat_the_environment_which_beats_the_file(
    user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settings(user_file, 'chunk_tokens = 100\ncollection = "file"\nchunk_overlap = 10\n')
    monkeypatch.setenv("RAGINDEX_CHUNK_TOKENS", "200")
    monkeypatch.setenv("RAGINDEX_COLLECTION", "env")
    settings = Settings.load(chunk_tokens=300)
    assert (settings.chunk_tokens, settings.collection, settings.chunk_overlap) == (300, "env", 10)
    assert Settings(chunk_tokens=300).chunk_tokens == 300
    # a None override means "not given", so the lower sources still speak
    assert Settings.load(chunk_tokens=None).chunk_tokens == 200


def test_exclude_from_the_environment_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGINDEX_EXCLUDE", "*.log, build/")
    assert Settings.load().exclude == ["*.log", "build/"]


@PAIRS
def test_a_url_from_the_file_never_gets_a_key_from_the_environment(
    user_file: Path, monkeypatch: pytest.MonkeyPatch, url: str, key: str
) -> None:
    write_settings(user_file, f'{url} = "http://attacker.example:8000"\n')
    monkeypatch.setenv(f"RAGINDEX_{key.upper()}", KEY)
    with pytest.raises(ConfigError) as refused:
        Settings.load()
    message = str(refused.value)
    assert str(user_file) in message and url in message and key in message
    assert f"RAGINDEX_{url.upper()}" in message  # how to fix it
    assert KEY not in message
    # nor from the arguments: only the file that chose the URL may give it a key
    monkeypatch.delenv(f"RAGINDEX_{key.upper()}")
    with pytest.raises(ConfigError):
        Settings.load(**{key: KEY})


@PAIRS
def test_a_url_and_key_from_the_same_source_are_accepted(
    user_file: Path, monkeypatch: pytest.MonkeyPatch, url: str, key: str
) -> None:
    write_settings(user_file, f'{url} = "http://mine.example:8000"\n{key} = "{KEY}"\n')
    from_file = Settings.load()
    assert getattr(from_file, url) == "http://mine.example:8000"
    assert getattr(from_file, key).get_secret_value() == KEY
    # the environment names both: the file's URL is overridden and never receives the key
    monkeypatch.setenv(f"RAGINDEX_{url.upper()}", "http://env.example:8000")
    monkeypatch.setenv(f"RAGINDEX_{key.upper()}", "sk-env")
    from_env = Settings.load()
    assert getattr(from_env, url) == "http://env.example:8000"
    assert getattr(from_env, key).get_secret_value() == "sk-env"
    # a URL from the environment may take the key from the user's own file
    monkeypatch.delenv(f"RAGINDEX_{key.upper()}")
    assert getattr(Settings.load(), key).get_secret_value() == KEY


def test_a_url_from_the_file_without_a_key_is_fine(user_file: Path) -> None:
    write_settings(user_file, 'embed_url = "http://gpu.internal:30000/v1"\n')
    assert Settings.load().embed_urls == ["http://gpu.internal:30000/v1"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"chunk_tokens": 3}, "chunk_tokens: Input should be greater than or equal to 16"),
        ({"collection": "no spaces allowed"}, "collection: String should match pattern"),
        ({"shards": "many"}, "shards: Input should be a valid integer"),
        ({"colection": "typo"}, "colection: not a setting"),
    ],
)
def test_bad_values_raise_config_error(values: dict[str, object], expected: str) -> None:
    for build in (Settings, Settings.load):
        with pytest.raises(ConfigError) as refused:
            build(**values)
        assert str(refused.value).startswith("invalid settings: ")
        assert expected in str(refused.value)
        assert isinstance(refused.value, ValueError)


def test_bad_values_say_where_they_came_from(
    user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_settings(user_file, "chunk_overlap = -1\nchunk_size = 300\n")
    with pytest.raises(ConfigError) as from_file:
        Settings.load()
    where = f"(from the settings file {user_file})"
    assert f"chunk_overlap: Input should be greater than or equal to 0 {where}" in str(
        from_file.value
    )
    assert f"chunk_size: not a setting {where}" in str(from_file.value)
    user_file.unlink()
    monkeypatch.setenv("RAGINDEX_DIM", "wide")
    with pytest.raises(ConfigError, match=r"dim: .* \(from the environment \(RAGINDEX_DIM\)\)"):
        Settings.load()


def test_a_broken_or_missing_named_file_is_a_config_error(
    tmp_path: Path, user_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = write_settings(tmp_path / "broken.toml", "chunk_tokens = = 3\n")
    with pytest.raises(ConfigError, match=re.escape(f"settings file {broken} is not valid TOML")):
        Settings.load(broken)
    missing = re.escape(f"settings file {tmp_path / 'nope.toml'} does not exist")
    with pytest.raises(ConfigError, match=missing):
        Settings.load(tmp_path / "nope.toml")
    monkeypatch.setenv("RAGINDEX_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"gone\.toml \(named by RAGINDEX_CONFIG\) does not"):
        Settings.load()
    with pytest.raises(ConfigError, match="cannot be read"):
        Settings.load(tmp_path)  # a folder
    # the default file is optional: none at all is the usual case
    monkeypatch.delenv("RAGINDEX_CONFIG")
    assert not user_file.exists() and Settings.load().files_read == ()


def test_a_missing_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    for arguments in (
        ["--config", str(tmp_path / "nope.toml"), "stats"],
        ["stats", "--config", str(tmp_path / "nope.toml")],
        ["search", "cats", "--config", str(tmp_path / "nope.toml")],
    ):
        result = runner.invoke(app, arguments)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: settings file {tmp_path / 'nope.toml'} does not exist\n"
        assert result.stdout == ""


def test_the_cli_reads_the_file_given_with_config(tmp_path: Path) -> None:
    given = write_settings(tmp_path / "given.toml", f'home = "{tmp_path / "given-home"}"\n')
    result = CliRunner().invoke(app, ["--config", str(given), "stats", "--json"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "given-home") in result.stdout
    assert str(given) in result.stdout
