"""The book-style PyTorch script for a config: plain Dataset, DataLoader and loop, bit-identical to the engine's run."""

from __future__ import annotations

import json
import os

from core.config import GENERATED_DATASETS, TrainConfig, model_shape_bounds
from core.errors import DataError
from core.optimizers import optimizer_spec
from core.script_sources import (  # the pasted sources
    _DATASET_CLASS,
    _DIGITS,
    _GENERATED_HELPERS,
    _GENERATORS,
    _IRIS,
    _READ_CSV,
    _SPLIT_INDICES,
    _STANDARDIZE,
)

# The model's activation layers as the script spells them (core.model's table, written out).
_ACTIVATION_CODE = {
    "relu": "torch.nn.ReLU()",
    "tanh": "torch.nn.Tanh()",
    "sigmoid": "torch.nn.Sigmoid()",
    "gelu": "torch.nn.GELU()",
    "leaky_relu": "torch.nn.LeakyReLU()",
    "identity": "torch.nn.Identity()",
}



def render_script(cfg: TrainConfig) -> str:
    """A standalone script in the style of the book's Appendix A code that trains `cfg`'s run.

    `python train.py` in any folder prints the book's per-batch lines and writes `model.pth`, whose
    tensors equal bit for bit the weights `python -m core train` gives for the same config. It imports
    torch (and numpy where the data set needs it), never this package.

    The text is deterministic and line-stable: a changed setting changes only the lines that state it,
    so two renderings can be diffed. A csv path is written absolute (resolved against the current
    folder now), so the script runs from anywhere.

    Raises ConfigError for an invalid config and DataError for a generated set with fewer samples than
    classes (what the engine refuses too). Files are not read: the csv and the bundled iris and digits files are
    the script's to open.
    """
    cfg = cfg.validate()
    ds = cfg.dataset
    if ds.name in GENERATED_DATASETS:
        k = ds.classes if ds.name in ("blobs", "spiral") else 2
        if ds.samples < k:
            raise DataError(f"{ds.name} with {k} classes needs at least {k} samples, got {ds.samples}")
    code = [_data_code(cfg), _DATASET_CLASS, _model_class(cfg), _ACCURACY, _main(cfg)]
    # PEP 8's layout: two blank lines between top-level definitions.
    return f"{_header(cfg)}\n\n{_imports(cfg)}\n\n\n" + "\n\n\n".join(p.strip("\n") for p in code) + "\n"


# --- header and imports ------------------------------------------------------------------------------


def _config_lines(cfg: TrainConfig) -> list[str]:
    """The config as JSON, one field a line (a changed setting changes one line)."""
    d = cfg.to_dict()
    lines = ["{"]
    for key, value in d.items():
        if isinstance(value, dict):
            lines.append(f'  "{key}": {{')
            lines += [f"    {json.dumps(k)}: {json.dumps(v)}," for k, v in value.items()]
            lines[-1] = lines[-1].rstrip(",")
            lines.append("  },")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines[-1] = lines[-1].rstrip(",")
    lines.append("}")
    return lines


def _header(cfg: TrainConfig) -> str:
    config = "\n".join(f"#   {line}" for line in _config_lines(cfg))
    return f"""\
# The training loop of Appendix A of "Build a Large Language Model (From Scratch)", written out by
# Torch Playground (python -m core script) for the config below. Run it alone: python train.py
#
# It reproduces `python -m core train --config RUN.json` with RUN.json holding that config: the same
# data, the same batches in the same order, the book's per-batch loss lines, and a model.pth in the
# current folder whose weights equal the run's model_state_dict bit for bit.
#
# Config:
{config}"""


def _imports(cfg: TrainConfig) -> str:
    name = cfg.dataset.name
    stdlib = []
    if name == "csv":
        stdlib.append("import csv")
    if name == "digits":
        stdlib.append("import gzip")
    if name != "appendix-a":
        stdlib.append("import math")
    if name in ("iris", "digits"):
        stdlib.append("import os")
    third = []
    if name != "appendix-a":
        third.append("import numpy as np")
    third += ["import torch", "import torch.nn.functional as F", "from torch.utils.data import DataLoader, Dataset"]
    return "\n".join(stdlib + ([""] if stdlib else []) + third)


