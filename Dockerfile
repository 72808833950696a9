# The ragindex image: the CLI, the Python API and the Streamlit page.
#   docker build -t ragindex .
#   docker run --rm -p 8501:8501 -e RAGINDEX_QDRANT_URL=http://qdrant:6333 ragindex
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RAGINDEX_HOME=/data/ragindex

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ragindex ./ragindex
COPY ui ./ui
RUN pip install . && useradd --create-home --uid 10001 ragindex && mkdir -p /data \
    && chown ragindex /data
USER ragindex

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["streamlit", "run", "ui/app.py", "--server.address=0.0.0.0", "--server.port=8501", \
     "--server.headless=true", "--browser.gatherUsageStats=false"]
