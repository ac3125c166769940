"""Exports that open correctly in spreadsheets: CSV in UTF-8 with a BOM (Chinese in Excel), XLSX for teams that
would rather not think about encodings; neither lets a cell run as a formula."""

import csv
import io
from collections.abc import Iterable, Sequence

from openpyxl import Workbook

# A cell starting with one of these would be run as a formula by Excel or WPS; a leading quote keeps it text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def spreadsheet_csv(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return "\ufeff" + buffer.getvalue()


def spreadsheet_xlsx(header: Sequence[str], rows: Iterable[Sequence], sheet: str = "data") -> bytes:
    """An XLSX workbook of one sheet; numbers stay numbers, text is written as text (never a formula)."""
    book = Workbook(write_only=True)
    page = book.create_sheet(sheet)
    page.append(list(header))
    for row in rows:
        page.append(
            [
                value if isinstance(value, int | float) and not isinstance(value, bool) else safe_cell(value)
                for value in row
            ]
        )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
