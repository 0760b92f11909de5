"""core.csv_reader: numpy's reader gives the careful csv-module reader's arrays bit for bit, hands every file it
cannot take exactly to it (so messages still name the row and column), and refuses files too big for the machine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import csv_reader
from core.csv_reader import read_csv
from core.data import DataError
from core.data import read_csv as data_read_csv
from core.memory import MemoryInfo


def _write(tmp_path: Path, text: str | bytes, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return str(path)


_READ_CAREFUL = csv_reader._read_careful  # the careful reader, whatever careful_calls puts in its place


def _careful(path: str, label_column: str | None = None):
    """The careful csv-module reader alone: the reader before numpy's, row by row."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return _READ_CAREFUL(f, path, label_column)


def _assert_same(got, want) -> None:
    X, y, features, classes = got
    X0, y0, features0, classes0 = want
    assert X.dtype == np.float64 and X.flags.c_contiguous and X.shape == X0.shape
    assert np.array_equal(X.view(np.uint64), X0.view(np.uint64))  # bit for bit: -0.0 and the last digit too
    assert y.dtype == np.int64 and np.array_equal(y, y0)
    assert (features, classes) == (features0, classes0)


@pytest.fixture
def careful_calls(monkeypatch):
    """How many times read_csv fell back to the careful reader."""
    calls = []
    real = csv_reader._read_careful

    def counted(*args):
        calls.append(args[1])
        return real(*args)

    monkeypatch.setattr(csv_reader, "_read_careful", counted)
    return calls


# Files numpy's reader takes: the result must be the careful reader's, without calling it.
PLAIN = {
    "text labels": "length,width,species\n1.5,2,setosa\n3,4.25,virginica\n5,6,setosa\n",
    "whole-number labels sort as numbers": "a,b,label\n1,2,10\n3,4,2\n5,6,1\n7,8,2\n",
    "negative and exponent numbers": "x,y,c\n-1.5e-3,+2E+5,a\n.5,5.,b\n-0,3.4e38,a\n4.9e-324,0.1000000000000000055511151231257827,b\n"
    "123456789012345678901234567890,-2.2250738585072014e-308,a\n",
    "CRLF line ends": "x,y,c\r\n1,2,a\r\n3,4,b\r\n",
    "no newline at the end": "x,y,c\n1,2,a\n3,4,b",
    "byte-order mark": "\ufeffx,y,c\n1,2,a\n3,4,b\n",
    "semicolons": "x;y;c\n1.5;2;a\n3;4;b\n",
    "tabs": "x\ty\tc\n1.5\t2\ta\n3\t4\tb\n",
    "blank lines at the end": "x,y,c\n1,2,a\n3,4,b\n\n\n\r\n",
    "blank lines between and before": "\n\nx,y,c\n\n1,2,a\n\r\n3,4,b\n",
    "old Mac line ends": "x,y,c\r1,2,a\r3,4,b\r",
    "spaces around values": " x , y , c \n 1 , 2 , a \n\t3\t,4 ,b \n",
    "one spelling of a class with spaces": "x,y,c\n1,2,a\n3,4, a\n5,6,b \n",
    "leading zeros and signs in whole-number labels": "x,y,c\n1,2,01\n3,4,1\n5,6,+2\n7,8,-1\n",
    "decimal labels are numbers": "x,y,c\n1,2,1.0\n3,4,2\n5,6,10\n7,8,1\n",
    "quoted header and quoted labels": '"x","y","c"\n1,2,"setosa"\n3,4,"virginica"\n5,6,setosa\n',
    "unicode labels": "x,y,c\n1,2,café\n3,4,日本\n5,6,café\n",
    "a row of one feature": "x,c\n1,a\n2,b\n",
}


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_numpy_reader_gives_the_careful_readers_arrays(tmp_path, careful_calls, name):
    path = _write(tmp_path, PLAIN[name])
    got = read_csv(path)
    assert careful_calls == []
    _assert_same(got, _careful(path))


@pytest.mark.parametrize(
    "text, label, X, y, features, classes",
    [
        ("c,x,y\na,1,2\nb,3,4\n", "c", [[1, 2], [3, 4]], [0, 1], ("x", "y"), ("a", "b")),
        ("x,c,y\n1,b,2\n3,a,4\n", "c", [[1, 2], [3, 4]], [1, 0], ("x", "y"), ("a", "b")),
        ("x,y,z\n1,20,3\n4,5,6\n", "y", [[1, 3], [4, 6]], [1, 0], ("x", "z"), ("5", "20")),
    ],
)
def test_label_column_first_or_in_the_middle(tmp_path, careful_calls, text, label, X, y, features, classes):
    path = _write(tmp_path, text)
    got = read_csv(path, label)
    assert careful_calls == []
    assert got[0].tolist() == X and got[1].tolist() == y and got[2:] == (features, classes)
    _assert_same(got, _careful(path, label))


