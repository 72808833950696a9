"""docker-compose.yml, checked without a Docker engine (none runs on these machines): the
compose-spec JSON schema, then what a schema cannot see: wiring, profiles, settings names."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml
from conftest import REPO

from ragindex import Settings

COMPOSE = REPO / "docker-compose.yml"


def compose() -> dict:  # type: ignore[type-arg]
    loaded: dict = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))  # type: ignore[type-arg]
    return loaded


def test_compose_file_matches_the_compose_spec_schema() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dependency_names_a_service() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_both_layouts_answer_as_qdrant_and_sglang() -> None:
    services = compose()["services"]

    def names_in(profile: str) -> set[str]:
        found = set()
        for name, service in services.items():
            if profile in service.get("profiles", []):
                found.add(name)
                aliases = service.get("networks", {}).get("default", {}) or {}
                found.update(aliases.get("aliases", []))
        return found

    assert {"qdrant", "sglang"} <= names_in("single")
    assert {"qdrant", "sglang"} <= names_in("cluster")
    cluster_nodes = [name for name in services if name.startswith("qdrant-node-")]
    assert len(cluster_nodes) == 3
    for name in cluster_nodes:
        assert services[name]["environment"]["QDRANT__CLUSTER__ENABLED"] == "true"
    replicas = [name for name in services if name.startswith("sglang-replica-")]
    assert len(replicas) >= 2
    router = " ".join(services["sglang-router"]["command"].split())
    assert all(f"http://{replica}:30000" in router for replica in replicas)


def test_sglang_serves_embeddings_with_matryoshka_dimensions() -> None:
    command = " ".join(compose()["services"]["sglang"]["command"].split())
    assert "--is-embedding" in command and '"is_matryoshka": true' in command
    assert "Qwen/Qwen3-Embedding-4B" in command


def test_ragindex_settings_in_the_compose_file_exist() -> None:
    environment = compose()["services"]["ui"]["environment"]
    for variable in environment:
        assert variable.startswith("RAGINDEX_")
        assert variable.removeprefix("RAGINDEX_").lower() in Settings.model_fields, variable
    # the page shares the ingest job's settings, and may index only the folder that job reads
    page_only = {"RAGINDEX_UI_INGEST_ROOTS": "/documents"}
    assert compose()["services"]["ingest"]["environment"] | page_only == environment
    assert "${DOCUMENTS:-./corpora}:/documents:ro" in compose()["services"]["ui"]["volumes"]


def test_required_variables_have_an_example() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = (REPO / ".env.example").read_text(encoding="utf-8")
    for variable in required:
        assert re.search(rf"^{variable}=", example, re.M), f"{variable} missing in .env.example"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_dockerfile_copies_what_exists() -> None:
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    for source in re.findall(r"^COPY ([^\n]+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"Dockerfile copies missing {path}"
