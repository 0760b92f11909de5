"""Reading a CSV of numeric feature columns and one label column, at numpy's speed.

numpy's C reader (`np.loadtxt`) parses the numbers and hands each label to a small Python callable
that numbers the distinct labels. Anything that reader cannot take exactly as the csv module would
(quotes beyond a plainly quoted label, a bad or missing value, a ragged row, non-finite numbers, text
that is not UTF-8) sends the whole file to the careful csv-module reader instead, whose messages name
the row and column; on files both accept the two give the same arrays, bit for bit.

Torch-free, so the bench can measure it in a bare interpreter.
"""

from __future__ import annotations

import array
import csv
import io
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.csv_labels import class_names, distinct_classes
from core.csv_labels import label_codes as class_codes
from core.errors import DataError, PathError
from core.memory import read_memory
from core.paths import identity, open_read, shown

# Beyond this, reading takes minutes (about 40 MB/s on one core here) and a sample of the rows does as well.
MAX_CSV_BYTES = 16 * 2**30
# An MLP on more raw columns than this is not what the app teaches (its first layer alone would hold
# millions of weights per 30 units); wider tables want features chosen or reduced first.
MAX_CSV_COLUMNS = 100_000
# That many full-precision numbers make a line of 2.6 million characters; lines are read at most this long,
# so one line of a gigabyte (no line break anywhere) is refused from its first megabytes, not parsed whole.
MAX_LINE_CHARS = 4 * 2**20
# The network computes in float32: a value beyond its range becomes inf and the loss nan.
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# More labels than this means the label column is almost surely a measurement, not a class.
MAX_CSV_CLASSES = 1000
# Memory per number: the float64 table read here (8 bytes), then load_dataset's float64 gather and float32 copy.
BYTES_PER_VALUE = 24
# Under this estimate any machine the app runs on has the memory: the OS is not asked.
_SURELY_FITS = 64 * 2**20
# Cells that mean "no value" in the files people export from spreadsheets and pandas.
_MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
# Lines that both readers skip; any other line reaches numpy, which yields a row or fails.
_EMPTY_LINES = frozenset({"\n", "\r\n", "\r"})
_BLOCK_VALUES = 1 << 16  # numbers moved per step when the label column is cut out of the table


def read_csv(path: str | os.PathLike | None, label_column: str | None = None):
    """Read a CSV of numeric feature columns and one label column.

    Returns ``(X, y, feature_names, class_names)``: X a C-contiguous float64 array (n, f), y int64
    codes 0..k-1 into class_names. Class names are the distinct labels, sorted as numbers when every
    label is a whole number (so labels 0..k-1 keep their codes), else sorted as text.
    Row numbers in messages count the header as row 1, as a spreadsheet does.
    """
    if path is None or str(path) == "":
        raise DataError("the csv data set needs a path to a .csv file")
    name = os.fspath(path)
    where = shown(name)  # the name in messages, cut when absurdly long
    try:
        probe, size = open_read(name)
    except PathError as exc:
        raise DataError(_path_words(where, exc.reason)) from None
    with probe:
        before = identity(os.fstat(probe.fileno()))
        if size > MAX_CSV_BYTES:
            raise DataError(f"{where} is {_size(size)}; CSV files over {_size(MAX_CSV_BYTES)} are refused: use a sample of its rows")
        try:
            # The whole first line (bounded) and what follows it: the estimate below needs both.
            sample = probe.readline(MAX_LINE_CHARS + 1)
            if b"\x00" in sample[:8192]:  # text never holds NUL bytes; a model file or an image does
                raise DataError(f"{where} looks like a binary file, not CSV text")
            if len(sample) > MAX_LINE_CHARS and not sample.endswith(b"\n"):
                raise DataError(
                    f"{where}: its first line is over {MAX_LINE_CHARS // 2**20} MB long without a line break; the "
                    f"header is one line naming at most {MAX_CSV_COLUMNS:,} columns"
                )
            sample += probe.read(1 << 16)
            if b"\x00" in sample[:8192]:
                raise DataError(f"{where} looks like a binary file, not CSV text")
            problem = csv_memory_problem(where, size, sample)
            if problem:
                raise DataError(problem)
            with _text(name, where) as f:
                got = _read_fast(f, name, where, _read_header(f, where, label_column))
            if got is None:  # something numpy's reader does not take as the csv module would: the careful reader says what
                with _text(name, where) as f:
                    got = _read_careful(f, where, label_column)
            if identity(os.fstat(probe.fileno())) != before or identity(os.stat(name)) != before:
                raise DataError(f"{where} changed while it was being read: read it again once it is complete")  # never half a file
            return got
        except UnicodeDecodeError:
            raise DataError(f"{where} is not UTF-8 text; save it as CSV UTF-8") from None
        except OSError as exc:
            raise DataError(f"{where}: cannot read it ({exc.strerror or exc})") from None