def test_numeric_values_read_exactly_as_before(tmp_path):
    X, y, features, classes = read_csv(_write(tmp_path, PLAIN["negative and exponent numbers"]))
    want = [float(v) for line in PLAIN["negative and exponent numbers"].splitlines()[1:] for v in line.split(",")[:2]]
    assert np.array_equal(X.reshape(-1), np.array(want)) and features == ("x", "y") and classes == ("a", "b")


def test_classes_sort_and_code_as_before(tmp_path):
    X, y, _, classes = read_csv(_write(tmp_path, PLAIN["whole-number labels sort as numbers"]))
    assert classes == ("1", "2", "10") and y.tolist() == [2, 1, 0, 1]
    _, y, _, classes = read_csv(_write(tmp_path, PLAIN["leading zeros and signs in whole-number labels"]))
    assert classes == ("-1", "1", "2") and y.tolist() == [1, 1, 2, 0]
    _, y, _, classes = read_csv(_write(tmp_path, PLAIN["decimal labels are numbers"]))
    assert classes == ("1", "2", "10") and y.tolist() == [0, 1, 2, 0]  # 1.0 and 1: one class
    _, y, _, classes = read_csv(_write(tmp_path, PLAIN["one spelling of a class with spaces"]))
    assert classes == ("a", "b") and y.tolist() == [0, 0, 1]


def test_a_large_file_with_the_label_in_the_middle(tmp_path, careful_calls):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(20_000, 6)) * 10.0 ** rng.integers(-5, 6, size=(20_000, 6))
    labels = np.array(["cat", "dog", "ant", "bee"])[rng.integers(0, 4, size=20_000)]
    rows = [
        ",".join([*(repr(v) for v in row[:3]), label, *(repr(v) for v in row[3:])])
        for row, label in zip(values.tolist(), labels.tolist(), strict=True)
    ]
    path = _write(tmp_path, "a,b,c,kind,d,e,f\n" + "\r\n".join(rows))
    X, y, features, classes = got = read_csv(path, "kind")
    assert careful_calls == []
    assert np.array_equal(X, values) and features == ("a", "b", "c", "d", "e", "f") and classes == ("ant", "bee", "cat", "dog")
    assert [classes[i] for i in y[:50]] == labels[:50].tolist()
    _assert_same(got, _careful(path, "kind"))


def test_core_data_read_csv_is_this_reader():
    assert data_read_csv is read_csv


# Valid files numpy's reader does not take as the csv module does: the careful reader reads them.
CAREFUL = {
    "quoted numbers": 'x,y,c\n"1.5",2,a\n3,"4",b\n',
    "a quoted label holding the delimiter": 'x,y,c\n1,2,"a,b"\n3,4,b\n',
    "a quoted label holding a doubled quote": 'x,y,c\n1,2,"a""b"\n3,4,b\n',
    "a quote inside a label": 'x,y,c\n1,2,a"b\n3,4,b\n',
    "a line of spaces": "x,y,c\n1,2,a\n   \n3,4,b\n",
    "digits of another script": "x,y,c\n\u0661,2,a\n3,4,b\n",
    "underscores in numbers": "x,y,c\n1_000,2,a\n3,4,b\n",
}


@pytest.mark.parametrize("name", sorted(CAREFUL))
def test_files_numpy_cannot_take_exactly_go_to_the_careful_reader(tmp_path, careful_calls, name):
    path = _write(tmp_path, CAREFUL[name])
    got = read_csv(path)
    assert careful_calls == [path]
    _assert_same(got, _careful(path))


@pytest.mark.parametrize("error", [OSError("a bad gzip file"), EOFError(), ValueError("odd")])
def test_whatever_numpy_stumbles_on_goes_to_the_careful_reader(tmp_path, monkeypatch, careful_calls, error):
    def stumble(*args, **kwargs):
        raise error

    monkeypatch.setattr(csv_reader.np, "loadtxt", stumble)
    path = _write(tmp_path, PLAIN["text labels"])
    _assert_same(read_csv(path), _careful(path))
    assert careful_calls == [path]


def test_quoted_label_values(tmp_path):
    assert read_csv(_write(tmp_path, CAREFUL["a quoted label holding the delimiter"]))[3] == ("a,b", "b")
    assert read_csv(_write(tmp_path, CAREFUL["a quoted label holding a doubled quote"]))[3] == ('a"b', "b")
    assert read_csv(_write(tmp_path, PLAIN["quoted header and quoted labels"]))[3] == ("setosa", "virginica")


