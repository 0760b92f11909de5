"""torch's one-time lazy import paid ahead of the first run, with no garbage collection meanwhile (Qt-free)."""

from __future__ import annotations

import threading

from app.run import gc_guard

_prepared = False
_prepare_lock = threading.Lock()


def prepare_torch() -> None:
    """Pay torch's one-time lazy import off the GUI thread, without garbage-collection pauses.

    The first optimizer step in a process imports torch._dynamo (1 to 1.5 s; torch's
    `_use_grad_for_differentiable` does it unconditionally). The collections that import triggered
    froze the GUI thread for up to 160 ms (a full collection walks every object torch, Qt and
    pyqtgraph made), so it runs with the collector off, and then everything alive is frozen into
    the permanent generation so later full collections stay short. A few of torch's module bodies
    still hold the interpreter lock for 50 to 135 ms each; the app runs this right after start-up
    (see app.__main__) so that a run started later does not meet them.
    """
    global _prepared
    with _prepare_lock:
        if _prepared:
            return
        with gc_guard.suspended():
            import torch._dynamo  # noqa: F401
        _prepared = True