def _path_words(where: str, reason: str) -> str:  # core.paths' reason in this reader's words
    if reason == "there is no such file":
        return f"{where}: no such file"
    if reason.startswith("it is a folder"):
        return f"{where} is a folder, not a CSV file"
    if reason.startswith("it is "):
        return f"{where} {reason[3:]}"  # "... is a named pipe (FIFO), not a regular file"
    return f"{where}: cannot read it ({reason})"


def _text(name: str, where: str, newline: str | None = ""):
    """The file as text through core.paths (a FIFO swapped in since the first look is refused, not waited on).
    utf-8-sig: spreadsheet programs often start a UTF-8 CSV with a byte-order mark. The path itself never
    reaches numpy, which would open a .gz name or a URL as such."""
    try:
        f, _ = open_read(name)
    except PathError as exc:
        raise DataError(_path_words(where, exc.reason)) from None
    return io.TextIOWrapper(f, encoding="utf-8-sig", newline=newline)


def csv_memory_problem(where: str, size: int, sample: bytes, memory=None) -> str | None:
    """Why this machine cannot hold the numbers of a CSV file of `size` bytes starting with `sample`, or None.

    The count of numbers is estimated from the separators in the sample; `memory` is a MemoryInfo
    (default: read from the OS)."""
    header_end = sample.find(b"\n") + 1
    first_line, body = sample[:header_end], sample[header_end:]
    if not header_end or not body:
        return None  # one line, or a header longer than the sample: the reader will say what is wrong
    delimiter = b"," if b"," in first_line else next((d for d in (b";", b"\t") if d in first_line), b",")
    values = int((body.count(delimiter) + body.count(b"\n")) * max(0, size - header_end) / len(body))
    need = values * BYTES_PER_VALUE
    if need < _SURELY_FITS:
        return None
    info = memory if memory is not None else read_memory()
    have = info.available if info.available is not None else info.total
    if have is None or need <= have:
        return None
    return (
        f"{where} is {_size(size)} with about {values:,} numbers; reading them and making the training data "
        f"needs about {_size(need)} of memory, but this machine has {_size(have)} free: use a sample of its "
        "rows, or close other programs"
    )


def _size(n: float) -> str:
    return f"{n / 2**30:,.1f} GB" if n >= 2**30 else f"{n / 2**20:,.0f} MB"


@dataclass(frozen=True)
class _Header:
    reader: Any  # the csv reader, just past the header row
    delimiter: str
    columns: list[str]
    label_index: int
    feature_index: list[int]
    row: int  # the header's row number: blank lines before it count


def _bounded_lines(f, where: str, before: int = 0):
    """The lines of `f` (`before` lines read already); one over MAX_LINE_CHARS is refused before it is read whole."""
    row = before
    while True:
        line = f.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        row += 1
        if len(line) > MAX_LINE_CHARS:
            raise DataError(
                f"{where}: row {row} is longer than {MAX_LINE_CHARS:,} characters: no row of a table of at most "
                f"{MAX_CSV_COLUMNS:,} numeric columns is; is a line break missing?"
            )
        yield line


def _read_header(f, where: str, label_column: str | None) -> _Header:
    first_line = f.readline(MAX_LINE_CHARS + 1)
    delimiter = ","
    if "," not in first_line:
        # A header without commas but with semicolons or tabs: a European or TSV export.
        delimiter = next((d for d in (";", "\t") if d in first_line), ",")
    f.seek(0)
    # utf-8-sig only drops the byte-order mark at the very start of decoding; seek(0) restarts it.
    reader = csv.reader(_bounded_lines(f, where), delimiter=delimiter)
    try:
        header = next((row for row in reader if row), None)
    except csv.Error as exc:
        raise DataError(f"{where}: row 1 is not valid CSV ({exc})") from None  # as before: no row counted yet
    if header is None:
        raise DataError(f"{where} is empty: it needs a header row of column names and rows of data")
    if len(header) > MAX_CSV_COLUMNS:
        raise DataError(
            f"{where}: the header has {len(header):,} columns; at most {MAX_CSV_COLUMNS:,} are allowed "
            "(choose or reduce the features first)"
        )
    columns = [name.strip() for name in header]
    _check_header(columns, where)
    if label_column is None:
        label_index = len(columns) - 1
    elif label_column.strip() in columns:
        label_index = columns.index(label_column.strip())
    else:
        raise DataError(f"{where}: there is no column {label_column!r}; the columns are {', '.join(columns)}")
    if len(columns) < 2:
        raise DataError(f"{where}: it has only the column {columns[0]!r}; it needs feature columns beside the label column")
    feature_index = [i for i in range(len(columns)) if i != label_index]
    return _Header(reader, delimiter, columns, label_index, feature_index, reader.line_num)


