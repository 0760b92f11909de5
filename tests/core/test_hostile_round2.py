"""Second round of hostile model files, each reproduced against the CLI before its fix: a FIFO, a file that
changes (or is cut) while it is read, more layers than the app builds, sparse files that declare gigabytes,
layer keys that alias one another, and numbers that leave float32's range."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import safetensors.torch
import torch

from core.checkpoint import ModelFileError, load_model_file
from core.predict import NonFiniteError, predict, predict_logits
from tests.core import hostile

REPO = Path(__file__).resolve().parents[2]
# Well above torch's own ~300 MB import, well below the gigabytes the sparse files declare.
REFUSED_PEAK_KB = 1024 * 1024


def _cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def _assert_one_error_line(proc: subprocess.CompletedProcess, path: Path, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    line = lines[0]
    assert str(path) in line, line
    for internal in ("Traceback", "enforce fail", "unexpected", "RuntimeError"):
        assert internal not in line, line
    for word in words:
        assert word in line, line
    return line


def _refused(path: Path, *words: str) -> str:
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    text = str(info.value)
    assert str(path) in text and "enforce fail" not in text
    for word in words:
        assert word in text, text
    return text


# --- 1. a FIFO never blocks --------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
@pytest.mark.parametrize("name", ["model.pt", "model.safetensors"])
@pytest.mark.parametrize("command", ["inspect", "predict"])
def test_a_fifo_is_refused_at_once(tmp_path, name, command):
    path = tmp_path / name
    os.mkfifo(path)
    extra = ["--input", "1,2"] if command == "predict" else []
    proc = _cli(command, str(path), *extra, timeout=60)  # before the fix: blocked until the timeout
    _assert_one_error_line(proc, path, "named pipe")


# --- 2. a file cut or changed while it is read -------------------------------------------------------

_CUT_WHILE_MAPPED = r"""
import os, sys
import safetensors, safetensors.torch
path = sys.argv[1]

