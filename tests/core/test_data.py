"""Data sets: the book's exact values, generated sets, the bundled iris and digits files, CSV files and their errors."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from core import csv_reader
from core import data as data_module
from core.config import ConfigError, DatasetConfig
from core.data import DataError, DataSplit, Standardizer, ToyDataset, appendix_a, load_dataset, split_indices
from core.errors import PathError

GENERATED = ("moons", "circles", "blobs", "xor", "spiral")
SAMPLE_CSV = Path(__file__).resolve().parents[2] / "resources" / "data" / "sample.csv"


def _same(a: DataSplit, b: DataSplit) -> bool:
    return all(torch.equal(getattr(a, k), getattr(b, k)) for k in ("X_train", "y_train", "X_test", "y_test"))


def _check_layout(split: DataSplit) -> None:
    for X, y in ((split.X_train, split.y_train), (split.X_test, split.y_test)):
        assert X.dtype == torch.float32 and y.dtype == torch.int64
        assert X.dim() == 2 and X.shape[1] == split.num_features == len(split.feature_names)
        assert y.shape == (X.shape[0],)
        assert X.is_contiguous()
        assert torch.isfinite(X).all()
    labels = torch.cat([split.y_train, split.y_test])
    assert labels.min() >= 0 and labels.max() < split.num_classes


# --- the book's toy set ---------------------------------------------------------------------------


def test_appendix_a_is_the_books_data_exactly():
    split = appendix_a()
    assert torch.equal(split.X_train, torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]]))
    assert torch.equal(split.y_train, torch.tensor([0, 0, 0, 1, 1]))
    assert torch.equal(split.X_test, torch.tensor([[-0.8, 2.8], [2.6, -1.6]]))
    assert torch.equal(split.y_test, torch.tensor([0, 1]))
    assert split.X_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert (split.num_features, split.num_classes, split.standardizer) == (2, 2, None)
    _check_layout(split)


def test_appendix_a_ignores_generator_options_but_honours_standardize():
    plain = load_dataset(DatasetConfig(name="appendix-a", samples=50, noise=2.0, test_fraction=0.5, seed=7))
    assert _same(plain, appendix_a())
    scaled = load_dataset(DatasetConfig(name="appendix-a", standardize=True))
    assert scaled.standardizer is not None
    assert torch.allclose(scaled.X_train.mean(dim=0), torch.zeros(2), atol=1e-6)
    assert torch.allclose(scaled.X_test, scaled.standardizer.apply(appendix_a().X_test))


def test_toy_dataset_in_a_dataloader_gives_the_books_batches():
    split = appendix_a()
    ds = ToyDataset(split.X_train, split.y_train)
    assert len(ds) == 5
    x, y = ds[3]
    assert torch.equal(x, torch.tensor([2.3, -1.1])) and y.item() == 1
    batches = list(DataLoader(ds, batch_size=2, shuffle=False))
    assert [b[0].shape[0] for b in batches] == [2, 2, 1]
    assert torch.equal(torch.cat([b[0] for b in batches]), split.X_train)
    # The book's train_loader (manual_seed(123), batch_size=2, shuffle, drop_last) prints these two batches.
    torch.manual_seed(123)
    shuffled = list(DataLoader(ds, batch_size=2, shuffle=True, num_workers=0, drop_last=True))
    assert len(shuffled) == 2
    assert torch.equal(shuffled[0][0], torch.tensor([[2.3, -1.1], [-0.9, 2.9]]))
    assert torch.equal(shuffled[0][1], torch.tensor([1, 0]))
    assert torch.equal(shuffled[1][0], torch.tensor([[-1.2, 3.1], [-0.5, 2.6]]))
    assert torch.equal(shuffled[1][1], torch.tensor([0, 0]))


def test_toy_dataset_refuses_mismatched_lengths():
    with pytest.raises(DataError, match="5 rows but labels have 4"):
        ToyDataset(torch.zeros(5, 2), torch.zeros(4, dtype=torch.int64))


# --- generated sets -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_have_the_asked_shape_and_classes(name):
    cfg = DatasetConfig(name=name, samples=203, classes=4, noise=0.2, test_fraction=0.25, seed=5)
    split = load_dataset(cfg)
    _check_layout(split)
    k = 4 if name in ("blobs", "spiral") else 2
    assert split.num_features == 2 and split.num_classes == k
    assert split.class_names == tuple(str(i) for i in range(k))
    assert split.X_train.shape[0] + split.X_test.shape[0] == 203
    assert split.X_test.shape[0] == round(203 * 0.25)
    assert set(split.y_train.tolist()) == set(range(k))
    assert split.name == name and split.standardizer is None


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_are_deterministic_per_seed_and_leave_torch_rng_alone(name):
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    a = load_dataset(DatasetConfig(name=name, seed=1))
    b = load_dataset(DatasetConfig(name=name, seed=1))
    c = load_dataset(DatasetConfig(name=name, seed=2))
    assert torch.equal(torch.random.get_rng_state(), before)
    assert _same(a, b)
    assert not _same(a, c)


def test_noise_zero_gives_clean_shapes():
    split = load_dataset(DatasetConfig(name="circles", samples=100, noise=0.0, test_fraction=0.0))
    X, y = split.X_train, split.y_train
    radius = X.norm(dim=1)
    assert torch.allclose(radius[y == 0], torch.ones(50), atol=1e-6)
    assert torch.allclose(radius[y == 1], torch.full((50,), 0.5), atol=1e-6)
    assert split.X_test.shape == (0, 2) and split.y_test.shape == (0,)


def test_xor_labels_follow_the_quadrants_without_noise():
    split = load_dataset(DatasetConfig(name="xor", samples=300, noise=0.0))
    for X, y in ((split.X_train, split.y_train), (split.X_test, split.y_test)):
        assert torch.equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).long())


def test_too_few_samples_for_the_classes_is_a_data_error():
    with pytest.raises(DataError, match="spiral with 10 classes needs at least 10 samples"):
        load_dataset(DatasetConfig(name="spiral", samples=5, classes=10))


def test_invalid_config_is_a_config_error():
    with pytest.raises(ConfigError, match="dataset.test_fraction"):
        load_dataset(DatasetConfig(name="moons", test_fraction=1.5))


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(GENERATED),
    samples=st.integers(4, 300),
    classes=st.integers(2, 4),
    test_fraction=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**32),
)
def test_split_sizes_add_up_and_every_class_trains(name, samples, classes, test_fraction, seed):
    split = load_dataset(DatasetConfig(name=name, samples=samples, classes=classes, test_fraction=test_fraction, seed=seed))
    n_train, n_test = split.X_train.shape[0], split.X_test.shape[0]
    assert n_train + n_test == samples
    present = set(torch.cat([split.y_train, split.y_test]).tolist())
    assert set(split.y_train.tolist()) == present
    assert n_test == min(math.floor(samples * test_fraction + 0.5), samples - len(present))


def test_split_indices_is_a_stratified_partition():
    y = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, test = split_indices(y, 0.2, np.random.default_rng(0))
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    assert np.bincount(y[test]).tolist() == [10, 6, 4]
    # A class of one row stays in training.
    train, test = split_indices(np.array([0, 0, 0, 0, 1]), 0.9, np.random.default_rng(0))
    assert 4 in train.tolist() and len(test) == 3


# --- the bundled iris and digits files ---------------------------------------------------------------


def test_iris_is_read_without_importing_sklearn():
    split = load_dataset(DatasetConfig(name="iris", test_fraction=0.2, seed=3))
    _check_layout(split)
    assert split.X_train.shape[0] + split.X_test.shape[0] == 150
    assert (split.X_train.shape[0], split.X_test.shape[0]) == (120, 30)
    assert split.num_features == 4 and split.num_classes == 3
    assert split.feature_names == ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")
    assert split.class_names == ("setosa", "versicolor", "virginica")
    assert torch.bincount(split.y_test).tolist() == [10, 10, 10]
    rows = {tuple(r) for r in torch.cat([split.X_train, split.X_test]).tolist()}
    assert tuple(torch.tensor([5.1, 3.5, 1.4, 0.2]).tolist()) in rows  # iris's first row


def test_loading_bundled_sets_does_not_import_sklearn(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    load_dataset(DatasetConfig(name="iris"))
    load_dataset(DatasetConfig(name="digits"))
    assert "sklearn" not in sys.modules


def test_digits_has_1797_rows_of_64_pixels_and_10_classes():
    split = load_dataset(DatasetConfig(name="digits", test_fraction=0.1, seed=0, standardize=True))
    _check_layout(split)
    assert split.X_train.shape[0] + split.X_test.shape[0] == 1797
    assert split.num_features == 64 and split.num_classes == 10
    assert split.feature_names[0] == "pixel_0_0" and split.feature_names[-1] == "pixel_7_7"
    assert split.class_names == tuple(str(d) for d in range(10))
    assert split.standardizer is not None


def test_bundled_split_moves_with_data_seed_only():
    a = load_dataset(DatasetConfig(name="iris", seed=1))
    b = load_dataset(DatasetConfig(name="iris", seed=1))
    c = load_dataset(DatasetConfig(name="iris", seed=2))
    assert _same(a, b) and not _same(a, c)


def test_a_missing_bundled_file_is_named(monkeypatch, tmp_path):
    import core.data

    monkeypatch.setattr(core.data, "DATA_FOLDER", str(tmp_path))
    with pytest.raises(DataError, match="iris.csv that comes with the app is missing; reinstall"):
        load_dataset(DatasetConfig(name="iris"))


# --- CSV files ------------------------------------------------------------------------------------


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _load_csv(path: str, **kw) -> DataSplit:
    return load_dataset(DatasetConfig(name="csv", path=path, **kw))


def test_csv_with_string_labels_and_a_named_label_column(tmp_path):
    rows = ["species,length,width"] + [f"{'cat' if i % 2 else 'ant'},{i}.5,{2 * i}" for i in range(20)]
    path = _csv(tmp_path, "\n".join(rows) + "\n")
    split = _load_csv(path, label_column="species", test_fraction=0.2)
    _check_layout(split)
    assert split.feature_names == ("length", "width")
    assert split.class_names == ("ant", "cat")
    assert (split.X_train.shape[0], split.X_test.shape[0]) == (16, 4)
    X = torch.cat([split.X_train, split.X_test])
    y = torch.cat([split.y_train, split.y_test])
    # Each row keeps its own label: odd i is 'cat' (code 1) and has length i + 0.5.
    assert torch.equal(y, ((X[:, 0] - 0.5).long() % 2))


def test_csv_default_label_is_the_last_column_and_integer_labels_sort_as_numbers(tmp_path):
    rows = ["a,b,label"] + [f"{i},{i * i},{[2, 10, 1][i % 3]}" for i in range(12)]
    split = _load_csv(_csv(tmp_path, "\n".join(rows)), test_fraction=0.0)
    assert split.feature_names == ("a", "b")
    assert split.class_names == ("1", "2", "10")
    order = torch.argsort(split.X_train[:, 0])
    assert split.y_train[order].tolist() == [[1, 2, 0][i % 3] for i in range(12)]


def test_csv_tolerates_bom_spaces_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("\ufeff x , y ,class\r\n1, 2,a\r\n\r\n3,4 , b\r\n5,6,a\r\n6,7,b\r\n".encode())
    split = _load_csv(str(path), test_fraction=0.0)
    assert split.feature_names == ("x", "y") and split.class_names == ("a", "b")
    assert split.X_train.shape == (4, 2)


def test_csv_semicolon_separated(tmp_path):
    split = _load_csv(_csv(tmp_path, "x;y;c\n1;2;a\n3;4;b\n"), test_fraction=0.0)
    assert split.feature_names == ("x", "y") and split.X_train.shape == (2, 2)


def test_csv_standardizes_with_training_statistics(tmp_path):
    rows = ["x,y,c"] + [f"{i},{100 + 3 * i},{i % 2}" for i in range(40)]
    split = _load_csv(_csv(tmp_path, "\n".join(rows)), standardize=True, test_fraction=0.25)
    s = split.standardizer
    assert s is not None
    assert torch.allclose(split.X_train.mean(dim=0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(split.X_train.std(dim=0, unbiased=False), torch.ones(2), atol=1e-5)
    raw = _load_csv(_csv(tmp_path, "\n".join(rows)), test_fraction=0.25)
    assert s == Standardizer.fit(raw.X_train)
    assert torch.allclose(split.X_test, (raw.X_test - torch.tensor(s.mean)) / torch.tensor(s.std), atol=1e-6)
    assert not torch.allclose(split.X_test.mean(dim=0), torch.zeros(2), atol=1e-3)  # test stats not used


def test_shipped_sample_csv_loads():
    split = _load_csv(str(SAMPLE_CSV))
    _check_layout(split)
    assert split.num_features >= 2 and split.num_classes >= 2


@pytest.mark.parametrize(
    "text, label_column, expected",
    [
        ("", None, "is empty"),
        ("\n\n", None, "is empty"),
        ("x,y,c\n", None, "no rows of data"),
        ("x,y,c\n1,2,a\n3,4\n", None, "row 3 has 2 values but the header has 3 columns"),
        ("x,y,c\n1,2,a\n3,abc,b\n", None, "row 3, column 'y': 'abc' is not a number"),
        ("x,y,c\n1,2,a\n\n3,abc,b\n", None, "row 4, column 'y'"),  # blank lines still count as rows
        ("x,y,c\n1,,a\n3,4,b\n", None, "row 2, column 'y' is empty"),
        ("x,y,c\n1,2,a\nNA,4,b\n", None, "row 3, column 'x' is missing \\('NA'\\)"),
        ("x,y,c\n1,2,a\n3,nan,b\n", None, "row 3, column 'y' has a missing value"),
        ("x,y,c\n1,2,a\n3,inf,b\n", None, "row 3, column 'y': inf is not a finite number"),
        ("x,y,c\n1,1e999,a\n3,4,b\n", None, "row 2, column 'y': inf is not a finite number"),
        ("x,y,c\n1,2,\n3,4,b\n", None, "row 2, column 'c': the label is missing"),
        ("x,y,c\n1,2,a\n3,4,a\n", None, "only one class \\('a'\\)"),
        ("x,y,c\n1,2,a\n3,4,b\n", "label", "no column 'label'; the columns are x, y, c"),
        ("c\na\nb\n", None, "needs feature columns"),
        ("x,x,c\n1,2,a\n3,4,b\n", None, "names the column 'x' more than once"),
        ("x,,c\n1,2,a\n3,4,b\n", None, "column 2 of the header has no name"),
        ("1,2,0\n3,4,1\n", None, "not column names; add a header row"),
        ("x;y;c\n1,5;2;a\n3;4;b\n", None, "row 2, column 'x': '1,5' is not a number; write decimals with a point"),
        ('x,y,c\n1,2,"a\n3,4,b\n', None, "row 2, column 'c': a quoted value runs over several lines"),
        ("x,y,c\n1,2," + "a" * 200_000 + "\n", None, r"row 2 is not valid CSV \(field larger than field limit"),
    ],
)
def test_csv_errors_name_the_problem(tmp_path, text, label_column, expected):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=expected) as info:
        _load_csv(path, label_column=label_column)
    assert path in str(info.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        _load_csv(str(tmp_path / "nope.csv"))


def test_csv_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="is a folder"):
        _load_csv(str(tmp_path))


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("x,y,c\n1,2,caf\xe9\n3,4,b\n".encode("latin-1"))
    with pytest.raises(DataError, match="is not UTF-8 text"):
        _load_csv(str(path))


def test_csv_binary_file(tmp_path):
    path = tmp_path / "model.csv"
    path.write_bytes(b"x,y,c\n1,2\x00,a\n")
    with pytest.raises(DataError, match="binary file"):
        _load_csv(str(path))


def test_csv_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_CSV_BYTES", 10)
    with pytest.raises(DataError, match="MB are refused: use a sample of its rows"):
        _load_csv(_csv(tmp_path, "x,y,c\n1,2,a\n3,4,b\n"))


def test_csv_unreadable_file(tmp_path, monkeypatch):
    path = _csv(tmp_path, "x,y,c\n1,2,a\n3,4,b\n")

    def refuse(path, **kwargs):
        raise PathError(path, "permission denied")

    monkeypatch.setattr(csv_reader, "open_read", refuse)  # the reader's one door to the file
    with pytest.raises(DataError, match="cannot read it \\(permission denied\\)"):
        _load_csv(path)


def test_csv_too_many_classes(tmp_path, monkeypatch):
    monkeypatch.setattr(csv_reader, "MAX_CSV_CLASSES", 3)
    rows = ["x,c"] + [f"{i},{i * 0.5}" for i in range(5)]
    with pytest.raises(DataError, match="holds 5 different values"):
        _load_csv(_csv(tmp_path, "\n".join(rows)))


# --- Standardizer ---------------------------------------------------------------------------------


def test_standardizer_fit_apply_and_constant_columns():
    X = torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    s = Standardizer.fit(X)
    assert s.mean == (3.0, 5.0)
    assert s.std[1] == 1.0  # constant column: std 0 replaced by 1
    assert math.isclose(s.std[0], math.sqrt(8 / 3))
    out = s.apply(X)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, 1], torch.zeros(3))
    assert torch.allclose(out[:, 0], torch.tensor([-1.0, 0.0, 1.0]) * math.sqrt(1.5), atol=1e-6)
    with pytest.raises(DataError, match="expects 2 features"):
        s.apply(torch.zeros(1, 3))
    with pytest.raises(DataError, match="at least one row"):
        Standardizer.fit(torch.zeros(0, 2))


def test_standardizer_round_trips_through_a_dict():
    s = Standardizer.fit(torch.tensor([[1.0, 2.0], [4.0, 8.0]]))
    d = s.to_dict()
    assert d == {"mean": [2.5, 5.0], "std": [1.5, 3.0]}
    assert Standardizer.from_dict(d) == s
    assert Standardizer.from_dict({"mean": [0, 1], "std": [1, 2]}) == Standardizer((0.0, 1.0), (1.0, 2.0))


@pytest.mark.parametrize(
    "bad, expected",
    [
        (None, "'mean' and 'std'"),
        ({"mean": [1.0]}, "'mean' and 'std'"),
        ({"mean": "1.0", "std": [1.0]}, "mean must be a list"),
        ({"mean": [1.0, 2.0], "std": [1.0]}, "2 means but 1 standard deviations"),
        ({"mean": [float("nan")], "std": [1.0]}, "mean\\[0\\] must be a finite number"),
        ({"mean": [1.0], "std": [float("inf")]}, "std\\[0\\] must be a finite number"),
        ({"mean": [True], "std": [1.0]}, "mean\\[0\\]"),
        ({"mean": ["1"], "std": [1.0]}, "mean\\[0\\]"),
        ({"mean": [1.0], "std": [0.0]}, "greater than 0"),
        ({"mean": [], "std": []}, "no features"),
    ],
)
def test_standardizer_from_dict_refuses_bad_values(bad, expected):
    with pytest.raises(DataError, match=expected):
        Standardizer.from_dict(bad)


def test_standardize_fits_on_training_split_only():
    raw = load_dataset(DatasetConfig(name="blobs", samples=200, seed=4, test_fraction=0.3))
    split = load_dataset(DatasetConfig(name="blobs", samples=200, seed=4, test_fraction=0.3, standardize=True))
    assert split.standardizer == Standardizer.fit(raw.X_train)
    assert split.standardizer != Standardizer.fit(torch.cat([raw.X_train, raw.X_test]))
    assert torch.allclose(split.X_train.mean(dim=0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(split.X_test, split.standardizer.apply(raw.X_test))
    assert torch.equal(split.y_train, raw.y_train) and torch.equal(split.y_test, raw.y_test)


def test_core_data_imports_no_gui():
    source = Path(data_module.__file__).read_text(encoding="utf-8")
    for name in ("PySide6", "pyqtgraph", "import app", "from app", "sklearn import", "import sklearn"):
        assert name not in source


def test_iris_and_digits_need_no_scikit_learn(monkeypatch):
    """The two tables ship in resources/data: a machine without scikit-learn (it is no dependency) reads them."""

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name.startswith("sklearn") else real(name, *a))
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn` would fail
    assert load_dataset(DatasetConfig(name="iris")).num_classes == 3
    assert load_dataset(DatasetConfig(name="digits")).num_features == 64
