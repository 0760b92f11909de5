"""Model files: round trips, the book's own files, every accepted layout, atomic saves, and hostile files refused."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import re
import stat
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from core.checkpoint import (
    FORMAT,
    VERSION,
    LoadedModel,
    ModelFileError,
    atomic_torch_save,
    export_state_dict,
    load_model_file,
    pickle_scan,
    save_model_file,
)
from core.checkpoint import load as checkpoint_load
from core.config import DatasetConfig, TrainConfig
from core.events import EpochEnd
from core.history import History
from core.model import NeuralNetwork

try:
    from tests.core import hostile
except ImportError:  # tests/ is not a package: pytest put this folder on sys.path
    import hostile

REPO = Path(__file__).resolve().parents[2]


def book_model() -> NeuralNetwork:
    torch.manual_seed(123)
    return NeuralNetwork(2, 2)


def assert_same_weights(loaded: dict, expected: dict) -> None:
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        assert loaded[key].dtype == torch.float32
        assert loaded[key].is_contiguous()
        torch.testing.assert_close(loaded[key], value.float(), rtol=0, atol=0)


# --- the book's files and the app's own ------------------------------------------------------------


def test_book_save_opens_as_the_books_model(tmp_path):
    model = book_model()
    path = tmp_path / "model.pth"
    torch.save(model.state_dict(), path)  # the book's own line

    loaded = load_model_file(path)

    assert isinstance(loaded, LoadedModel)
    assert loaded.architecture.inputs == 2
    assert loaded.architecture.hidden_sizes == (30, 20)
    assert loaded.architecture.outputs == 2
    assert loaded.architecture.parameters == 752
    assert loaded.format == "state_dict (book layout)"
    assert loaded.path == str(path)
    assert (loaded.activation, loaded.config, loaded.history, loaded.optimizer_state) == (None, None, None, None)
    assert loaded.warnings == ()
    assert_same_weights(loaded.state_dict, model.state_dict())
    x = torch.tensor([[0.5, -1.0]])
    torch.testing.assert_close(loaded.build_model()(x), model(x))


def _trained_run():
    model = book_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        optimizer.zero_grad()
        model(torch.randn(4, 2)).sum().backward()
        optimizer.step()
    return model, optimizer


def test_app_file_round_trip(tmp_path):
    model, optimizer = _trained_run()
    config = TrainConfig().with_changes(optimizer="adam", learning_rate=0.01, activation="relu")
    losses = np.linspace(1.0, 0.0, 1000)
    epochs = [EpochEnd(epoch=1, step=1000, train_loss=0.5, test_loss=None, train_accuracy=1.0, test_accuracy=None, elapsed=2.0)]
    path = tmp_path / "run.pt"

    save_model_file(
        path,
        model_state=model.state_dict(),
        config=config,
        history=History(losses, epochs),
        optimizer_state=optimizer.state_dict(),
        standardizer={"mean": np.array([0.5, -0.25]), "std": [1.0, 2.0]},
        class_names=["no", "yes"],
        feature_names=["x1", "x2"],
    )
    loaded = load_model_file(path)

    assert loaded.format == "Torch Playground model"
    assert loaded.warnings == ()
    assert_same_weights(loaded.state_dict, model.state_dict())
    assert loaded.config == config.to_dict()
    assert loaded.activation == "relu"
    assert isinstance(loaded.history, History)
    np.testing.assert_array_equal(loaded.history.losses(), losses)
    assert loaded.history.epochs == epochs
    assert loaded.standardizer == {"mean": [0.5, -0.25], "std": [1.0, 2.0]}
    assert loaded.class_names == ["no", "yes"]
    assert loaded.feature_names == ["x1", "x2"]
    fresh = torch.optim.Adam(NeuralNetwork(2, 2).parameters(), lr=0.01)
    fresh.load_state_dict(loaded.optimizer_state)
    exp_avg = optimizer.state_dict()["state"][0]["exp_avg"]
    torch.testing.assert_close(fresh.state_dict()["state"][0]["exp_avg"], exp_avg)

    # The book's code reads the same file with nothing but torch.
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["format"] == FORMAT and ckpt["version"] == VERSION
    book = NeuralNetwork(2, 2)
    book.load_state_dict(ckpt["model_state_dict"])
    assert_same_weights(book.state_dict(), model.state_dict())


def test_logistic_regression_round_trip(tmp_path):
    # No hidden layer at all: the book's MLP with hidden_sizes=() is one Linear layer.
    torch.manual_seed(0)
    model = NeuralNetwork(4, 3, ())
    path = tmp_path / "logreg.pt"
    save_model_file(path, model_state=model.state_dict(), config=TrainConfig(hidden_sizes=()))
    loaded = load_model_file(path)
    assert (loaded.architecture.inputs, loaded.architecture.hidden_sizes, loaded.architecture.outputs) == (4, (), 3)
    assert loaded.config["hidden_sizes"] == [] and loaded.warnings == ()
    assert_same_weights(loaded.state_dict, model.state_dict())


def test_non_mlp_is_named_before_its_buffers(tmp_path):
    conv = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    torch.save(conv.state_dict(), tmp_path / "cnn.pt")  # includes int64 num_batches_tracked
    with pytest.raises(ModelFileError, match="not those of an MLP"):
        load_model_file(tmp_path / "cnn.pt")


def test_batch_loss_is_stored_as_one_compact_tensor(tmp_path):
    path = tmp_path / "run.pt"
    losses = [float(i) for i in range(100_000)]
    save_model_file(path, model_state=book_model().state_dict(), config=TrainConfig(), history={"batch_loss": losses})
    ckpt = torch.load(path, weights_only=True)
    assert isinstance(ckpt["history"]["batch_loss"], torch.Tensor)
    assert ckpt["history"]["batch_loss"].dtype == torch.float64
    assert path.stat().st_size < 8 * len(losses) + 50_000
    np.testing.assert_array_equal(load_model_file(path).history.losses(), losses)


def test_history_is_converted_once_and_the_dict_form_still_saves(tmp_path):
    epoch = EpochEnd(epoch=1, step=2, train_loss=0.7, test_loss=0.6, train_accuracy=0.5, test_accuracy=1.0, elapsed=0.1)
    history = History([0.75, 0.65], [epoch])
    for given in (history, history.to_dict()):
        path = tmp_path / "run.pt"
        save_model_file(path, model_state=book_model().state_dict(), config=TrainConfig(), history=given)
        loaded = load_model_file(path).history
        assert isinstance(loaded, History)
        assert list(loaded.batch_loss) == [0.75, 0.65] and loaded.epochs == [epoch]
        # The file itself keeps the format every version wrote: one float64 tensor and a list of dicts.
        stored = torch.load(path, weights_only=True)["history"]
        assert stored["batch_loss"].dtype == torch.float64 and stored["epochs"] == [history.to_dict()["epochs"][0]]
    with pytest.raises(ValueError, match="epoch record has no 'step'"):
        save_model_file(
            tmp_path / "bad.pt", model_state=book_model().state_dict(), config=TrainConfig(), history={"epochs": [{"epoch": 1}]}
        )


def test_trainer_fields_save_everything_a_trainer_knows(tmp_path):
    from core.checkpoint import trainer_fields
    from core.training import Trainer

    trainer = Trainer(TrainConfig(dataset=DatasetConfig(name="iris", standardize=True), batch_size=16, epochs=2))
    trainer.fit()
    path = tmp_path / "run.pt"
    save_model_file(path, **trainer_fields(trainer))
    loaded = load_model_file(path)
    assert loaded.warnings == ()
    assert loaded.config == trainer.cfg.to_dict()
    assert list(loaded.history.batch_loss) == list(trainer.history.batch_loss)
    assert loaded.history.epochs == trainer.history.epochs
    assert loaded.standardizer == trainer.data.standardizer.to_dict()
    assert loaded.class_names == list(trainer.data.class_names)
    assert loaded.feature_names == list(trainer.data.feature_names)
    assert_same_weights(loaded.state_dict, trainer.state_dict_cpu())
    fresh = Trainer(trainer.cfg, initial_state=loaded.state_dict, optimizer_state=loaded.optimizer_state)
    assert fresh.optimizer.state_dict()["param_groups"] == trainer.optimizer.state_dict()["param_groups"]


def test_export_is_what_the_books_save_writes(tmp_path):
    model = book_model()
    exported, book = tmp_path / "export.pth", tmp_path / "book.pth"
    export_state_dict(exported, model.state_dict())
    torch.save(model.state_dict(), book)

    ours, theirs = torch.load(exported, weights_only=True), torch.load(book, weights_only=True)
    assert type(ours) is type(theirs) is OrderedDict
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert ours._metadata == theirs._metadata
    fresh = NeuralNetwork(2, 2)
    fresh.load_state_dict(torch.load(exported, weights_only=True))  # the book's loading line
    assert load_model_file(exported).format == "state_dict (book layout)"


def test_saved_tensors_are_compact_copies(tmp_path):
    # A view drags its whole storage into a file unless it is cloned first.
    big = torch.randn(1000, 1000)
    state = OrderedDict([("layers.0.weight", big[:3, :2]), ("layers.0.bias", big[0, :3])])
    path = tmp_path / "small.pt"
    export_state_dict(path, state)
    assert path.stat().st_size < 10_000
    big.zero_()
    assert load_model_file(path).state_dict["layers.0.weight"].abs().sum() > 0


# --- every accepted layout ---------------------------------------------------------------------------


def _forms(state: OrderedDict) -> dict:
    seq = OrderedDict((k.removeprefix("layers."), v) for k, v in state.items())
    return {
        "book": (state, "state_dict (book layout)"),
        "plain dict": (dict(state), "state_dict (book layout)"),
        "nn.Sequential": (seq, "nn.Sequential state_dict"),
        "named Sequential": (OrderedDict(("net." + k, v) for k, v in seq.items()), "nn.Sequential state_dict (named 'net')"),
        "DDP": (OrderedDict(("module." + k, v) for k, v in state.items()), "DDP state_dict (module. prefix)"),
        "DDP Sequential": (OrderedDict(("module." + k, v) for k, v in seq.items()), "DDP state_dict (module. prefix)"),
        "torch.compile": (
            OrderedDict(("_orig_mod." + k, v) for k, v in state.items()),
            "torch.compile state_dict (_orig_mod. prefix)",
        ),
        "model_state_dict": ({"epoch": 3, "model_state_dict": state, "loss": 0.1}, "state_dict inside 'model_state_dict'"),
        "state_dict": ({"state_dict": state, "optimizer": {"lr": 0.1}}, "state_dict inside 'state_dict'"),
        "model": ({"model": seq}, "nn.Sequential state_dict inside 'model'"),
        "DDP in wrapper": (
            {"state_dict": OrderedDict(("module." + k, v) for k, v in state.items())},
            "DDP state_dict (module. prefix) inside 'state_dict'",
        ),
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("form", list(_forms(OrderedDict())))
def test_accepted_layouts(tmp_path, form, legacy):
    state = book_model().state_dict()
    obj, description = _forms(state)[form]
    path = tmp_path / "m.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)

    loaded = load_model_file(path)

    assert loaded.format == description
    assert loaded.architecture.hidden_sizes == (30, 20)
    assert_same_weights(loaded.state_dict, state)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_types_are_used_as_float32(tmp_path, dtype):
    state = OrderedDict((k, v.to(dtype)) for k, v in book_model().state_dict().items())
    torch.save(state, tmp_path / "m.pt")
    loaded = load_model_file(tmp_path / "m.pt")
    assert_same_weights(loaded.state_dict, state)
    assert any(str(dtype).replace("torch.", "") in w for w in loaded.warnings)


def test_parameters_and_slices_are_plain_copies(tmp_path):
    model = book_model()
    torch.save(model.state_dict(keep_vars=True), tmp_path / "params.pt")  # nn.Parameter values
    loaded = load_model_file(tmp_path / "params.pt")
    assert all(type(t) is torch.Tensor and not t.requires_grad for t in loaded.state_dict.values())

    big = torch.randn(100, 100)
    torch.save({"layers.0.weight": big[:3, :2], "layers.0.bias": big[5, :3]}, tmp_path / "views.pt")
    weights = load_model_file(tmp_path / "views.pt").state_dict
    assert all(t.untyped_storage().nbytes() == t.numel() * 4 for t in weights.values())


def test_gpu_saved_file_opens_on_cpu(tmp_path):
    path = tmp_path / "gpu.pt"
    hostile.make_gpu_saved(path)
    with zipfile.ZipFile(path) as zf:
        assert b"cuda:0" in zf.read("archive/data.pkl")
    if not torch.cuda.is_available():  # proof the file really is tagged for a GPU
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(path, weights_only=True)
    loaded = load_model_file(path)
    assert all(t.device.type == "cpu" for t in loaded.state_dict.values())
    assert_same_weights(loaded.state_dict, hostile.mlp_state())


def test_file_saved_without_checksums_opens_with_a_warning(tmp_path):
    config = getattr(getattr(torch.utils, "serialization", None), "config", None)
    if config is None or not hasattr(config.save, "compute_crc32"):
        pytest.skip("this torch cannot save without CRC32s")
    previous = config.save.compute_crc32
    config.save.compute_crc32 = False
    try:
        torch.save(book_model().state_dict(), tmp_path / "m.pt")
    finally:
        config.save.compute_crc32 = previous
    loaded = load_model_file(tmp_path / "m.pt")
    assert any("checksums" in w for w in loaded.warnings)


# --- the app's metadata: problems become warnings, never crashes ---------------------------------------


def _app_file(tmp_path, **changes) -> Path:
    path = tmp_path / "app.pt"
    torch.save(hostile.app_payload(**changes), path)
    return path


def test_invalid_stored_config_is_ignored_with_a_warning(tmp_path):
    loaded = load_model_file(_app_file(tmp_path, config={"hidden_sizes": [3], "learning_rate": -1}))
    assert loaded.config is None and loaded.activation is None
    assert any("learning_rate" in w for w in loaded.warnings)


def test_config_hidden_sizes_follow_the_weights(tmp_path):
    loaded = load_model_file(_app_file(tmp_path, config={"hidden_sizes": [30, 20], "activation": "tanh"}))
    assert loaded.config["hidden_sizes"] == [3]
    assert loaded.activation == "tanh"
    assert any("hidden sizes" in w for w in loaded.warnings)


@pytest.mark.timeout(120)
def test_shared_structures_cannot_blow_up(tmp_path):
    # 40 levels of [x, x]: 2**40 leaves if anything walked, printed or serialized it as a tree.
    value: list = [1]
    for _ in range(40):
        value = [value, value]
    # A walk of the tree would never end: pytest-timeout (the mark) turns that into a failure.
    loaded = load_model_file(_app_file(tmp_path, config={"hidden_sizes": value}, optimizer_state_dict={"state": value}))
    assert loaded.config is None and loaded.optimizer_state is None
    assert len(loaded.warnings) == 2


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"history": [1, 2]}, "history"),
        ({"history": {"batch_loss": ["a"], "epochs": []}}, "history"),
        ({"optimizer_state_dict": "adam"}, "optimizer_state"),
        ({"standardizer": {"mean": [0.0], "std": [1.0]}}, "standardizer"),
        ({"class_names": ["a", "b", "c"]}, "class_names"),
        ({"feature_names": [1, 2]}, "feature_names"),
    ],
)
def test_bad_metadata_is_ignored_with_a_warning(tmp_path, changes, field):
    loaded = load_model_file(_app_file(tmp_path, **changes))
    assert getattr(loaded, field) is None
    assert len(loaded.warnings) == 1
    assert_same_weights(loaded.state_dict, hostile.mlp_state())


def test_epoch_records_that_are_not_epochs_are_ignored_with_a_warning(tmp_path):
    # Before History was read here, such a record came through as a dict and broke whoever rebuilt the History.
    partial = {"batch_loss": torch.tensor([0.5], dtype=torch.float64), "epochs": [{"epoch": 1, "train_loss": 0.5}]}
    loaded = load_model_file(_app_file(tmp_path, history=partial))
    assert loaded.history is None
    assert loaded.warnings == ("its training history could not be read and was ignored (an epoch record has no 'step')",)


def test_old_files_history_opens(tmp_path):
    # What the app has always written: the losses as a float64 tensor, each epoch as asdict(EpochEnd).
    record = {"epoch": 1, "step": 2, "train_loss": 0.7, "test_loss": None, "train_accuracy": 1.0,
              "test_accuracy": None, "elapsed": 0.25}  # fmt: skip
    old = {"batch_loss": torch.tensor([0.75, 0.65], dtype=torch.float64), "epochs": [record]}
    loaded = load_model_file(_app_file(tmp_path, history=old))
    assert loaded.warnings == ()
    assert list(loaded.history.batch_loss) == [0.75, 0.65] and loaded.history.epochs == [EpochEnd(**record)]


def test_epoch_fields_are_every_field_of_epoch_end():
    from dataclasses import fields

    from core.checkpoint import app_format

    assert list(app_format._EPOCH_FIELDS) == [f.name for f in fields(EpochEnd)]


# --- atomic saves -------------------------------------------------------------------------------------


def _existing(tmp_path) -> tuple[Path, bytes]:
    path = tmp_path / "model.pt"
    save_model_file(path, model_state=book_model().state_dict(), config=TrainConfig())
    return path, path.read_bytes()


def _fail_torch_save(obj, f, *args, **kwargs):
    f.write(b"PK\x03\x04 half a file")
    raise RuntimeError("disk on fire")


def _fail(exc):
    def fail(*args, **kwargs):
        raise exc

    return fail


@pytest.mark.parametrize(
    "target, replacement, error",
    [
        (torch, ("save", _fail_torch_save), RuntimeError),
        (os, ("fsync", _fail(OSError(errno.EIO, "I/O error"))), ModelFileError),
        (os, ("replace", _fail(OSError(errno.EACCES, "Permission denied"))), ModelFileError),
        (os, ("replace", _fail(KeyboardInterrupt())), KeyboardInterrupt),
    ],
    ids=["torch.save", "fsync", "os.replace", "interrupted"],
)
def test_failed_save_keeps_the_old_file(tmp_path, monkeypatch, target, replacement, error):
    path, before = _existing(tmp_path)
    monkeypatch.setattr(target, *replacement)
    with pytest.raises(error):
        save_model_file(path, model_state=NeuralNetwork(2, 2).state_dict(), config=TrainConfig())
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.pt"]
    assert_same_weights(load_model_file(path).state_dict, book_model().state_dict())


def test_killed_save_keeps_the_old_file(tmp_path):
    path, before = _existing(tmp_path)
    script = (
        "import os, torch\n"
        "from core.checkpoint import save_model_file\n"
        "from core.model import NeuralNetwork\n"
        "def dying_save(obj, f, *a, **k):\n"
        "    f.write(b'PK\\x03\\x04 half'); f.flush(); os._exit(9)\n"
        "torch.save = dying_save\n"
        f"save_model_file({str(path)!r}, model_state=NeuralNetwork(2, 2).state_dict(), config={{}})\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120)
    assert result.returncode == 9, result.stderr.decode()
    assert path.read_bytes() == before
    assert_same_weights(load_model_file(path).state_dict, book_model().state_dict())


def test_atomic_save_replaces_and_leaves_nothing_else(tmp_path):
    path, _ = _existing(tmp_path)
    atomic_torch_save({"a": torch.ones(2)}, path)
    assert os.listdir(tmp_path) == ["model.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_new_files_get_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = tmp_path / "m.pth"
    export_state_dict(path, book_model().state_dict())
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_save_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(ModelFileError, match="folder .* does not exist") as info:
        export_state_dict(tmp_path / "nowhere" / "m.pth", book_model().state_dict())
    assert str(info.value).startswith("cannot save ")
    with pytest.raises(ValueError, match="not the weights of an MLP"):
        save_model_file(tmp_path / "m.pt", model_state={"conv.weight": torch.ones(1, 1, 3, 3)}, config={})
    with pytest.raises(ValueError, match="plain values"):
        save_model_file(tmp_path / "m.pt", model_state=book_model().state_dict(), config={"f": object()})
    assert os.listdir(tmp_path) == []


# --- hostile files ------------------------------------------------------------------------------------

# What each refusal must name (case-insensitive).
EXPECTED = {
    "code_zip_os_system": "contains code",
    "code_legacy_os_system": "contains code",
    "code_zip_eval": "contains code",
    "code_legacy_exec": "contains code",
    "code_in_config": "contains code",
    "code_in_history": "contains code",
    "code_protocol4": "contains code",
    "code_plain_pickle": "contains code",
    "whole_model_zip": "whole pickled model",
    "whole_model_legacy": "whole pickled model",
    "torchscript": "TorchScript",
    "holds_list": "holds a list, not model weights",
    "holds_tensor": "single tensor",
    "holds_strings": "without any tensors",
    "holds_empty_dict": "without any tensors",
    "newer_version": "newer",
    "deeply_nested": "holds a list",
    "empty": "empty",
    "missing": "no such file",
    "directory": "folder",
    "truncated_zip": "cut short",
    "truncated_legacy": "cut short",
    "random_bytes": "not a PyTorch model file",
    "text": "text file",
    "html_page": "web page",
    "lfs_pointer": "Git LFS",
    "zip_without_data_pkl": "no data.pkl",
    "zip_duplicate_member": "same part twice",
    "flipped_byte": "damaged",
    "nan_weights": "non-finite",
    "inf_weights": "non-finite",
    "int_weights": "whole numbers",
    "bool_weights": "true/false",
    "complex_weights": "complex",
    "sparse_weights": "sparse",
    "quantized_weights": "quantized",
    "meta_weights": "meta tensor",
    "not_mlp": "not those of an MLP",
    "shapes_dont_chain": "do not chain",
    "expanded_tensor": "claims 1,000,000,000 values",
    "zip_bomb": "decompression bomb",
    "zip_size_mismatch": "declares",
    "legacy_huge_storage": "declares 381 MB",
    "bytearray_bomb": "not plain weights",
    "many_objects": "memory",
    "huge_file": "larger than",
    "pickle_protocol4": "protocol 4",
}


def test_every_hostile_kind_has_an_expected_reason():
    assert set(EXPECTED) == set(hostile.HOSTILE)


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, build in hostile.HOSTILE.items():
        build(folder / f"{name}.pt")
    return folder


@pytest.mark.parametrize("name", sorted(hostile.HOSTILE))
def test_hostile_file_is_refused(hostile_dir, name):
    path = hostile_dir / f"{name}.pt"
    with pytest.raises(ModelFileError) as info:
        load_model_file(path)
    message = str(info.value)
    assert message.startswith(f"cannot open {path}: ")
    assert "\n" not in message
    assert EXPECTED[name].lower() in message.lower(), message
    if name.startswith("code_"):
        assert "nothing in it was run" in message
    assert not os.path.exists(hostile.marker_path(path)), "the file's code ran"


class _UnsafeUnpickler(pickle.Unpickler):
    """Runs whatever the pickle asks for: used only to prove that the payloads above are live."""

    def persistent_load(self, pid):
        dtype = torch.uint8 if pid[1] is torch.UntypedStorage else pid[1].dtype
        return torch.storage.TypedStorage(wrap_storage=torch.UntypedStorage(pid[4] * dtype.itemsize), dtype=dtype, _internal=True)


def _run_payload_unsafely(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            with zipfile.ZipFile(path) as zf:
                name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
                _UnsafeUnpickler(io.BytesIO(zf.read(name))).load()
            return
        f.seek(0)
        first = _UnsafeUnpickler(f).load()
        if first == torch.serialization.MAGIC_NUMBER:  # a legacy torch file: protocol, sys_info, then the object
            _UnsafeUnpickler(f).load()
            _UnsafeUnpickler(f).load()
            _UnsafeUnpickler(f).load()


@pytest.mark.filterwarnings(
    "ignore:TypedStorage is deprecated", "ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning"
)
@pytest.mark.skipif(os.name != "posix", reason="the os.system payloads use touch")
@pytest.mark.parametrize("name", hostile.CODE_RUNNING)
def test_code_payloads_are_live(tmp_path, name):
    # Without this, "the marker was not created" could pass because the payload never worked.
    path = tmp_path / f"{name}.pt"
    hostile.HOSTILE[name](path)
    _run_payload_unsafely(path)
    assert os.path.exists(hostile.marker_path(path))


def test_refused_file_leaves_no_trace(hostile_dir, tmp_path):
    # A refusal neither changes the file nor writes anything beside it.
    path = hostile_dir / "code_zip_os_system.pt"
    before = path.read_bytes()
    listing = sorted(os.listdir(hostile_dir))
    with pytest.raises(ModelFileError):
        load_model_file(path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(hostile_dir)) == listing


_MEMORY_SCRIPT = """
import json, resource, sys
from core.checkpoint import ModelFileError, load_model_file

