"""Announcing changes without Qt: an Event that state objects emit and views connect to (napari's evented models, small)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """Callbacks connected to it are called, in the order they connected, with what `emit` is given.

    Emitted on the thread that changed the state: the window's state changes on the GUI thread only
    (workers hand their results back through app.run.tasks), so its views may touch Qt in a callback.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)