# --- data ------------------------------------------------------------------------------------------


def _data_code(cfg: TrainConfig) -> str:
    ds = cfg.dataset
    blocks: list[str] = []
    if ds.name == "appendix-a":
        body = _APPENDIX_A_BODY
    else:
        if ds.name in GENERATED_DATASETS:
            blocks += [_GENERATED_HELPERS, _GENERATORS[ds.name]]
            make = {
                "moons": f"make_moons(samples={ds.samples!r}, noise={ds.noise!r}, rng=rng)",
                "circles": f"make_circles(samples={ds.samples!r}, noise={ds.noise!r}, rng=rng)",
                "blobs": f"make_blobs(samples={ds.samples!r}, classes={ds.classes!r}, noise={ds.noise!r}, rng=rng)",
                "xor": f"make_xor(samples={ds.samples!r}, noise={ds.noise!r}, rng=rng)",
                "spiral": f"make_spiral(samples={ds.samples!r}, classes={ds.classes!r}, noise={ds.noise!r}, rng=rng)",
            }[ds.name]
        elif ds.name in ("iris", "digits"):
            # The copies Torch Playground ships (resources/data/README.md says where they come from).
            from core.data import DATA_FOLDER

            blocks += [f"\nDATA_FOLDER = {DATA_FOLDER!r}  # Fisher's iris and UCI's digits, as scikit-learn ships them\n",
                       _IRIS if ds.name == "iris" else _DIGITS]
            make = f"load_{ds.name}()"
        else:  # csv
            blocks.append(_READ_CSV)
            path = os.path.abspath(ds.path or "")
            make = f"read_csv({path!r}, label_column={ds.label_column!r})"
        blocks.append(_SPLIT_INDICES)
        body = f"""\
    # The data's own seed: the split stays put while the model's seed changes.
    rng = np.random.default_rng({ds.seed!r})
    X, y = {make}
    train_idx, test_idx = split_indices(y, test_fraction={ds.test_fraction!r}, rng=rng)
    X_train = torch.from_numpy(np.ascontiguousarray(X[train_idx], dtype=np.float32))
    y_train = torch.from_numpy(np.ascontiguousarray(y[train_idx], dtype=np.int64))
    X_test = torch.from_numpy(np.ascontiguousarray(X[test_idx], dtype=np.float32))
    y_test = torch.from_numpy(np.ascontiguousarray(y[test_idx], dtype=np.int64))"""
    if ds.standardize:
        blocks.append(_STANDARDIZE)
        body += "\n    X_train, X_test = standardize(X_train, X_test)"
    blocks.append(f"def prepare_dataset():\n{body}\n    return X_train, y_train, X_test, y_test")
    return "\n\n\n".join(b.strip("\n") for b in blocks)


_APPENDIX_A_BODY = """\
    X_train = torch.tensor([
        [-1.2, 3.1],
        [-0.9, 2.9],
        [-0.5, 2.6],
        [2.3, -1.1],
        [2.7, -1.5]
    ])
    y_train = torch.tensor([0, 0, 0, 1, 1])

    X_test = torch.tensor([
        [-0.8, 2.8],
        [2.6, -1.6],
    ])
    y_test = torch.tensor([0, 1])"""

# The generated sets: the same numpy arithmetic, in the same order of random draws, as core/data.py.
def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _model_class(cfg: TrainConfig) -> str:
    act = _ACTIVATION_CODE[cfg.activation]
    sizes = ["num_inputs", *(str(h) for h in cfg.hidden_sizes)]
    layers: list[str] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        layers += [
            f"            # {_ordinal(i)} hidden layer",
            f"            torch.nn.Linear({n_in}, {n_out}),",
            f"            {act},",
            "",
        ]
    what = "output layer" if cfg.hidden_sizes else "output layer (no hidden layers: logistic regression)"
    layers += [f"            # {what}", f"            torch.nn.Linear({sizes[-1]}, num_outputs),"]
    body = "\n".join(layers)
    return f"""\
class NeuralNetwork(torch.nn.Module):
    def __init__(self, num_inputs, num_outputs):
        super().__init__()

        self.layers = torch.nn.Sequential(

{body}
        )

    def forward(self, x):
        logits = self.layers(x)
        return logits"""