def _big(bad_row: int, bad: str, n: int = 3000, blank_every: int = 0) -> str:
    """x,y,c with n data rows; the one at spreadsheet row `bad_row` has `bad` for its y and c."""
    lines, row = ["x,y,c"], 1
    for i in range(n):
        if blank_every and i % blank_every == 0:
            lines.append("")
            row += 1
        row += 1
        lines.append(f"{i}," + (bad if row == bad_row else f"{i * 0.5},{'ab'[i % 2]}"))
    return "\n".join(lines) + "\n"


ERRORS = {
    "bad number far in": (_big(2500, "abc,a"), "row 2500, column 'y': 'abc' is not a number"),
    "bad number after blank lines": (_big(2500, "abc,a", blank_every=7), "row 2500, column 'y': 'abc' is not a number"),
    "empty cell": (_big(2999, ",a"), "row 2999, column 'y' is empty"),
    "nan": (_big(1800, "nan,a"), "row 1800, column 'y' has a missing value"),
    "-inf": (_big(1800, "-inf,a"), "row 1800, column 'y': -inf is not a finite number"),
    "overflow": (_big(1800, "1e999,a"), "row 1800, column 'y': inf is not a finite number"),
    "a value too many far in": (_big(2000, "1,2,a"), "row 2000 has 4 values but the header has 3 columns"),
    "a value too many at first": (_big(2, "1,2,a"), "row 2 has 4 values but the header has 3 columns"),
    "every row a value too many": ("x,y,c\n1,2,a,9\n3,4,b,9\n", "row 2 has 4 values but the header has 3 columns"),
    "a value too few": (_big(2000, "1"), "row 2000 has 2 values but the header has 3 columns"),
    "unclosed quote": (_big(2000, '2,"a'), "row 2000, column 'c': a quoted value runs over several lines"),
    "NA label": (_big(2000, "2,NA"), "row 2000, column 'c': the label is missing \\('NA'\\)"),
    "blank label": (_big(2000, "2, "), "row 2000, column 'c': the label is missing \\(''\\)"),
    "over-long label": (_big(2000, "2," + "a" * 200_000), "row 2000 is not valid CSV \\(field larger than field limit"),
    "one class": ("x,y,c\n1,2,a\n3,4,a\n", "only one class \\('a'\\)"),
    "one class spelt two ways": ("x,y,c\n1,2,1\n3,4, 01\n", "only one class \\('1'\\)"),
    "one row": ("x,y,c\n1,2,a\n", "only one class"),
    "blank lines only": ("x,y,c\n\n\n", "has a header \\(row 1\\) but no rows of data"),
    "blank lines around the header": ("\n\nx,y,c\n\n", "has a header \\(row 3\\) but no rows of data"),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_still_name_the_row_and_column(tmp_path, name):
    text, expected = ERRORS[name]
    path = _write(tmp_path, text)
    with pytest.raises(DataError, match=expected) as info:
        read_csv(path)
    assert str(info.value).startswith(path)


def test_text_that_is_not_utf8_far_into_the_file(tmp_path):
    path = _write(tmp_path, _big(0, "").encode() + "9,9,caf\xe9\n".encode("latin-1"))  # past the first 8 KB
    with pytest.raises(DataError, match="is not UTF-8 text; save it as CSV UTF-8"):
        read_csv(path)


def test_nul_bytes_past_the_probe_as_the_csv_module_takes_them(tmp_path, careful_calls):
    # Python 3.11's csv module reads NUL as a character, 3.10's refuses the line: either way, the careful reader decides.
    for bad in ("2,a\x00", "2\x00,a"):
        path = _write(tmp_path, _big(2000, bad))
        got, want = _outcome(read_csv, path), _outcome(_careful, path)
        assert got[0] == want[0] and (got[1] == want[1] if got[0] == "error" else _assert_same(got[1], want[1]) is None)
    assert len(careful_calls) == 2


def test_too_many_classes_counts_every_spelling_once(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_CSV_CLASSES", 3)
    # Seven spellings of three classes: numpy's reader goes on past MAX_CSV_CLASSES distinct cells.
    rows = ["x,c"] + [f"{i},{lab}" for i, lab in enumerate(["1", " 1", "01", "2", "+2", "3", "3 "])]
    X, y, _, classes = read_csv(_write(tmp_path, "\n".join(rows)))
    assert classes == ("1", "2", "3") and y.tolist() == [0, 0, 0, 1, 1, 2, 2]
    rows += ["9,4", "10,5"]
    with pytest.raises(DataError, match="holds 5 different values; at most 3 classes"):
        read_csv(_write(tmp_path, "\n".join(rows)))


def test_archive_like_names_are_read_as_text(tmp_path, careful_calls):
    # np.loadtxt would open a path ending in .gz as gzip; the reader hands it lines instead.
    path = _write(tmp_path, PLAIN["text labels"], name="data.csv.gz")
    _assert_same(read_csv(path), _careful(path))
    assert careful_calls == []


# --- the same answer on made-up files, valid or not ---------------------------------------------

NUMBERS = ["1", "-2.5", "1e3", " 3 ", "+4", ".5", "5.", "-0", "0.1", "9" * 25, "nan", "inf", "-Infinity", "1e999", "",
           "NA", "abc", "1_0", "\u0661", "0x10", "1,5", '"7"', "1 2", "\t8", "\x0c9", "\u00a010"]
LABELS = ["a", "b", " a", "b ", "1", "01", "2", "1.0", '"a"', '"a,b"', "", "?", "NULL", "é", 'x"y', "\x0c", "c;d", '"']


@st.composite
def csv_files(draw):
    delimiter = draw(st.sampled_from([",", ";", "\t"]))
    end = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    n_features = draw(st.integers(1, 3))
    lines = [delimiter.join([*(f"f{i}" for i in range(n_features)), "label"])]
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 9)) == 0:
            lines.append(draw(st.sampled_from(["", " ", "\t"])))
            continue
        cells = [draw(st.sampled_from(NUMBERS[:10]) if draw(st.integers(0, 5)) else st.sampled_from(NUMBERS)) for _ in range(n_features)]
        cells.append(draw(st.sampled_from(LABELS[:7]) if draw(st.integers(0, 5)) else st.sampled_from(LABELS)))
        if draw(st.integers(0, 15)) == 0:
            cells = cells[:-1] if draw(st.booleans()) else [*cells, "1"]
        lines.append(delimiter.join(cells))
    label_column = draw(st.sampled_from([None, "label", "f0", " f0 ", "nope"]))
    return end.join(lines) + draw(st.sampled_from(["", end, end * 2])), label_column