def _check_header(columns: list[str], where: str) -> None:
    for i, name in enumerate(columns, start=1):
        if not name:
            raise DataError(f"{where}: column {i} of the header has no name; the first row must name every column")
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise DataError(f"{where}: the header names the column {name!r} more than once; column names must differ")
        seen.add(name)
    numeric = 0
    for name in columns:
        try:
            float(name)
            numeric += 1
        except ValueError:
            pass
    if numeric == len(columns):
        raise DataError(f"{where}: the first row holds numbers ({', '.join(columns[:4])}...), not column names; add a header row")


# --- numpy's reader -------------------------------------------------------------------------------


class _NotPlain(ValueError):
    """A label the fast reader does not take: the careful reader reads the file instead."""


class _LabelCodes(dict):
    """The label column's cells, as numpy's reader meets them, to numbers in order of first sight;
    `labels[code]` is that cell's label as the csv module reads it, stripped.

    numpy calls `codes.__getitem__` on every row: a dict lookup in C, no Python frame (3% faster than a
    function); only a cell not seen before runs __missing__."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[str] = []
        self._check_at = MAX_CSV_CLASSES

    def __missing__(self, cell: str) -> int:
        value = cell
        if '"' in cell:
            # "setosa", as R and some spreadsheets write text: the csv module reads setosa. Any other
            # quote (a quoted delimiter or line break, "" inside) is the careful reader's to read.
            if len(cell) < 2 or cell[0] != '"' or cell[-1] != '"' or '"' in cell[1:-1]:
                raise _NotPlain(cell)
            value = cell[1:-1]
        label = value.strip()
        # NUL and over-long cells are errors of the csv module; missing labels name their row.
        if "\x00" in value or len(value) > csv.field_size_limit() or label.lower() in _MISSING:
            raise _NotPlain(cell)
        if len(self.labels) >= self._check_at:
            # Many spellings (" 1", "01", "1") can make one class: refuse only when the classes are too many.
            if len(distinct_classes(self.labels)) > MAX_CSV_CLASSES:
                raise _NotPlain(cell)  # the careful reader counts them all for its message
            self._check_at *= 2
        code = self[cell] = len(self.labels)
        self.labels.append(label)
        return code


def _read_fast(f, name: str, where: str, head: _Header):
    """np.loadtxt on the rows after the header; None where its result could differ from the careful reader's."""
    labels = _LabelCodes()
    try:
        lines = _bounded_lines(f, where, head.row)
        first = next((line for line in lines if line not in _EMPTY_LINES), None)
        if first is None:
            return None  # no rows of data: the careful reader says so
        with _text(name, where, newline=None) as handle:  # universal newlines, as numpy opens a path
            # numpy reads a path it opens itself in large chunks, 5-13% faster than a file object's lines.
            # The handle's own path (Linux) is the regular file checked, whatever the name points to now,
            # and never opened as an archive (a .gz name) or a URL; elsewhere numpy gets the lines.
            own = f"/proc/self/fd/{handle.fileno()}"
            source = own if os.path.exists(own) else handle
            # comments=None, quotechar=None: every character is data, as in the csv module without quotes.
            table = np.loadtxt(
                source, dtype=np.float64, delimiter=head.delimiter, comments=None, quotechar=None, ndmin=2,
                skiprows=head.row, encoding="utf-8-sig", converters={head.label_index: labels.__getitem__},
            )
    except (MemoryError, DataError):
        raise
    except Exception:  # a bad value, a ragged row, a label of _NotPlain, text that is not UTF-8, whatever else
        return None  # numpy stumbles on: the careful reader reads the file and says what is wrong, if anything
    n, k = table.shape
    if n == 0 or k != len(head.columns):
        return None
    cells = table[:, head.label_index].astype(np.intp)  # each row's label, as the number _LabelCodes gave its cell
    if not _cut_column(table, head.label_index):
        return None  # nan, inf or beyond float32: the careful reader names the row and column
    try:
        table.resize((n, k - 1))  # in place: gives the label column's memory back when nothing else holds the table
        X = table
    except ValueError:
        X = table.reshape(-1)[: n * (k - 1)].reshape(n, k - 1)
    # A cell longer than csv.field_size_limit() (128 KiB) in a feature column is left to numpy: only a
    # number with over 131,000 digits is read here that the csv module would refuse.
    y = class_codes(labels.labels, where, head.columns[head.label_index], MAX_CSV_CLASSES)[cells]
    return X, y, tuple(head.columns[i] for i in head.feature_index), class_names(labels.labels)