_ACCURACY = """
def compute_accuracy(model, dataloader, device):

    model = model.eval()
    correct = 0.0
    total_examples = 0

    for idx, (features, labels) in enumerate(dataloader):
        features, labels = features.to(device), labels.to(device)

        with torch.no_grad():
            logits = model(features)

        predictions = torch.argmax(logits, dim=1)
        compare = labels == predictions
        correct += torch.sum(compare)
        total_examples += len(compare)

    return (correct / total_examples).item()
"""


def _device_line(device: str) -> str:
    if device == "cpu":
        return 'device = torch.device("cpu")'
    if device == "cuda":
        return 'device = torch.device("cuda" if torch.cuda.is_available() else "cpu")'
    if device == "mps":
        return 'device = torch.device("mps" if torch.backends.mps.is_available() else "cpu")'
    if device == "auto":
        return (
            'device = torch.device("cuda" if torch.cuda.is_available() else '
            '"mps" if torch.backends.mps.is_available() else "cpu")'
        )
    return f"device = torch.device({device!r})"  # cuda:N


def _optimizer_line(cfg: TrainConfig) -> str:
    return optimizer_spec(cfg.optimizer).script_line(cfg.learning_rate, cfg.momentum, cfg.weight_decay)


def _main(cfg: TrainConfig) -> str:
    # The data set's shape from the registry (core.datasets); a csv's is read by the script from the data.
    shape = None if cfg.dataset.name == "csv" else model_shape_bounds(cfg.dataset)
    if shape is None:  # csv: read from the data; labels are codes 0..k-1 over the whole file
        model_args = "num_inputs=X_train.shape[1], num_outputs=int(torch.cat([y_train, y_test]).max()) + 1"
    else:
        model_args = f"num_inputs={shape[0]}, num_outputs={shape[1]}"
    bs = cfg.batch_size
    return f"""\
def main():
    X_train, y_train, X_test, y_test = prepare_dataset()
    train_ds = ToyDataset(X_train, y_train)
    test_ds = ToyDataset(X_test, y_test)

    train_loader = DataLoader(
        dataset=train_ds,
        batch_size={bs},
        shuffle={cfg.shuffle},
        num_workers={cfg.num_workers},
        drop_last={cfg.drop_last},
    )
    test_loader = DataLoader(
        dataset=test_ds,
        batch_size={bs},
        shuffle=False,
        num_workers=0,
    )

    {_device_line(cfg.device)}

    # The seed right before the model: its initial weights, then each epoch's shuffle, come from it.
    torch.manual_seed({cfg.seed})
    model = NeuralNetwork({model_args})
    model = model.to(device)
    {_optimizer_line(cfg)}

    num_epochs = {cfg.epochs}

    for epoch in range(num_epochs):

        model.train()
        for batch_idx, (features, labels) in enumerate(train_loader):

            features, labels = features.to(device), labels.to(device)
            logits = model(features)

            loss = F.cross_entropy(logits, labels)  # Loss function

            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            ### LOGGING
            print(f"Epoch: {{epoch+1:03d}}/{{num_epochs:03d}}"
                  f" | Batch {{batch_idx:03d}}/{{len(train_loader):03d}}"
                  f" | Train Loss: {{loss:.2f}}")

        model.eval()
        # Optional model evaluation

    # Accuracy after training, as in the book. Every training sample once, in order: train_loader would
    # skip what drop_last drops (and iterating it draws from the random generator).
    train_eval_loader = DataLoader(dataset=train_ds, batch_size={bs}, shuffle=False, num_workers=0)
    print(f"Train accuracy: {{compute_accuracy(model, train_eval_loader, device):.2f}}")
    if len(test_ds) > 0:  # a test_fraction of 0 leaves no test split
        print(f"Test accuracy: {{compute_accuracy(model, test_loader, device):.2f}}")

    torch.save(model.state_dict(), "model.pth")


if __name__ == "__main__":
    main()"""
