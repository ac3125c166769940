"""CSV exports that open correctly in spreadsheets: UTF-8 with a BOM (Chinese in Excel) and no formula injection."""

import csv
import io
from collections.abc import Iterable, Sequence

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