def _outcome(read, path, label_column=None):
    try:
        return "ok", read(path, label_column)
    except DataError as exc:
        return "error", str(exc)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(made_up=csv_files())
def test_made_up_files_read_the_same_by_both_readers(tmp_path, made_up):
    text, label_column = made_up
    path = _write(tmp_path, text)
    got, want = _outcome(read_csv, path, label_column), _outcome(_careful, path, label_column)
    assert got[0] == want[0], (got, want)
    if got[0] == "ok":
        _assert_same(got[1], want[1])
    else:
        assert got[1] == want[1]


# --- files too big -----------------------------------------------------------------------------


def test_the_fixed_cap_names_sizes(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_CSV_BYTES", 10)
    with pytest.raises(DataError, match=r"is 0 MB; CSV files over 0 MB are refused: use a sample of its rows"):
        read_csv(_write(tmp_path, "x,y,c\n1,2,a\n3,4,b\n"))


def test_a_file_bigger_than_free_memory_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "_SURELY_FITS", 0)
    monkeypatch.setattr(csv_reader, "read_memory", lambda: MemoryInfo(total=2**30, available=2**20))
    monkeypatch.setattr(csv_reader, "_read_header", lambda *a: pytest.fail("the file was read"))
    path = _write(tmp_path, "x,y,c\n" + "1,2,a\n" * 100_000)
    with pytest.raises(DataError) as info:
        read_csv(path)
    assert str(info.value) == (
        f"{path} is 1 MB with about 300,000 numbers; reading them and making the training data needs about 7 MB of "
        "memory, but this machine has 1 MB free: use a sample of its rows, or close other programs"
    )


def test_memory_estimate_from_the_first_rows():
    sample = b"x;y;c\n1,5;2;a\n3;4;b\n"
    info = MemoryInfo(total=64 * 2**30, available=16 * 2**30)
    # 4 semicolons and 2 line ends in the 14 bytes after the header (the decimal comma is no separator here):
    # 30 GB of such rows hold about 13.8 billion numbers, 24 bytes each.
    problem = csv_reader.csv_memory_problem("big.csv", 30 * 2**30, sample, memory=info)
    assert problem is not None and problem.startswith("big.csv is 30.0 GB with about 13,805,")
    assert "needs about 308.6 GB of memory, but this machine has 16.0 GB free" in problem
    assert csv_reader.csv_memory_problem("big.csv", 2**30, sample, memory=info) is None  # 11 GB of 16 GB free


# --- the bench -----------------------------------------------------------------------------------


def test_the_csv_bench_reads_the_same_arrays_with_every_reader(capsys):
    from core.bench import run_csv_bench

    assert run_csv_bench(2_000, rounds=1) is True
    out = capsys.readouterr().out
    assert "DIFFERENT" not in out and out.count("| identical") == 6
    assert "the time of the fastest numpy reader of the same file (goal: within 1.2x)" in out
    assert "the features in float32 (goal: under 3x)" in out or "n/a" in out