def cut():
    os.truncate(path, os.path.getsize(path) // 2)

real_open, real_load = safetensors.safe_open, safetensors.torch.load

def cutting_open(*args, **kwargs):  # a mapped file truncated under the reader: SIGBUS on the next touch
    handle = real_open(*args, **kwargs)
    cut()
    return handle

def cutting_load(data):  # the bytes were already read: the file is cut after the read
    cut()
    return real_load(data)

safetensors.safe_open, safetensors.torch.load = cutting_open, cutting_load
from core.checkpoint import ModelFileError, load_model_file
try:
    load_model_file(path)
    print("LOADED")
except ModelFileError as exc:
    print("REFUSED", exc)
"""


def _big_safetensors(path: Path) -> None:
    state = hostile.mlp_state(inputs=256, hidden=(1024,), outputs=2)  # ~1 MB: pages beyond the cut
    safetensors.torch.save_file(dict(state), str(path))


def test_safetensors_cut_while_read_is_refused_not_a_crash(tmp_path):
    path = tmp_path / "m.safetensors"
    _big_safetensors(path)
    proc = subprocess.run(
        [sys.executable, "-c", _CUT_WHILE_MAPPED, str(path)], cwd=REPO, capture_output=True, text=True, timeout=90
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])  # -7 (SIGBUS) before the fix
    assert proc.stdout.startswith("REFUSED"), proc.stdout
    assert "changed while it was being read" in proc.stdout and str(path) in proc.stdout


def _touch_later(path: Path, grow: bool) -> None:
    if grow:
        with open(path, "ab") as f:
            f.write(b"\0")
    else:  # same size, another mtime: rewritten in place
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))


@pytest.mark.parametrize("grow", [True, False], ids=["grows", "rewritten"])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_pt_changed_while_read_is_refused(tmp_path, monkeypatch, legacy, grow):
    path = tmp_path / "m.pt"
    torch.save(hostile.mlp_state(), path, _use_new_zipfile_serialization=not legacy)
    real = torch.load

    def changing_load(*args, **kwargs):
        _touch_later(path, grow)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", changing_load)
    _refused(path, "changed while it was being read")


@pytest.mark.parametrize("grow", [True, False], ids=["grows", "rewritten"])
def test_safetensors_changed_while_read_is_refused(tmp_path, monkeypatch, grow):
    path = tmp_path / "m.safetensors"
    safetensors.torch.save_file(dict(hostile.mlp_state()), str(path))
    real = safetensors.torch.load
    monkeypatch.setattr(safetensors.torch, "load", lambda data: (_touch_later(path, grow), real(data))[1])
    # Before the fix the file was memory-mapped (safe_open) and a same-size rewrite went unseen.
    monkeypatch.setattr(safetensors, "safe_open", lambda *a, **k: (_touch_later(path, grow), pytest.fail("mapped"))[1])
    _refused(path, "changed while it was being read")


# --- 3a. more layers than the app builds ---------------------------------------------------------------


def _chain(linear_layers: int) -> OrderedDict:
    """1x1 Linear layers, all views of one storage (torch.save keeps them one storage: a small file)."""
    base = torch.randn(2 * linear_layers)
    state: OrderedDict = OrderedDict()
    for n in range(linear_layers):
        state[f"layers.{2 * n}.weight"] = base[2 * n : 2 * n + 1].view(1, 1)
        state[f"layers.{2 * n}.bias"] = base[2 * n + 1 : 2 * n + 2]
    return state


def test_more_layers_than_the_app_builds_are_refused_before_a_model_is_built(tmp_path, monkeypatch):
    path = tmp_path / "deep.pt"
    torch.save(_chain(7_500), path)  # 15,000 tensors: predict took 54 s in load_state_dict
    monkeypatch.setattr(torch.nn.Module, "load_state_dict", lambda *a, **k: pytest.fail("a model was built"))
    _refused(path, "15,000 weights", "65 linear layers")  # and no model was built (load_state_dict fails the test)


def test_the_layer_limit_is_the_configs(tmp_path):
    ok, deep = tmp_path / "ok.pt", tmp_path / "deep.pt"
    torch.save(_chain(65), ok)  # 64 hidden layers: the config's most
    torch.save(_chain(66), deep)
    assert load_model_file(ok).architecture.hidden_sizes == (1,) * 64
    _refused(deep, "132 weights")


def test_too_many_layers_in_the_cli(tmp_path):
    path = tmp_path / "deep.pt"
    torch.save(_chain(7_500), path)
    _assert_one_error_line(_cli("predict", str(path), "--input", "1", timeout=60), path, "weights")


# --- 3b. sparse files that declare gigabytes ------------------------------------------------------------

# A hidden layer this wide makes the MLP 2 -> N -> 2 declare 5N + 2 float32 values: about 1.2 GB.
_WIDE = 60_000_000


def _sparse_legacy(path: Path) -> None:
    """torch's legacy format, every storage declared and "present", as holes: ~1 KB of disk for 1.2 GB."""
    numels = {"0": 2 * _WIDE, "1": _WIDE, "2": 2 * _WIDE, "3": 2}
    s = {key: hostile._Storage(key, n) for key, n in numels.items()}
    state = OrderedDict(
        [
            ("layers.0.weight", hostile._Tensor(s["0"], (_WIDE, 2), (2, 1))),
            ("layers.0.bias", hostile._Tensor(s["1"], (_WIDE,), (1,))),
            ("layers.2.weight", hostile._Tensor(s["2"], (2, _WIDE), (_WIDE, 1))),
            ("layers.2.bias", hostile._Tensor(s["3"], (2,), (1,))),
        ]
    )
    out = io.BytesIO()
    for header in (torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(hostile._torch_pickle(state, legacy=True))
    pickle.dump(list(numels), out, protocol=2)
    with open(path, "wb") as f:
        f.write(out.getvalue())
        for n in numels.values():
            f.write(struct.pack("<q", n))
            f.seek(4 * n, os.SEEK_CUR)
        f.truncate()


def _sparse_safetensors(path: Path) -> None:
    shapes = {"layers.0.weight": [_WIDE, 2], "layers.0.bias": [_WIDE], "layers.2.weight": [2, _WIDE], "layers.2.bias": [2]}
    header, position = {}, 0
    for name, shape in shapes.items():
        nbytes = 4 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [position, position + nbytes]}
        position += nbytes
    raw = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + position)


