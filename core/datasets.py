"""The data sets a config can name: one row each, read by the settings table, the form, the presets, the model's
shape, the script and the window's "is it small" rule. Torch-free (how each is made is core.data's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A generated set of at most this many points is made in a blink (well under a millisecond a thousand
# points): the window makes it in the GUI thread rather than on a worker (one rule, for the views and the panels).
SMALL_SAMPLES = 5_000
# Every data set but the book's is split with the data seed and a test fraction (the book fixes its split).
_SPLIT = ("dataset.test_fraction", "dataset.seed")


@dataclass(frozen=True)
class DatasetSpec:
    """One data set: what it is, which options apply, its shape and its starting settings."""

    name: str
    description: str  # the form's tooltip
    options: tuple[str, ...]  # the dataset.* settings that mean something for it (standardize: for every set)
    shape: tuple[int, int] | None = None  # (features, classes) when fixed; None: generated 2-D, or a CSV's own
    generated: bool = False  # made from `samples`, `noise` (and `classes`) with the data seed
    classes_option: bool = False  # its class count is the `classes` option
    # Starting settings (TensorFlow Playground's way): see PRESET_KEYS and core.config.preset_updates.
    preset: dict[str, Any] = field(default_factory=dict)
    always_small: bool = False  # a fixed, tiny table (the book's 7 points, iris's 150)

    def is_small(self, ds: Any) -> bool:
        """Made in a blink (fine in the GUI thread)."""
        return self.always_small or (self.generated and ds.samples <= SMALL_SAMPLES)

    def shape_bounds(self, ds: Any) -> tuple[int, int]:
        """Inputs and outputs of a model for it: exact for the built-in sets, a lower bound (2, 2) for csv."""
        if self.shape is not None:
            return self.shape
        if self.generated:
            return 2, (ds.classes if self.classes_option else 2)
        return 2, 2


_GENERATED = ("dataset.samples", "dataset.noise", *_SPLIT)
# Each preset was trained headless with the data set's default options and the book's [30, 20] ReLU network
# (tests/core/test_config_table.py); the book's lr 0.5 with batches of 2 collapses moons and spiral to one class.
DATASET_SPECS = (
    DatasetSpec("appendix-a", "The book's toy set: 5 training and 2 test points, 2 features, 2 classes.", (),
                shape=(2, 2), always_small=True,
                preset={"optimizer": "sgd", "learning_rate": 0.5, "batch_size": 2, "epochs": 3}),  # the book's run
    DatasetSpec("moons", "Two interleaving half circles (2-D, 2 classes).", _GENERATED, generated=True,
                preset={"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 100}),
    DatasetSpec("circles", "A ring around a disc (2-D, 2 classes).", _GENERATED, generated=True,
                preset={"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 150}),
    DatasetSpec("blobs", "Gaussian clusters, one per class (2-D).", (*_GENERATED, "dataset.classes"), generated=True,
                classes_option=True, preset={"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 50}),
    DatasetSpec("xor", "Four quadrants, opposite ones share a class (2-D, 2 classes).", _GENERATED, generated=True,
                preset={"optimizer": "sgd", "learning_rate": 0.1, "batch_size": 16, "epochs": 150}),
    # Plain SGD at any single rate was unsteady on these three over seeds; Adam was not.
    DatasetSpec("spiral", "Interleaved spiral arms, one per class (2-D).", (*_GENERATED, "dataset.classes"), generated=True,
                classes_option=True, preset={"optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "epochs": 100}),
    DatasetSpec("iris", "150 iris flowers: 4 measurements, 3 species.", _SPLIT, shape=(4, 3),
                always_small=True, preset={"optimizer": "adam", "learning_rate": 0.01, "batch_size": 16, "epochs": 100}),
    DatasetSpec("digits", "1,797 handwritten digits as 8x8 images: 64 pixel features, 10 classes.",
                _SPLIT, shape=(64, 10),
                preset={"optimizer": "adam", "learning_rate": 0.001, "batch_size": 32, "epochs": 30}),
    # csv has no preset: its settings are whatever the user had.
    DatasetSpec("csv", "Your own CSV file: numeric feature columns and a label column.",
                (*_SPLIT, "dataset.path", "dataset.label_column")),
)
DATASETS_BY_NAME = {spec.name: spec for spec in DATASET_SPECS}
DATASET_NAMES = tuple(DATASETS_BY_NAME)
GENERATED_DATASETS = tuple(s.name for s in DATASET_SPECS if s.generated)
CLASSES_DATASETS = tuple(s.name for s in DATASET_SPECS if s.classes_option)


def dataset_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}: one of {', '.join(DATASET_NAMES)}") from None