def reset_peak():
    # Linux: "5" resets VmHWM to the current RSS, so one process can measure several files in turn.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

def peak():
    # ru_maxrss also counts the peak of the process that forked this one (pytest's own memory);
    # Linux's VmHWM is this process's alone.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss if sys.platform == "darwin" else rss * 1024

load_model_file(sys.argv[1])  # warm up torch's lazy imports on a good file
growth = {}
for target in sys.argv[2:]:
    if growth and not reset_peak():
        break  # the parent runs the rest in fresh processes
    before = peak()
    if target == "control":
        control = bytearray(200 * 1024**2)  # proof the measure sees memory that is really used
        growth[target] = peak() - before
        del control
        continue
    try:
        load_model_file(target)
        growth[target] = "opened"
    except ModelFileError:
        growth[target] = peak() - before
print(json.dumps(growth))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="peak memory is measured with POSIX tools")
def test_hostile_files_are_refused_in_bounded_memory(hostile_dir, tmp_path):
    good = tmp_path / "good.pth"
    torch.save(book_model().state_dict(), good)
    todo = ["control", *(str(hostile_dir / f"{name}.pt") for name in hostile.MEMORY_HOSTILE)]
    growth: dict = {}
    while todo:
        result = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(good), *todo], cwd=REPO, capture_output=True, timeout=120
        )
        assert result.returncode == 0, result.stderr.decode()
        growth.update(json.loads(result.stdout))
        todo = [t for t in todo if t not in growth]
    assert growth.pop("control") > 190 * 1024**2
    for path, grew in growth.items():
        name = os.path.basename(path)
        assert grew != "opened", f"{name} was opened"
        assert grew < 100 * 1024**2, f"{name} raised peak memory by {grew / 1024**2:.0f} MB"


