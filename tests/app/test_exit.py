"""The process leaves soon after its window closes, whatever a worker is doing (issue 18, point 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCENARIO = textwrap.dedent("""
    import sys, threading
    from PySide6.QtCore import QTimer
    from app import __main__ as entry

    app, window = entry.launch([], restore_session=False, settings=sys.argv[1])
    def go():
        # A task that ignores its cancel event (a read that cannot be interrupted), and a long run.
        window.tasks.submit(lambda cancel: threading.Event().wait(), kind="stuck", label="Stuck…")
        cfg = window.config_panel.config()
        import dataclasses
        window.config_panel.set_config(dataclasses.replace(cfg, epochs=100000))
        window.start_training()
        QTimer.singleShot(300, window.close)
    window.torch_loader.then = go
    code = app.exec()
    print("closed", flush=True)
    sys.exit(entry._leave(code))
""")


def test_the_process_exits_soon_after_the_window_closes_with_a_worker_stuck(tmp_path):
    script = tmp_path / "scenario.py"
    script.write_text(SCENARIO)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "s.ini")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        line = proc.stdout.readline()  # the window has closed
        closed = time.monotonic()
        assert line.strip() == "closed", proc.stderr.read()[-2000:] if proc.poll() is not None else line
        # Generous: a process kept alive by its worker would never end. The app waits EXIT_WAIT_S (2 s).
        code = proc.wait(timeout=60)
        took = time.monotonic() - closed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"exit {took:.2f} s after the window closed")
    assert code == 0, proc.stderr.read()[-2000:]
