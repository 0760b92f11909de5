"""The table of a run's settings (`SETTINGS`: kind, range, step, precision, label, help) and the checks it
drives; core.config builds its dataclasses on it and re-exports every name here. Values echoed in a
message are cut (`shown_value`): a config's text may be megabytes long or nested thousands deep."""

from __future__ import annotations

import math
import re
import reprlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# The data sets' names, the generated 2-D ones (whose `samples`, `noise` mean something) and those whose class
# count can be chosen: the registry's (core.datasets, one row per data set).
from core.datasets import CLASSES_DATASETS, DATASET_NAMES, GENERATED_DATASETS  # noqa: E402, F401 (re-exported)
from core.optimizers import OPTIMIZERS  # the registry's names: one row per optimizer

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "identity")
DEVICE_PATTERN = r"auto|cpu|mps|cuda(:\d+)?"

# Guards against values that would only freeze the machine; far above anything a learner needs.
MAX_SAMPLES = 10_000_000
MAX_LAYER_SIZE = 65_536
MAX_LAYERS = 64
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit seed

# A value echoed in a message is cut to about this many characters: a 50 MB string must not fill the terminal.
MAX_SHOWN_VALUE = 80
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = MAX_SHOWN_VALUE
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxlong = 3, 8, 8, 40


class LongNumber:
    """A whole number written with more digits than any setting takes, as read from JSON: int() of it
    would take Python's digit limit (4,300) or its time, and no setting could use it."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits:,} digits"


def shown_value(value: Any) -> str:
    """`value` as a message shows it: repr, cut to about MAX_SHOWN_VALUE characters (and nesting)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = int(value.bit_length() * math.log10(2))  # str() of it may be refused (over 4,300 digits)
        digits += abs(value) >= 10**digits
        return repr(LongNumber(digits))
    try:
        text = _REPR.repr(value)
    except (RecursionError, ValueError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= MAX_SHOWN_VALUE + 3 else text[:MAX_SHOWN_VALUE] + "..."


def shown_key(key: Any) -> str:
    """A key as a message names it, cut as a value is."""
    text = str(key)
    return text if len(text) <= MAX_SHOWN_VALUE + 3 else text[:MAX_SHOWN_VALUE] + "..."


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the rule, `key` is that dotted key."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key  # e.g. "hidden_sizes" or "dataset.path"; None when no one field is at fault


@dataclass(frozen=True)
class Setting:
    """One config field: how it is checked, shown and explained."""

    key: str  # dotted, as in --set and RUN.json: "learning_rate", "dataset.test_fraction"
    kind: str  # "int", "float", "bool", "choice", "text" or "sizes" (a list of whole numbers)
    label: str  # the form's label and the control's accessible name
    help: str  # the tooltip: what the setting does, in the book's words
    low: float | None = None  # int, float, sizes (each size): the smallest value allowed...
    high: float | None = None  # ...and the largest
    low_open: bool = False  # float: `low` itself is not allowed (a learning rate must be > 0)
    step: float = 1  # what one arrow press adds
    decimals: int = 0  # float: the decimals an arrow press lands on (typed values keep all their digits)
    log_step: bool = False  # float: arrows walk 1, 2, 5 x 10^n instead of adding `step`
    group_digits: bool = False  # int: show 10,000 rather than 10000
    choices: tuple[str, ...] = ()  # choice: the allowed values
    what: str = "value"  # choice, text with a pattern: what a wrong value is called in the message
    pattern: str | None = None  # text: a regular expression the whole value must match...
    rule: str = ""  # ...and how to say it when it does not
    optional: bool = False  # text: None (empty) is allowed
    max_items: int = 0  # sizes: at most this many

    @property
    def name(self) -> str:
        """The field's name inside its dataclass: "test_fraction" for "dataset.test_fraction"."""
        return self.key.rpartition(".")[2]

    def check(self, value: Any) -> None:
        """Raise ConfigError (naming the key and the rule) when `value` is not allowed here."""
        key, kind = self.key, self.kind
        if kind == "int":
            _check_int(key, value, int(self.low), int(self.high))
        elif kind == "float":
            _check_float(key, value, self.low, self.high, self.low_open)
        elif kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {shown_value(value)}", key)
        elif kind == "choice":
            if value not in self.choices:
                raise ConfigError(f"{key}: unknown {self.what} {shown_value(value)}; choose one of {', '.join(self.choices)}", key)
        elif kind == "text":
            if value is None and self.optional:
                return
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be text, got {shown_value(value)}", key)
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise ConfigError(f"{key}: unknown {self.what} {shown_value(value)}; {self.rule}", key)
        elif kind == "sizes":
            if not isinstance(value, tuple):
                raise ConfigError(f"{key} must be a list of whole numbers, got {shown_value(value)}", key)
            if len(value) > self.max_items:
                raise ConfigError(f"{key}: at most {self.max_items} hidden layers, got {len(value)}", key)
            for i, size in enumerate(value):
                _check_int(f"{key}[{i}]", size, int(self.low), int(self.high), key)
        else:  # a new kind added to the table without its check
            raise ValueError(f"setting {key} has unknown kind {kind!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("dataset.name", "choice", "Data set",
            "Which data to train on. appendix-a is the book's toy set: 5 training and 2 test points, 2 features, "
            "2 classes. The generated sets are 2-D so you can watch the decision regions form.",
            choices=DATASET_NAMES, what="data set"),
    Setting("dataset.samples", "int", "Samples", "How many points to generate, training and test split together.",
            low=4, high=MAX_SAMPLES, step=100, group_digits=True),
    Setting("dataset.noise", "float", "Noise",
            "How much random jitter is added to every generated point (a standard deviation). More noise makes "
            "the classes overlap, so they are harder to separate.",
            low=0.0, high=10.0, step=0.05, decimals=3),
    Setting("dataset.classes", "int", "Classes", "How many classes to generate: clusters for blobs, arms for spiral.",
            low=2, high=100),
    Setting("dataset.test_fraction", "float", "Test fraction",
            "Share of the samples held out as the test split. The model never trains on them, so their accuracy "
            "shows how well it does on data it has not seen.",
            low=0.0, high=0.9, step=0.05, decimals=2),
    Setting("dataset.seed", "int", "Data seed",
            "Seed for generating the points and choosing the test split. It is separate from the model's seed, "
            "so trying another model seed keeps the same data.",
            low=0, high=MAX_SEED),
    Setting("dataset.path", "text", "CSV file",
            "The CSV file to train on: a header row, numeric feature columns and one label column.", optional=True),
    Setting("dataset.label_column", "text", "Label column",
            "Name of the CSV column that holds the class label. Empty means the last column.", optional=True),
    Setting("dataset.standardize", "bool", "Standardize features",
            "Shift and scale every feature to mean 0 and standard deviation 1, using the training split's "
            "statistics. It helps when features have very different ranges (e.g. digits' 0-16 pixels)."),
    Setting("hidden_sizes", "sizes", "Hidden layer sizes",
            "Units in each hidden layer, comma separated: '30, 20' is the book's network (30 units, then 20). "
            "Empty means no hidden layer at all: logistic regression.",
            low=1, high=MAX_LAYER_SIZE, max_items=MAX_LAYERS),
    Setting("activation", "choice", "Activation",
            "The non-linearity after each hidden layer. The book uses ReLU. 'identity' makes the whole network "
            "linear, whatever its depth.",
            choices=ACTIVATIONS),
    Setting("optimizer", "choice", "Optimizer",
            "How the weights move after each batch's backward(): SGD (the book's choice) steps straight against "
            "the gradient; Adam, AdamW, RMSprop and Adagrad adapt the step size for every weight (torch's defaults "
            "for every argument the settings do not set).",
            choices=OPTIMIZERS),
    Setting("learning_rate", "float", "Learning rate",
            "How big a step the optimizer takes after each batch. Too large and the loss jumps around or blows "
            "up; too small and learning crawls. The book uses 0.5 with SGD; Adam likes about 0.001. The arrows "
            "step through 0.001, 0.002, 0.005, 0.01, ...",
            low=0.0, high=1000.0, low_open=True, decimals=5, log_step=True),
    Setting("momentum", "float", "Momentum",
            "SGD and RMSprop: how much of the previous step carries into the next one, which smooths and speeds up "
            "the descent. 0 is plain SGD, as in the book.",
            low=0.0, high=0.999, step=0.1, decimals=3),
    Setting("weight_decay", "float", "Weight decay",
            "Pulls every weight a little towards zero at each step (L2 regularization), which fights "
            "overfitting. 0 means none, as in the book.",
            low=0.0, high=1.0, step=0.0001, decimals=5),
    Setting("batch_size", "int", "Batch size",
            "How many samples go through the network before each weight update (DataLoader's batch_size). "
            "The book uses 2.",
            low=1, high=MAX_SAMPLES),
    Setting("shuffle", "bool", "Shuffle every epoch",
            "Reshuffle the training samples before every epoch (DataLoader's shuffle=True), so the batches differ "
            "from epoch to epoch and the model cannot learn from their order. Test data is never shuffled."),
    Setting("drop_last", "bool", "Drop last incomplete batch",
            "Skip an epoch's last batch when it has fewer samples than the batch size (DataLoader's "
            "drop_last=True). With the book's 5 samples and batch size 2 the fifth sample is left out: 2 batches "
            "per epoch instead of 3, and with shuffling a different sample each time. A tiny last batch gives a "
            "noisy update."),
    Setting("num_workers", "int", "Data loader workers",
            "Worker processes that load batches (DataLoader's num_workers). 0 loads them in the training thread, "
            "which is the fastest for data already in memory, as here; more only adds start-up time.",
            low=0, high=64),
    Setting("epochs", "int", "Epochs",
            "How many passes over the training data. When you continue training, this many more.",
            low=1, high=1_000_000, group_digits=True),
    Setting("seed", "int", "Random seed",
            "torch.manual_seed(seed) runs right before the model is built, as in the book: the same seed gives the "
            "same starting weights and the same shuffles, so the same curve. The book uses 123.",
            low=0, high=MAX_SEED),
    Setting("device", "text", "Device",
            "Where the tensors live and the math runs: the CPU, an NVIDIA GPU (cuda:N) or an Apple GPU (mps). "
            "Greyed-out devices are not available on this machine; point at one to see why. A GPU is not always "
            "faster: each training step is a handful of tiny jobs (kernels) sent to it, and for a small model like "
            "the book's, sending them costs more than the arithmetic, so the CPU can win. On cuda the whole step "
            "is recorded once as a CUDA graph and replayed as one job, which narrows the gap. A GPU pays off with "
            "wide layers and big batches.",
            what="device", pattern=DEVICE_PATTERN, rule="use auto, cpu, cuda, cuda:N or mps"),
)
SETTINGS_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}

def format_number(value: float) -> str:
    """The shortest text that reads back as exactly `value`: 0.5, 0.000003, 1000, 5e-324 (like repr, without
    an exponent where one is not needed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return repr(value)
    text = repr(value)
    if value == 0 or 1e-7 <= abs(value) < 1e16:
        text = format(Decimal(text), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    return text


def _check_int(name: str, value: Any, low: int, high: int, key: str | None = None) -> None:
    if isinstance(value, LongNumber) or (isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high):
        raise ConfigError(f"{name} must be between {low} and {high}, got {shown_value(value)}", key or name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {shown_value(value)}", key or name)


def _check_float(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, LongNumber) or (isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128):
        raise ConfigError(f"{name} must be at most {format_number(high)}, got {shown_value(value)}", name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {shown_value(value)}", name)
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}", name)
    if (value <= low if low_open else value < low) or value > high:
        rule = f"greater than {format_number(low)}" if low_open else f"at least {format_number(low)}"
        raise ConfigError(f"{name} must be {rule} and at most {format_number(high)}, got {format_number(value)}", name)
