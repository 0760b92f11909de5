"""Test-wide settings: no screen, and no test may leave a thread running."""

import os
import threading

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    before = set(threading.enumerate())
    yield
    # Python threads the test started must be gone; Qt threads are checked in tests/app/conftest.py.
    left = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for t in left:
        t.join(timeout=5)
    left = [t for t in left if t.is_alive()]
    assert not left, f"test left threads running: {left}"
