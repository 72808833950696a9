"""Jupyter notebook (.ipynb) text cell by cell, labelled "cell 7" (the cell's position in the
notebook, counting every cell, as Jupyter's own cell counter in the status bar does).

nbformat reads the JSON and upgrades older notebook versions to version 4. A cell gives its
source, and a code cell also its text outputs (printed lines, a result's plain-text form, an
error's name and message), cut short: an output can be a whole data dump. Images and HTML
outputs are left out.
"""

from __future__ import annotations

from typing import Any

from ragindex.sections import Deadline, LabelledText, ReadResult, parsing

# characters of output kept per cell: enough for a result or an error, not a data dump
MAX_OUTPUT_CHARS = 2_000


def ipynb_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """Every non-empty cell's text, labelled with its number. `max_unpacked_bytes` is unused:
    a notebook is plain JSON, bounded by the file size limit."""
    del max_unpacked_bytes
    deadline = Deadline(timeout_s)
    cells = LabelledText()
    with parsing("Jupyter notebook"):
        import nbformat

        notebook = nbformat.reads(  # type: ignore[no-untyped-call]
            data.decode("utf-8-sig"), as_version=4
        )
        for number, cell in enumerate(notebook.get("cells", []), start=1):
            if number % 100 == 0:
                deadline.check("Jupyter notebook")
            parts = [_joined(cell.get("source", ""))]
            if cell.get("cell_type") == "code":
                output = "\n".join(_output_text(out) for out in cell.get("outputs", []))
                parts.append(output.strip()[:MAX_OUTPUT_CHARS])
            cells.add(f"cell {number}", "\n\n".join(part for part in parts if part.strip()))
    return cells.result()


def _output_text(output: Any) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        return _joined(output.get("text", ""))
    if kind in ("execute_result", "display_data"):
        return _joined(output.get("data", {}).get("text/plain", ""))
    if kind == "error":
        return f"{output.get('ename', '')}: {output.get('evalue', '')}"
    return ""


def _joined(value: Any) -> str:
    """nbformat keeps multi-line strings as lists of lines in some files."""
    return "".join(value) if isinstance(value, list) else str(value)