# The child's own peak resident size: VmHWM, reset first (/proc/self/clear_refs). Not ru_maxrss: Linux keeps
# it across exec, so a child of a pytest that has grown to 2 GB started at 2 GB (this failed in the suite).
_PEAK = r"""
import sys
def hwm():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
from core.cli import main
rc = main(sys.argv[1:])
print("PEAK_KB", hwm())
sys.exit(rc)
"""


@pytest.mark.parametrize("build, name", [(_sparse_legacy, "wide.pt"), (_sparse_safetensors, "wide.safetensors")])
def test_sparse_files_are_counted_by_what_they_declare(tmp_path, build, name):
    path = tmp_path / name
    build(path)
    assert os.path.getsize(path) > 1024**3
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, "inspect", str(path)], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    peak_kb = int(proc.stdout.split("PEAK_KB")[-1])
    _assert_one_error_line(proc, path, "declare")
    assert peak_kb < REFUSED_PEAK_KB, f"peak {peak_kb // 1024} MB"


def test_half_precision_counts_as_the_float32_it_becomes(tmp_path):
    # 300 million float16 values are 600 MB in the file and 1.2 GB once used as float32.
    n = 150_000_000
    header = {
        "layers.0.weight": {"dtype": "F16", "shape": [n, 1], "data_offsets": [0, 2 * n]},
        "layers.0.bias": {"dtype": "F16", "shape": [n], "data_offsets": [2 * n, 4 * n]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "half.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + 4 * n)
    _refused(path, "declare")


# --- 4. layer keys parsed strictly ---------------------------------------------------------------------


def _with(extra: dict, *, drop: tuple[str, ...] = (), prefix: str = "", sequential: bool = False) -> OrderedDict:
    state = OrderedDict((k, v) for k, v in hostile.mlp_state().items() if k not in drop)
    state.update(extra)
    if sequential:
        state = OrderedDict((k.removeprefix("layers."), v) for k, v in state.items())
    return OrderedDict((prefix + k, v) for k, v in state.items())


ALIASES = {
    "leading zero": (_with({"layers.00.weight": torch.zeros(3, 2)}), "'layers.00.weight'"),
    "arabic-indic digit": (_with({"layers.\u0660.weight": torch.zeros(3, 2)}, drop=("layers.0.weight",)), "U+0660"),
    "arabic-indic alias": (_with({"layers.\u0660.weight": torch.zeros(3, 2)}), "U+0660"),
    "sequential leading zero": (_with({"layers.00.weight": torch.zeros(3, 2)}, sequential=True), "'00.weight'"),
    "sequential arabic-indic": (
        _with({"layers.\u0662.bias": torch.zeros(2)}, drop=("layers.2.bias",), sequential=True),
        "U+0662",
    ),
    "module prefix": (_with({"layers.00.weight": torch.zeros(3, 2)}, prefix="module."), "'module.layers.00.weight'"),
    "fullwidth digit": (_with({"layers.\uff10.weight": torch.zeros(3, 2)}, drop=("layers.0.weight",)), "U+FF10"),
}


@pytest.mark.parametrize("name", list(ALIASES))
def test_layer_keys_are_canonical_decimals(tmp_path, name):
    state, named = ALIASES[name]
    path = tmp_path / "alias.pt"
    torch.save(state, path)
    _refused(path, named, "plain decimal")


def test_an_alias_is_refused_in_the_cli_not_reported(tmp_path):
    path = tmp_path / "alias.pt"
    torch.save(ALIASES["leading zero"][0], path)
    proc = _cli("inspect", "--json", str(path))
    _assert_one_error_line(proc, path, "layers.00.weight")
    assert proc.stdout == ""


# --- 5. non-finite numbers are errors -----------------------------------------------------------------


def _overflowing(path: Path) -> None:
    state = hostile.mlp_state()
    state["layers.0.weight"] = torch.full((3, 2), 1e30)  # finite, but 1e30 * 1e10 is beyond float32
    torch.save(state, path)


def test_an_output_beyond_float32_is_an_error(tmp_path):
    path = tmp_path / "big.pt"
    _overflowing(path)
    for extra in ([], ["--json"]):
        proc = _cli("predict", str(path), "--input", "1,1", "--input", "1e10,1e10", *extra)
        _assert_one_error_line(proc, path, "input 2", "not finite")
        assert "predicted" not in proc.stdout


def test_the_window_gets_the_same_check(tmp_path):
    path = tmp_path / "big.pt"
    _overflowing(path)
    model = load_model_file(path).build_model()
    with pytest.raises(NonFiniteError, match="input 1 is not finite"):
        predict_logits(model, [[1e10, 1e10]])
    with pytest.raises(ValueError, match="input 2"):  # the window catches ValueError
        predict(model, [[0.0, 0.0], [float("inf"), 0.0]])
    assert not predict_logits(model, [[1e10, 1e10]], check_finite=False).isfinite().all()


def test_an_input_beyond_float32_is_an_error(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(hostile.mlp_state(), path)
    proc = _cli("predict", str(path), "--input=0,1e39")
    _assert_one_error_line(proc, path, "input 1", "float32")


@pytest.mark.parametrize("std", [1e-300, 0.0, 1e-20, -1.0, float("nan"), 1e300])
def test_a_standardizer_that_would_blow_up_is_refused(tmp_path, std):
    path = tmp_path / "app.pt"
    torch.save(hostile.app_payload(standardizer={"mean": [0.0, 0.0], "std": [1.0, std]}), path)
    _refused(path, "standardization", "feature 2")


def test_a_mean_beyond_float32_is_refused(tmp_path):
    path = tmp_path / "app.pt"
    torch.save(hostile.app_payload(standardizer={"mean": [1e39, 0.0], "std": [1.0, 1.0]}), path)
    _refused(path, "standardization", "feature 1")


def test_a_tiny_standardizer_is_refused_in_the_cli(tmp_path):
    path = tmp_path / "app.pt"
    torch.save(hostile.app_payload(standardizer={"mean": [0.0, 0.0], "std": [1.0, 1e-300]}), path)
    _assert_one_error_line(_cli("predict", str(path), "--input", "1,1", "--json"), path, "std")


def test_predict_json_is_strict_json(tmp_path):
    path = tmp_path / "m.pt"
    torch.save(hostile.mlp_state(), path)
    proc = _cli("predict", str(path), "--input", "1,2", "--input=-3e30,4", "--json")
    assert proc.returncode in (0, 2), proc.stderr
    if proc.returncode == 0:

        def no_constants(name):
            raise AssertionError(f"{name} is not JSON")

        out = json.loads(proc.stdout, parse_constant=no_constants)
        assert [len(item["logits"]) for item in out] == [2, 2]
    else:
        _assert_one_error_line(proc, path, "not finite")


@pytest.mark.parametrize("form", ["zip", "legacy", "safetensors"])
def test_the_declared_bytes_bound_holds_in_every_format(tmp_path, monkeypatch, form):
    # The bound itself is 512 MiB; a lower one shows each format counts before it loads anything.
    import core.checkpoint.limits as limits

    path = tmp_path / ("m.safetensors" if form == "safetensors" else "m.pt")
    state = hostile.mlp_state()
    if form == "safetensors":
        safetensors.torch.save_file(dict(state), str(path))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=form == "zip")
    assert load_model_file(path).architecture.inputs == 2
    monkeypatch.setattr(limits, "MAX_TENSOR_BYTES", 4 * 16)  # the MLP 2 -> 3 -> 2 has 17 values
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load ran"))
    monkeypatch.setattr(safetensors.torch, "load", lambda *a, **k: pytest.fail("the tensors were read"))
    _refused(path, "declare")
