""".safetensors model files: written by `core train --out` and Export Weights, opened like a .pt, hostile ones refused."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save

from core.checkpoint import (
    FORMAT,
    MAX_FILE_BYTES,
    MAX_SAFETENSORS_HEADER_BYTES,
    ModelFileError,
    export_safetensors,
    export_state_dict,
    load_model_file,
    save_model_file,
)
from core.cli import main
from core.config import TrainConfig
from core.model import NeuralNetwork

REPO = Path(__file__).resolve().parents[2]


def book_state() -> OrderedDict:
    torch.manual_seed(123)
    return NeuralNetwork(2, 2).state_dict()


def raw_file(header, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A safetensors file written byte by byte: the length, the header (a dict as JSON, or bytes), the data."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + data


def entry(dtype: str, shape, begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": [begin, end]}


def mlp_header(dtype: str = "F32", size: int = 4) -> tuple[dict, bytes]:
    """A 2 -> 3 -> 2 MLP's header and zero data: layers.0 (3x2, 3), layers.2 (2x3, 2)."""
    shapes = {"layers.0.weight": (3, 2), "layers.0.bias": (3,), "layers.2.weight": (2, 3), "layers.2.bias": (2,)}
    header, position = {}, 0
    for name, shape in shapes.items():
        n = size * (shape[0] * (shape[1] if len(shape) > 1 else 1))
        header[name] = entry(dtype, shape, position, position + n)
        position += n
    return header, bytes(position)


def with_state(**tensors) -> bytes:
    return st_save({k: v.contiguous() for k, v in tensors.items()})


def book_with(key: str, value: torch.Tensor) -> bytes:
    state = dict(book_state())
    state[key] = value
    return with_state(**state)


# --- the corpus -----------------------------------------------------------------------------------

# Each builder returns the file's bytes; None means it writes the file itself (sparse files).
Builder = Callable[[Path], "bytes | None"]


def _sparse(size: int, head: bytes) -> Builder:
    def build(path: Path) -> None:
        with open(path, "wb") as f:
            f.write(head)
            f.truncate(size)

    return build


def _overlap(_path):
    h = {"layers.0.weight": entry("F32", (3, 2), 0, 24), "layers.0.bias": entry("F32", (3,), 12, 24)}
    return raw_file(h, bytes(24))


def _gap(_path):
    header, data = mlp_header()
    header["layers.2.bias"]["data_offsets"] = [d + 8 for d in header["layers.2.bias"]["data_offsets"]]
    return raw_file(header, data + bytes(8))


def _shifted(key: str, delta: int) -> Builder:
    def build(_path):
        header, data = mlp_header()
        header[key]["data_offsets"][1] += delta
        return raw_file(header, data)

    return build