def test_model_file_error_forms():
    full = ModelFileError("m.pt", "it is empty (0 bytes)")
    assert str(full) == "cannot open m.pt: it is empty (0 bytes)"
    assert (full.path, full.reason) == ("m.pt", "it is empty (0 bytes)")
    assert str(ModelFileError("m.pt", "permission denied", action="save")) == "cannot save m.pt: permission denied"
    bare = ModelFileError("something is wrong with m.pt")
    assert str(bare) == "something is wrong with m.pt" and bare.path is None
    assert str(pickle.loads(pickle.dumps(full))) == str(full)


def test_model_file_error_is_the_torch_free_engine_error():
    import core.errors

    assert ModelFileError is core.errors.ModelFileError


def test_unexpected_errors_still_come_out_as_refusals(tmp_path, monkeypatch):
    torch.save(book_model().state_dict(), tmp_path / "m.pth")
    monkeypatch.setattr(checkpoint_load, "_interpret", lambda *args: {}["boom"])
    with pytest.raises(ModelFileError, match="could not be read"):
        load_model_file(tmp_path / "m.pth")


# --- rules the code must keep ------------------------------------------------------------------------


def test_every_torch_load_is_weights_only():
    forbidden = "weights_only=" + "False"
    for path in [*sorted((REPO / "core").rglob("*.py")), REPO / "tests" / "core" / "hostile.py", Path(__file__)]:
        text = path.read_text(encoding="utf-8")
        assert forbidden not in text.replace(" ", ""), path
        for line in text.splitlines():
            if re.search(r"torch\.load\(", line) and not line.lstrip().startswith("#"):
                assert "weights_only=True" in line, f"{path.name}: {line.strip()}"


def test_the_security_boundary_knows_nothing_of_models():
    # safe_pickle and the modules it is built from import only each other: no model, layout or app format.
    boundary = {"safe_pickle", "containers", "pickle_scan", "limits", "reasons"}
    for name in boundary:
        text = (REPO / "core" / "checkpoint" / f"{name}.py").read_text(encoding="utf-8")
        imported = set(re.findall(r"^from (core[\w.]*) import", text, re.M)) | set(re.findall(r"^import (core[\w.]*)", text, re.M))
        # core.paths and core.errors know no models either: the one door every path goes through.
        assert imported <= {f"core.checkpoint.{m}" for m in boundary} | {"core.paths", "core.errors"}, (name, imported)
        assert "layers." not in text and "Architecture" not in text, name


def test_scan_reads_every_opcode_without_running_it():
    # The scanner models the pickle; a global inside a nested container is still seen.
    data = pickle.dumps({"a": [1, (2, {"b": hostile._Open("/nonexistent/x")})]}, protocol=2)
    scan = pickle_scan.scan_pickle(io.BytesIO(data))
    assert "io.open" in scan.globals or "_io.open" in scan.globals or "builtins.open" in scan.globals
    assert not os.path.exists("/nonexistent/x")
