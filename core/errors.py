"""The engine's error types, in a module without torch: the window imports them (to tell a person's
mistake from a bug) before torch is loaded. Each is re-exported by the module that raises it."""

from __future__ import annotations


class DataError(ValueError):
    """The data cannot be made or read; the message says why, naming the file, row and column where it can."""


class DeviceError(ValueError):
    """The asked-for device cannot be used here."""


class ArchitectureError(ValueError):
    """The weights are not those of an MLP this app can build."""


class TrainingError(ValueError):
    """The run cannot start (or go on) as configured; the message says why and what to change."""
