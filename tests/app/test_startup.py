"""Start-up: the window is shown before torch is imported, then torch loads behind it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from core.config import TrainConfig
from tests.app.helpers import FAKE_DEVICES, widget

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(code: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_window_is_shown_before_torch_is_imported_then_torch_loads(tmp_path):
    out = _run(f"""
        import sys, time
        from app.__main__ import launch
        app, window = launch([], restore_session=False, settings={str(tmp_path / "s.ini")!r})
        while not window.is_painted():
            app.processEvents()
        print("torch at first paint:", "torch" in sys.modules)
        print("early devices:", window.config_panel.device_combo.count())
        deadline = time.monotonic() + 120
        while not window.is_torch_ready() and time.monotonic() < deadline:
            app.processEvents()
        print("ready:", window.is_torch_ready(), "points:", window.data_plot.point_counts())
        print("devices:", [d.name for d in window.config_panel.devices()])
        window.close()
    """)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "torch at first paint: False" in lines
    assert "ready: True points: (5, 2)" in lines  # the book's data, once torch could load it
    assert any(line.startswith("devices: ['cpu'") for line in lines)


def test_importing_the_window_module_does_not_import_torch():
    out = _run("""
        import sys
        import app.window.main_window, app.run.controller, app.plots.loss, app.plots.accuracy, app.state.model_state, app.state.model_outputs, app.panels.predictions, app.window.about
        print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_torch_later_window_waits_for_torch_ready(make_window, isolated_settings):
    from app.main_window import MainWindow

    # A session saved with a GPU chosen: the early device list (cpu) lacks it, torch_ready brings it back.
    saver = make_window()
    saver.config_panel.set_config(TrainConfig().with_changes(device="cuda:0", batch_size=3))
    saver.save_settings()
    window = MainWindow(restore_session=True, torch_later=True)
    try:
        assert not window.is_torch_ready()
        assert window.data_plot.point_counts() == (0, 0)
        assert "loading PyTorch" in window.data_plot.message.toPlainText()
        assert [d.name for d in window.config_panel.devices()] == ["cpu"]
        assert window.config_panel.config().batch_size == 3
        window.torch_ready(FAKE_DEVICES)
        assert window.is_torch_ready()
        assert window.config_panel.config().device == "cuda:0"  # the saved choice, now offered
        assert window.data_plot.point_counts() == (5, 2)
        assert widget(window, "deviceLabel").text() == "Device: cuda:0"
        window.torch_ready(FAKE_DEVICES[:1])  # only once
        assert window.config_panel.config().device == "cuda:0"
    finally:
        window.close()
        window.deleteLater()


def test_a_torch_that_will_not_load_is_reported_and_the_window_stays_usable(qtbot, monkeypatch):
    import core.devices
    from app.__main__ import TorchLoader
    from app.main_window import MainWindow

    def broken(*_args, **_kwargs):
        raise ImportError("libtorch_cpu.so: cannot open shared object file")

    monkeypatch.setattr(core.devices, "list_devices", broken)
    window = MainWindow(torch_later=True)
    qtbot.addWidget(window)
    window.show()
    window.torch_loader = TorchLoader(window)
    qtbot.waitUntil(window.is_torch_ready, timeout=60_000)
    title, text = window.last_message
    assert title == "PyTorch could not be loaded"
    assert "libtorch_cpu.so: cannot open shared object file" in text and "ImportError" in text
    assert window.status_text().startswith("Error: PyTorch could not be loaded")
    assert [d.name for d in window.config_panel.devices()] == ["cpu"]
