"""The main language of a text, with py3langid's packaged model.

The model ships LZMA-compressed; unpacking it costs ~0.7 s of CPU, on the critical path of
every ingest (no request can go to the embedding server before the first document is read).
The unpacked, two-letter-code model is therefore kept in the user's cache folder
(`$XDG_CACHE_HOME/ragindex`, else `~/.cache/ragindex`) as plain NumPy arrays, which load in
~0.1 s. The cache is only ever an accelerator: if it cannot be read or written,
the packaged model is used as before.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from array import array
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from ragindex.preload import loaded

_SAMPLE_CHARS = 4000
_ARRAYS = ("nb_ptc", "nb_pc", "tk_nextmove", "tk_row", "tk_output")
_log = logging.getLogger(__name__)


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's main language; "" for text without letters."""
    sample = text[:_SAMPLE_CHARS]
    if not any(char.isalpha() for char in sample):
        return ""
    language, _score = loaded(language_identifier).classify(sample)
    return str(language)


def language_identifier() -> Any:
    """The identifier, from the cache when it holds it (use `ragindex.preload.loaded` on this
    function, not a direct call, so that a process loads it once)."""
    folder = _cache_folder()
    if folder.exists():
        try:
            return _from_cache(folder)
        except (OSError, ValueError, EOFError) as error:
            _log.warning("language model cache %s unreadable (%s): rebuilding it", folder, error)
            shutil.rmtree(folder, ignore_errors=True)
    identifier = _from_package()
    try:
        _to_cache(identifier, folder)
    except OSError as error:
        _log.debug("language model not cached in %s: %s", folder, error)
    return identifier


def _from_package() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    # two-letter ISO 639-1 codes only: users filter on "zh", and a label like "yue" or "wuu"
    # for a short Chinese text would hide it from them
    identifier.set_languages(sorted({code for code in identifier.nb_classes if len(code) == 2}))
    return identifier


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ragindex" / f"py3langid-{version('py3langid')}-iso639-1"


def _from_cache(folder: Path) -> Any:
    from py3langid.langid import LanguageIdentifier

    classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
    nextmove, row = arrays["tk_nextmove"], arrays["tk_row"]
    return LanguageIdentifier(
        arrays["nb_ptc"],
        arrays["nb_pc"],
        classes,
        # the identifier walks these from Python, a byte at a time: stdlib arrays, as it
        # builds them itself, index faster than NumPy's
        array(nextmove.dtype.char, nextmove.tobytes()),
        arrays["tk_output"].tolist(),
        tk_row=array(row.dtype.char, row.tobytes()),
    )


def _to_cache(identifier: Any, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    # written aside, then renamed into place: a reader never sees half a cache
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder.parent))
    try:
        (staging / "classes.json").write_text(json.dumps(identifier.nb_classes), encoding="utf-8")
        for name in _ARRAYS:
            np.save(staging / f"{name}.npy", np.asarray(getattr(identifier, name)))
        staging.rename(folder)
    except OSError:
        if not folder.exists():
            raise
        # another process cached it first: theirs is as good
    finally:
        shutil.rmtree(staging, ignore_errors=True)
