"""Excel (.xlsx) text, sheet by sheet and row by row, labelled "Sheet1 row 12".

openpyxl's read-only mode streams each sheet's XML row by row, so memory stays bounded. Two
things in real spreadsheets would still make that slow: the `<dimension>` a sheet declares
(often A1:XFD1048576 after a whole column was formatted) pads every row to 16,384 columns and
the sheet to a million rows, so it is ignored and each row is as wide as its last cell; and a
million formatted but empty rows after the data still take seconds each hundred thousand to
parse, so a sheet stops after a long run of empty rows, with a warning saying where.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from ragindex.archives import open_zip
from ragindex.sections import Deadline, LabelledText, ReadResult, parsing

# a run of empty rows this long ends a sheet's data: far longer than any blank gap a person
# leaves between tables, and about 0.2 s of parsing
MAX_EMPTY_RUN = 10_000
# cells joined on one line; a row's own width is bounded by Excel's 16,384 columns
_CELL_SEPARATOR = " | "


def xlsx_text(data: bytes, *, timeout_s: float, max_unpacked_bytes: int) -> ReadResult:
    """Every sheet's non-empty rows, each labelled with its sheet and row number."""
    open_zip(data, what="Excel workbook", max_unpacked_bytes=max_unpacked_bytes)
    deadline = Deadline(timeout_s)
    rows = LabelledText()
    warnings: list[str] = []
    with parsing("Excel workbook"):
        from openpyxl import load_workbook

        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            for sheet in workbook.worksheets:
                stopped_at = _read_sheet(sheet, rows, deadline)
                if stopped_at is not None:
                    warnings.append(
                        f"sheet {sheet.title!r} read up to row {stopped_at:,}: "
                        f"{MAX_EMPTY_RUN:,} empty rows followed"
                    )
        finally:
            workbook.close()
    return rows.result(tuple(warnings))


def _read_sheet(sheet: Any, rows: LabelledText, deadline: Deadline) -> int | None:
    """Adds the sheet's rows; returns the last row read when a long empty run cut it short."""
    sheet.reset_dimensions()  # the declared size is not trusted: see the module's docstring
    empty_run = 0
    number = 0
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number % 1000 == 0:
            deadline.check("Excel workbook")
        cells = [_cell_text(value) for value in values]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            empty_run += 1
            if empty_run >= MAX_EMPTY_RUN:
                return number
            continue
        empty_run = 0
        rows.add(f"{sheet.title} row {number}", _CELL_SEPARATOR.join(cells))
    return None


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime) and value.time() == dt.time(0):
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())