def _deep_json(_path):
    return raw_file(b'{"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def _costly_json(_path):
    # 7 MB of empty lists: ~2.4 million Python objects if json.loads were let loose on it
    body = b"[]," * (7 * 1024**2 // 3)
    return raw_file(b'{"__metadata__": {}, "x": [' + body + b"[]]}")


def _many_tensors(_path):
    header = {f"t{i}": entry("F32", (0,), 0, 0) for i in range(5000)}
    return raw_file(header)


HOSTILE: dict[str, Builder] = {
    "empty": lambda _p: b"",
    "too_short": lambda _p: b"\x10\x00\x00",
    "length_only": lambda _p: struct.pack("<Q", 2),
    "header_length_zero": lambda _p: struct.pack("<Q", 0) + b"{}",
    "header_past_end": lambda _p: raw_file(mlp_header()[0], mlp_header()[1], length=10**6),
    "header_length_absurd": lambda _p: raw_file(b"{}", length=2**63),
    "header_too_large": _sparse(MAX_SAFETENSORS_HEADER_BYTES + 4096, struct.pack("<Q", MAX_SAFETENSORS_HEADER_BYTES + 1) + b"{"),
    "file_too_large": _sparse(MAX_FILE_BYTES + 1, raw_file(*mlp_header())),
    "header_not_utf8": lambda _p: raw_file(b'{"layers.0.weight\xff\xfe": 1}'),
    "header_not_json": lambda _p: raw_file(b'{"layers.0.weight": {"dtype": "F32", '),
    "header_not_object": lambda _p: raw_file(b'[{"dtype": "F32"}]'),
    "header_nested_deeply": _deep_json,
    # just under the bounds: read, parsed, and refused for what it says
    "header_long_text": lambda _p: raw_file(b'{"__metadata__": {"note": "' + b"a" * (MAX_SAFETENSORS_HEADER_BYTES - 64) + b'"}}'),
    "header_wide_text": lambda _p: raw_file(b'{"' + "\u20ac".encode() + b"a" * (MAX_SAFETENSORS_HEADER_BYTES - 16) + b'": 1}'),
    "header_costly": _costly_json,
    "header_duplicate_key": lambda _p: raw_file(
        b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
        b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
        bytes(4),
    ),
    "metadata_not_text": lambda _p: raw_file({"__metadata__": {"config": {"epochs": 3}}, **mlp_header()[0]}, mlp_header()[1]),
    "no_tensors": lambda _p: raw_file({"__metadata__": {"format": "pt"}}),
    "too_many_tensors": _many_tensors,
    "entry_not_object": lambda _p: raw_file({"layers.0.weight": [0, 24]}, bytes(24)),
    "entry_missing_offsets": lambda _p: raw_file({"layers.0.weight": {"dtype": "F32", "shape": [3, 2]}}, bytes(24)),
    "offsets_reversed": lambda _p: raw_file({"layers.0.weight": entry("F32", (3, 2), 24, 0)}, bytes(24)),
    "offsets_overlap": _overlap,
    "offsets_gap": _gap,
    "offsets_past_data": _shifted("layers.2.bias", 4),
    "offsets_not_numbers": lambda _p: raw_file({"w": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}}, bytes(4)),
    "trailing_bytes": lambda _p: raw_file(mlp_header()[0], mlp_header()[1] + b"\x00" * 16),
    "size_mismatch": lambda _p: raw_file({"layers.0.weight": entry("F32", (3, 2), 0, 20)}, bytes(20)),
    "shape_negative": lambda _p: raw_file({"w": entry("F32", (-1, 2), 0, 8)}, bytes(8)),
    "shape_absurd": lambda _p: raw_file({"w": entry("F32", (0, 2**60), 0, 0)}),
    "dtype_unknown": lambda _p: raw_file(*mlp_header("Q4", 1)),
    "dtype_not_text": lambda _p: raw_file({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
    "ints_not_floats": lambda _p: with_state(**{k: v.to(torch.int64) for k, v in book_state().items()}),
    "bools_not_floats": lambda _p: raw_file(*mlp_header("BOOL", 1)),
    "float8": lambda _p: raw_file(*mlp_header("F8_E4M3", 1)),
    "nan_weight": lambda _p: book_with("layers.2.weight", torch.full((20, 30), float("nan"))),
    "inf_bf16": lambda _p: with_state(
        **{k: v.to(torch.bfloat16) for k, v in book_state().items()}
        | {"layers.0.bias": torch.full((30,), float("inf"), dtype=torch.bfloat16)}
    ),
    "f64_beyond_f32": lambda _p: book_with("layers.0.bias", torch.full((30,), 1e300, dtype=torch.float64)),
    "conv_not_mlp": lambda _p: with_state(**{"conv.weight": torch.zeros(4, 3, 3, 3), "conv.bias": torch.zeros(4)}),
    "shapes_do_not_chain": lambda _p: book_with("layers.2.weight", torch.zeros(20, 7)),
    "truncated_half": lambda _p: with_state(**book_state())[: len(with_state(**book_state())) // 2],
    "truncated_in_header": lambda _p: with_state(**book_state())[:40],
    "newer_app_version": lambda _p: st_save(
        {k: v.contiguous() for k, v in book_state().items()}, metadata={"format": FORMAT, "version": "99"}
    ),
    "garbage_named_safetensors": lambda _p: bytes(range(256)) * 4,
}
# Files the memory test runs: every one that is cheap to build (the two sparse ones are refused by their size).
MEMORY_CORPUS = [name for name in HOSTILE if name not in ("file_too_large",)]


def build(name: str, folder: Path) -> Path:
    path = folder / f"{name}.safetensors"
    data = HOSTILE[name](path)
    if data is not None:
        path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile_safetensors")
    for name in HOSTILE:
        build(name, folder)
    return folder


# Reasons a person reads: a word or two from each refusal, so a refusal for the wrong reason fails.
WHY = {
    "empty": "empty (0 bytes)",
    "too_short": "too short",
    "length_only": "truncated",
    "header_length_zero": "length 0",
    "header_past_end": "truncated",
    "header_length_absurd": "truncated",
    "header_too_large": "more than the 8 MB",
    "file_too_large": "larger than the 2.0 GB",
    "header_not_utf8": "not valid UTF-8",
    "header_not_json": "not valid JSON",
    "header_not_object": "does not start with '{'",
    "header_nested_deeply": "nested too deeply",
    "header_costly": "more than 48 MB of memory",
    "header_long_text": "holds no tensors",
    "header_wide_text": "more than 48 MB of memory",
    "header_duplicate_key": "twice",
    "metadata_not_text": "__metadata__",
    "no_tensors": "holds no tensors",
    "too_many_tensors": "5,000 tensors",
    "entry_not_object": "not a tensor's description",
    "entry_missing_offsets": "no 'data_offsets'",
    "offsets_reversed": "end comes before the start",
    "offsets_overlap": "overlap",
    "offsets_gap": "belong to no tensor",
    "offsets_past_data": "takes 8 bytes, but its data_offsets span 12",
    "offsets_not_numbers": "not two whole numbers",
    "trailing_bytes": "16 bytes after its last tensor",
    "size_mismatch": "takes 24 bytes, but its data_offsets span 20",
    "shape_negative": "not a list of whole numbers",
    "shape_absurd": "absurd shape",
    "dtype_unknown": "'Q4', which this app does not know",
    "dtype_not_text": "dtype that is not text",
    "ints_not_floats": "whole numbers (I64)",
    "bools_not_floats": "true/false values",
    "float8": "8-bit floats",
    "nan_weight": "non-finite",
    "inf_bf16": "non-finite",
    "f64_beyond_f32": "too large for float32",
    "conv_not_mlp": "not those of an MLP",
    "shapes_do_not_chain": "do not chain",
    "truncated_half": "truncated",
    "truncated_in_header": "truncated",
    "newer_app_version": "newer Torch Playground",
    "garbage_named_safetensors": "truncated",
}


def test_the_corpus_is_at_least_fifteen_files_and_every_one_has_a_reason():
    assert len(HOSTILE) >= 15 and set(WHY) == set(HOSTILE)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_refused_with_its_reason(hostile_dir, name):
    path = hostile_dir / f"{name}.safetensors"
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    assert WHY[name] in info.value.reason, info.value.reason
    assert str(info.value).startswith(f"cannot open {path}: ")


def test_the_library_itself_is_not_reached_by_a_hostile_header(hostile_dir, monkeypatch):
    # Every refusal about the header comes before safetensors opens the file.
    import safetensors

    def boom(*args, **kwargs):
        raise AssertionError("safetensors.safe_open was called")

    monkeypatch.setattr(safetensors, "safe_open", boom)
    for name in HOSTILE:
        if name in ("nan_weight", "inf_bf16", "f64_beyond_f32", "newer_app_version"):
            continue  # their headers are sound; the values or the metadata are what is wrong
        with pytest.raises(ModelFileError):
            load_model_file(hostile_dir / f"{name}.safetensors")


def test_hostile_files_exit_2_with_one_error_line(hostile_dir, capsys):
    for name in HOSTILE:
        path = hostile_dir / f"{name}.safetensors"
        for command in (["inspect", str(path)], ["inspect", str(path), "--json"], ["predict", str(path), "--input", "1,2"]):
            code = main(command)
            out, err = capsys.readouterr()
            assert code == 2, (name, err)
            assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (name, err)


@pytest.mark.parametrize("name", ["header_past_end", "offsets_overlap", "nan_weight"])
def test_hostile_file_in_a_real_process(hostile_dir, name):
    proc = subprocess.run(
        [sys.executable, "-m", "core", "inspect", str(hostile_dir / f"{name}.safetensors")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr


_MEMORY_SCRIPT = """
import contextlib, io, json, sys
from core.cli import main

def reset_peak():
    # Linux: "5" resets VmHWM to the current RSS, so one process can measure several files in turn.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

with contextlib.redirect_stdout(io.StringIO()):
    main(["inspect", sys.argv[1]])  # torch, safetensors and the checks imported, as in `python -m core inspect`
result = {}
for target in sys.argv[2:]:
    reset_peak()
    before = peak()
    if target == "control":
        control = bytearray(200 * 1024**2)  # proof the measure sees memory that is really used
        result[target] = [0, peak(), peak() - before, ""]
        del control
        continue
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["inspect", target])
    result[target] = [code, peak(), peak() - before, err.getvalue()]
print(json.dumps(result))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peak memory is read from /proc")
def test_hostile_files_are_refused_in_bounded_memory(hostile_dir, tmp_path):
    good = tmp_path / "good.safetensors"
    export_state_dict(good, book_state())
    targets = ["control", *(str(hostile_dir / f"{name}.safetensors") for name in MEMORY_CORPUS)]
    proc = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(good), *targets], cwd=REPO, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    result = json.loads(proc.stdout)
    assert result.pop("control")[2] > 190 * 1024**2
    worst = max(peak for _, peak, _, _ in result.values())
    print(f"peak of `core inspect` over {len(result)} hostile files: {worst / 1024**2:.0f} MB")
    for path, (code, peak, grew, err) in result.items():
        name = os.path.basename(path)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (name, err)
        assert grew < 60 * 1024**2, f"{name} raised peak memory by {grew / 1024**2:.0f} MB"
        assert peak < 350 * 1024**2, f"{name}: the process peaked at {peak / 1024**2:.0f} MB"


# --- good files -------------------------------------------------------------------------------------


def assert_same_weights(loaded: dict, expected: dict) -> None:
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert loaded[key].dtype == torch.float32 and loaded[key].is_contiguous()
        torch.testing.assert_close(loaded[key], value.float(), rtol=0, atol=0)


def test_export_writes_the_books_keys_and_opens_as_the_books_model(tmp_path):
    state = book_state()
    path = tmp_path / "model.safetensors"
    export_state_dict(path, state)  # what Export Weights calls, for any suffix

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        assert sorted(f.keys()) == sorted(state)
        assert f.metadata() == {"format": "pt"}
        for key in state:
            torch.testing.assert_close(f.get_tensor(key), state[key], rtol=0, atol=0)
    loaded = load_model_file(path)
    assert loaded.format == "safetensors (book layout)"
    assert (loaded.architecture.inputs, loaded.architecture.hidden_sizes, loaded.architecture.outputs) == (2, (30, 20), 2)
    assert (loaded.config, loaded.history, loaded.activation, loaded.warnings) == (None, None, None, ())
    assert_same_weights(loaded.state_dict, state)
    model = loaded.build_model()
    assert_same_weights(model.state_dict(), state)


def test_export_with_settings_round_trips_them(tmp_path):
    state = book_state()
    cfg = TrainConfig(learning_rate=0.125, activation="tanh")
    path = tmp_path / "model.safetensors"
    export_safetensors(
        path,
        state,
        config=cfg,
        standardizer={"mean": [0.5, -1.0], "std": [2.0, 0.25]},
        class_names=["no", "yes"],
        feature_names=["x1", "x2"],
    )
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == FORMAT and meta["version"] == "1"
    assert json.loads(meta["config"]) == cfg.to_dict()
    loaded = load_model_file(path)
    assert loaded.format == "Torch Playground model (safetensors)"
    assert loaded.config == cfg.to_dict() and loaded.activation == "tanh"
    assert loaded.standardizer == {"mean": [0.5, -1.0], "std": [2.0, 0.25]}
    assert (loaded.class_names, loaded.feature_names) == (["no", "yes"], ["x1", "x2"])
    assert loaded.warnings == ()
    assert_same_weights(loaded.state_dict, state)


def test_save_model_file_to_a_safetensors_name_writes_safetensors(tmp_path):
    path = tmp_path / "run.SafeTensors"
    save_model_file(path, model_state=book_state(), config=TrainConfig(), history={"batch_loss": [0.5], "epochs": []})
    assert path.read_bytes()[8:9] == b"{"
    loaded = load_model_file(path)
    assert loaded.config == TrainConfig().to_dict() and loaded.history is None


def test_export_refuses_what_a_model_file_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="not the weights of an MLP"):
        export_safetensors(tmp_path / "m.safetensors", {"conv.weight": torch.zeros(2, 2, 2)}, config=TrainConfig())
    with pytest.raises(ValueError, match="standardizer"):
        export_safetensors(tmp_path / "m.safetensors", book_state(), standardizer={"mean": [0.0]})
    assert not (tmp_path / "m.safetensors").exists()


def test_a_failed_save_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.safetensors"
    export_state_dict(path, book_state())
    before = path.read_bytes()

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ModelFileError, match="the disk is full"):
        export_safetensors(path, {k: v + 1 for k, v in book_state().items()}, config=TrainConfig())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_export_of_non_contiguous_and_shared_weights(tmp_path):
    w = torch.randn(2, 3).t()  # a transposed view: not contiguous
    state = {
        "layers.0.weight": w,
        "layers.0.bias": torch.zeros(3),
        "layers.2.weight": torch.zeros(2, 3),
        "layers.2.bias": torch.zeros(2),
    }
    state["layers.2.bias"] = state["layers.0.bias"][:2]  # shares memory with another weight
    export_state_dict(tmp_path / "m.safetensors", state)
    assert_same_weights(load_model_file(tmp_path / "m.safetensors").state_dict, state)


@pytest.mark.parametrize(
    "rename, fmt",
    [
        (lambda k: k.replace("layers.", ""), "safetensors (nn.Sequential layout)"),
        (lambda k: "module." + k, "safetensors (DDP layout, module. prefix)"),
        (lambda k: k.replace("layers.", "net."), "safetensors (nn.Sequential layout, named 'net')"),
    ],
)
def test_other_layouts_open(tmp_path, rename, fmt):
    state = book_state()
    path = tmp_path / "m.safetensors"
    path.write_bytes(with_state(**{rename(k): v for k, v in state.items()}))
    loaded = load_model_file(path)
    assert loaded.format == fmt
    assert_same_weights(loaded.state_dict, state)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_dtypes_open_as_float32_with_a_note(tmp_path, dtype):
    state = book_state()
    path = tmp_path / "m.safetensors"
    path.write_bytes(with_state(**{k: v.to(dtype) for k, v in state.items()}))
    loaded = load_model_file(path)
    assert any("used as float32" in w for w in loaded.warnings)
    assert_same_weights(loaded.state_dict, {k: v.to(dtype) for k, v in state.items()})


@pytest.mark.parametrize("hidden", [(), (7,), (5, 4, 3)])
def test_any_depth_opens_with_the_right_shapes(tmp_path, hidden):
    state = NeuralNetwork(3, 4, list(hidden)).state_dict()
    path = tmp_path / "m.safetensors"
    export_state_dict(path, state)
    loaded = load_model_file(path)
    assert (loaded.architecture.inputs, loaded.architecture.hidden_sizes, loaded.architecture.outputs) == (3, hidden, 4)


def test_told_by_its_first_bytes_whatever_its_name(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(with_state(**book_state()))
    assert load_model_file(path).format == "safetensors (book layout)"


def test_a_pt_named_safetensors_still_opens_as_a_pt(tmp_path):
    path = tmp_path / "actually_torch.safetensors"
    torch.save(book_state(), path)
    assert load_model_file(path).format == "state_dict (book layout)"


def test_padded_header_and_unaligned_data_open(tmp_path):
    # The format allows trailing spaces in the header; this one also leaves the data unaligned.
    header, _ = mlp_header()
    values = torch.arange(17, dtype=torch.float32)
    text = json.dumps(header).encode() + b"   "
    path = tmp_path / "m.safetensors"
    path.write_bytes(raw_file(text, values.numpy().tobytes()))
    loaded = load_model_file(path)
    assert loaded.state_dict["layers.2.bias"].tolist() == [15.0, 16.0]


def test_unreadable_settings_are_ignored_with_a_note(tmp_path):
    state = book_state()
    meta = {"format": FORMAT, "version": "1", "config": "{not json", "class_names": '["a", "b", "c"]'}
    path = tmp_path / "m.safetensors"
    path.write_bytes(st_save({k: v.contiguous() for k, v in state.items()}, metadata=meta))
    loaded = load_model_file(path)
    assert loaded.config is None and loaded.class_names is None
    assert any("stored settings are not valid" in w for w in loaded.warnings)
    assert any("3 class names" in w for w in loaded.warnings)


def test_foreign_metadata_is_not_read_as_settings(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(st_save({k: v.contiguous() for k, v in book_state().items()}, metadata={"config": "{}", "format": "pt"}))
    loaded = load_model_file(path)
    assert loaded.config is None and loaded.warnings == ()


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no such file"):
        load_model_file(tmp_path / "nothing.safetensors")
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    with pytest.raises(ModelFileError, match="folder"):
        load_model_file(folder)


# --- the command line ------------------------------------------------------------------------------


def test_train_out_safetensors_has_the_same_weights_as_out_pt(tmp_path, capsys):
    pt, st = tmp_path / "m.pt", tmp_path / "m.safetensors"
    sets = ["--set", "dataset.name=xor", "--set", "dataset.samples=40", "--set", "dataset.standardize=true", "--quiet"]
    assert main(["train", *sets, "--out", str(pt)]) == 0
    assert main(["train", *sets, "--out", str(st)]) == 0
    out = capsys.readouterr().out
    assert f"saved {st}" in out
    a, b = load_model_file(pt), load_model_file(st)
    assert_same_weights(b.state_dict, a.state_dict)
    assert (b.config, b.standardizer, b.class_names, b.feature_names) == (
        a.config,
        a.standardizer,
        a.class_names,
        a.feature_names,
    )
    assert b.standardizer is not None

    assert main(["inspect", str(st), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "Torch Playground model (safetensors)" and info["hidden_sizes"] == [30, 20]
    assert main(["predict", str(pt), "--input=0.5,-0.5", "--json"]) == 0
    from_pt = json.loads(capsys.readouterr().out)
    assert main(["predict", str(st), "--input=0.5,-0.5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == from_pt


def test_inspect_a_foreign_safetensors_file(tmp_path, capsys):
    path = tmp_path / "hf.safetensors"
    path.write_bytes(with_state(**{k.replace("layers.", ""): v for k, v in book_state().items()}))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "format:       safetensors (nn.Sequential layout)" in out and "parameters:   752" in out