def _cut_column(table: np.ndarray, drop: int) -> bool:
    """Move `table`'s values, less its column `drop`, to the front of its memory, row after row; False
    (and the table spoilt) where a value left is not finite in float32."""
    n, k = table.shape
    f = k - 1
    flat = table.reshape(-1)
    step = max(1, _BLOCK_VALUES // k)
    for a in range(0, n, step):
        b = min(n, a + step)
        block = np.delete(table[a:b], drop, axis=1)
        if not (np.abs(block) <= _FLOAT32_MAX).all():  # False for nan too
            return False
        # Rows a.. are in `block` already, and rows b.. start at b*k >= b*f: nothing unread is written over.
        flat[a * f : b * f] = block.reshape(-1)
    return True


# --- the csv module's reader ------------------------------------------------------------------------


def _read_careful(f, where: str, label_column: str | None):
    """Row by row with the csv module: slower, and every message names the row (and column) at fault."""
    head = _read_header(f, where, label_column)
    reader, columns, label_index, feature_index = head.reader, head.columns, head.label_index, head.feature_index
    values = array.array("d")
    codes: dict[str, int] = {}  # each distinct label, stripped, to its number in order of first sight
    label_codes = array.array("q")
    lines = array.array("q")
    end = head.row  # the last line read so far
    try:
        for row in reader:
            # A row's number is the line it starts on: a quoted value may run over several lines.
            line, end = end + 1, reader.line_num
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines, such as a trailing one
            if len(row) != len(columns):
                raise DataError(f"{where}: row {line} has {len(row)} values but the header has {len(columns)} columns")
            try:
                values.extend([float(row[i]) for i in feature_index])
            except ValueError:
                _raise_bad_cell(row, feature_index, columns, line, where, head.delimiter)
            label = row[label_index].strip()
            if "\n" in label or "\r" in label:
                raise DataError(
                    f"{where}: row {line}, column {columns[label_index]!r}: a quoted value runs over several lines; "
                    "is a closing quote missing?"
                )
            if label.lower() in _MISSING:
                raise DataError(f"{where}: row {line}, column {columns[label_index]!r}: the label is missing ({label!r})")
            label_codes.append(codes.setdefault(label, len(codes)))
            lines.append(line)
    except csv.Error as exc:
        raise DataError(f"{where}: row {end + 1} is not valid CSV ({exc})") from None
    if not lines:
        raise DataError(f"{where} has a header (row {head.row}) but no rows of data")
    feature_names = tuple(columns[i] for i in feature_index)
    X = np.frombuffer(values, dtype=np.float64).reshape(len(lines), len(feature_index))  # in the array's memory: no copy
    bad = ~(np.abs(X) <= _FLOAT32_MAX)
    if bad.any():
        r, c = (int(v) for v in np.argwhere(bad)[0])
        column = feature_names[c]
        if np.isnan(X[r, c]):
            raise DataError(f"{where}: row {lines[r]}, column {column!r} has a missing value (nan); fill or drop that row")
        if np.isinf(X[r, c]):
            raise DataError(f"{where}: row {lines[r]}, column {column!r}: {X[r, c]} is not a finite number")
        raise DataError(
            f"{where}: row {lines[r]}, column {column!r}: {X[r, c]:g} is beyond the float32 numbers the network "
            f"computes with (at most about {_FLOAT32_MAX:.3g} in size); rescale that column"
        )
    distinct = list(codes)
    y = class_codes(distinct, where, columns[label_index], MAX_CSV_CLASSES)[np.frombuffer(label_codes, dtype=np.int64)]
    return X, y, feature_names, class_names(distinct)


def _raise_bad_cell(row: list[str], feature_index: list[int], columns: list[str], line: int, where: str, delimiter: str):
    for i in feature_index:
        cell = row[i].strip()
        if cell.lower() in _MISSING:
            shown = "empty" if not cell else f"missing ({cell!r})"
            raise DataError(f"{where}: row {line}, column {columns[i]!r} is {shown}; fill or drop that row")
        try:
            float(cell)
        except ValueError:
            hint = ""
            if delimiter != "," and "," in cell:
                hint = "; write decimals with a point (1.5), not a comma"
            raise DataError(f"{where}: row {line}, column {columns[i]!r}: {cell!r} is not a number{hint}") from None
    raise DataError(f"{where}: row {line} holds a value that is not a number")  # unreachable: float failed above
