"""A model's training record: every batch loss and one EpochEnd per epoch. No torch, so the window's
plots can use it before torch is loaded."""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import asdict

import numpy as np

from core.events import EpochEnd


class History:
    """Every batch loss (8 bytes each, grows by doubling) and one EpochEnd per epoch."""

    def __init__(self, batch_loss: Iterable[float] = (), epochs: Iterable[EpochEnd] = ()):
        self.batch_loss = array("d", batch_loss)
        self.epochs: list[EpochEnd] = list(epochs)

    def losses(self) -> np.ndarray:
        """A numpy copy of the batch losses. Never hand out a view: an exported buffer would make
        the training thread's next append raise BufferError."""
        return np.array(self.batch_loss, dtype=np.float64)

    def to_dict(self) -> dict:
        return {"batch_loss": list(self.batch_loss), "epochs": [asdict(e) for e in self.epochs]}

    @classmethod
    def from_dict(cls, data: dict | None) -> "History":
        if not data:
            return cls()
        epochs = [EpochEnd(**e) for e in data.get("epochs", [])]
        return cls(np.asarray(data.get("batch_loss", []), dtype=np.float64).tolist(), epochs)
