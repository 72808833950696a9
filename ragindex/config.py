"""`Settings`: every knob of ragindex, from `RAGINDEX_*` environment variables or `ragindex.toml`.

One object is built at the edge (CLI, UI, `Index.open`) and passed down; no module reads the
environment on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragindex.errors import ConfigError

DEFAULT_QUERY_TASK = "Given a web search query, retrieve relevant passages that answer the query"
DEFAULT_CODE_QUERY_TASK = (
    "Given a question about code, retrieve the source code or documentation that answers it"
)


class Settings(BaseSettings):
    """Settings of one index. Each field is also the environment variable `RAGINDEX_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="RAGINDEX_",
        toml_file="ragindex.toml",
        extra="forbid",
        frozen=True,
    )

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
    exclude: list[str] = Field(default_factory=list, description="gitignore-style globs")
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

    # --- the search page ---
    ui_ingest_roots: list[Path] = Field(
        default_factory=list,
        description="folders the page may index (and their subfolders); empty = no ingest panel",
    )

    @field_validator("exclude", "ui_ingest_roots", mode="before")
    @classmethod
    def _split_globs(cls, value: Any) -> Any:
        # an environment variable holds one comma-separated string rather than a JSON list
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
        # explicit arguments beat the environment, which beats ragindex.toml
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def embed_urls(self) -> list[str]:
        return [url.strip().rstrip("/") for url in (self.embed_url or "").split(",") if url.strip()]

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, turning pydantic's validation errors into a `ConfigError`."""
        try:
            return cls(**{key: value for key, value in overrides.items() if value is not None})
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'settings'}: {item['msg']}"
                for item in error.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None
