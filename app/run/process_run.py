"""Runs a config as `torchrun --nproc_per_node=N -m core train` in a child process and feeds the window the
way TrainingController does: progress(Drained) from a GUI timer, failed, runFinished, finished.

The child writes one JSON line per event on stdout (`core train --events -`); a plain Python thread reads
them into a deque (no Qt call from that thread), and a QTimer in the GUI thread drains it ~20 times a
second with `app.run.controller.drain`. torchrun starts each rank in a session of its own, so stopping,
pausing and killing address torchrun's process group and each rank's group, found as torchrun's children.
"""

from __future__ import annotations

import atexit
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QTimer, Signal, Slot

import core.insight  # noqa: F401 - registers insight's events with the codec, so a torchrun run can send them
from app.run.feed import DRAIN_INTERVAL_MS, drain
from app.run.torchrun import (  # noqa: F401 (command_text and config_overrides: re-exported)
    _CODE_ROOT,
    _children,
    _gone,
    _signal_group,
    command_text,
    config_overrides,
    torchrun_command,
)
from core.config import TrainConfig
from core.events import TrainResult, event_from_json

__all__ = ["ProcessRun", "command_text", "config_overrides", "torchrun_command"]

# After SIGINT every rank stops after its current step (the ranks agree on it in the step's all_reduce),
# rank 0 reports, and all exit: a few hundred ms here. Past this, SIGTERM; TERM_GRACE_S later, SIGKILL.
# Together they keep a stop under a second even for a rank stuck in a blocking call.
STOP_GRACE_S = 0.45
TERM_GRACE_S = 0.25
# How much of the child's stderr is kept to explain a failure (torchrun's own report can be long).
STDERR_TAIL_BYTES = 64 * 1024

# Run folders still on disk, removed at exit (a model file in one may be opened after its run).
_FOLDERS: set[str] = set()


@atexit.register
def _remove_folders() -> None:
    for folder in list(_FOLDERS):
        shutil.rmtree(folder, ignore_errors=True)
    _FOLDERS.clear()


@dataclass
class _Outcome:
    """What the reader thread leaves for the GUI thread: set `done` last."""

    returncode: int | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


def _read_events(proc: subprocess.Popen, events: collections.deque, outcome: _Outcome) -> None:
    """Reader thread: every JSON line of the child's stdout as an event; no Qt here."""
    try:
        for line in proc.stdout:
            ev = event_from_json(line)
            if ev is not None:
                events.append(ev)
        proc.stdout.close()
        outcome.returncode = proc.wait()
    except Exception as exc:  # noqa: BLE001 - the GUI must hear of it; the thread must end
        outcome.error = f"reading the run's output failed: {exc}"
        try:
            outcome.returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    finally:
        outcome.done.set()


class ProcessRun(QObject):
    """One torchrun run of a config on N processes, with the signals of TrainingController.

    Signals (GUI thread): `progress(Drained)` per timer tick that brought events, `failed(str)` when the run
    failed (not after stop()), then `runFinished(object)` and `finished(object)` with rank 0's TrainResult
    (None when it sent none: a failure, or a stop before training began). `drained()` every tick.
    After a finished (or diverged) run `model_path` is the saved model (the app's format), else None; the
    file stays until the next start(), cleanup() or the app's exit.
    Pause is SIGSTOP/SIGCONT of torchrun and every rank (so the events' elapsed times include the pause).
    """

    progress = Signal(object)
    failed = Signal(str)
    runFinished = Signal(object)
    finished = Signal(object)
    drained = Signal()

    def __init__(self, cfg: TrainConfig, processes: int, parent: QObject | None = None, *, python: str | None = None):
        super().__init__(parent)
        self.cfg = cfg.validate()
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise ValueError(f"processes must be a whole number of at least 1, got {processes!r}")
        self.processes = processes
        self.python = python or sys.executable
        self.command: list[str] = []
        self.folder: str | None = None  # this run's config, model and stderr
        self.model_path: str | None = None
        self.result: TrainResult | None = None
        self.returncode: int | None = None
        self.error: str | None = None
        self._proc: subprocess.Popen | None = None
        self._out: str | None = None
        self._stderr = None  # the child's stderr, a file in the run folder
        self._reader: threading.Thread | None = None
        self._events: collections.deque = collections.deque()
        self._outcome = _Outcome()
        self._workers: set[int] = set()
        self._paused = False
        self._stop_at: float | None = None  # monotonic time of stop(); escalation counts from it
        self._escalated = 0  # 1: SIGTERM sent, 2: SIGKILL sent
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    # --- public ----------------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._proc is not None

    def is_paused(self) -> bool:
        return self._paused

    def process_ids(self) -> list[int]:
        """torchrun's pid, then the ranks' found so far (each leads a process group of its own)."""
        if self._proc is None:
            return []
        self._find_workers()
        return [self._proc.pid, *sorted(self._workers)]

    def start(self) -> None:
        """Write the config to a new run folder and start torchrun there; events flow at once."""
        if self._proc is not None:
            raise RuntimeError("a training run is already going")
        self.cleanup()
        folder = tempfile.mkdtemp(prefix="torch-playground-run-")
        _FOLDERS.add(folder)
        self.folder = folder
        config_path = os.path.join(folder, "config.json")
        with open(config_path, "w", encoding="utf-8") as f:
            f.write(self.cfg.to_json())
        self._out = os.path.join(folder, "model.pt")
        self.command = torchrun_command(self.cfg, self.processes, config_path, out=self._out, events="-", python=self.python)
        self.model_path = self.result = self.returncode = self.error = None
        self._events = collections.deque()
        self._outcome = _Outcome()
        self._workers = set()
        self._paused = False
        self._stop_at, self._escalated = None, 0
        env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_CODE_ROOT, env.get("PYTHONPATH")) if p)
        self._stderr = open(os.path.join(folder, "stderr.txt"), "w+b")  # noqa: SIM115 - closed in _finish
        try:
            # A session of its own: signals to its group never reach the app, and Ctrl+C in the app's
            # terminal does not reach it.
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                cwd=folder,
                env=env,
                start_new_session=True,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
            )
        except OSError as exc:
            self._outcome.error = f"cannot start {self.command[0]}: {exc.strerror or exc}"
            self._outcome.done.set()
            self._proc = None
            self._finish_later()
            return
        self._reader = threading.Thread(
            target=_read_events, args=(self._proc, self._events, self._outcome), name="ProcessRunReader", daemon=True
        )
        self._reader.start()
        self._timer.start()

    def stop(self) -> None:
        """SIGINT to the run (torchrun passes it to every rank, each stops after the same step); SIGTERM and
        SIGKILL follow if it has not ended within STOP_GRACE_S and TERM_GRACE_S more."""
        proc = self._proc
        if proc is None or self._stop_at is not None:
            return
        self._stop_at = time.monotonic()
        self._find_workers()
        if self._paused:
            self._signal_all(signal.SIGCONT)
            self._paused = False
        _signal_group(proc.pid, signal.SIGINT)

    def set_paused(self, paused: bool) -> None:
        proc = self._proc
        if proc is None or paused == self._paused or self._stop_at is not None:
            return
        if paused:
            _signal_group(proc.pid, signal.SIGSTOP)  # torchrun first, so it starts no rank meanwhile
            self._find_workers()
            for pid in self._workers:
                _signal_group(pid, signal.SIGSTOP)
        else:
            self._signal_all(signal.SIGCONT)
        self._paused = paused

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the run and wait for it (the window is closing); True when nothing of it is left."""
        if self._proc is None:
            if self._outcome.done.is_set() and self._timer.isActive():
                self._finish()
            return True
        self.stop()
        deadline = time.monotonic() + timeout_ms / 1000
        while not self._outcome.done.wait(0.02):
            self._escalate()
            if time.monotonic() > deadline:
                return False
        self._finish()
        return True

    def cleanup(self) -> None:
        """Remove the last run's folder (its model file too); the run must have ended."""
        if self._proc is not None:
            raise RuntimeError("the run is still going")
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            _FOLDERS.discard(self.folder)
            self.folder = None
            self.model_path = None

    # --- private ---------------------------------------------------------------------------------------

    def _find_workers(self) -> None:
        if self._proc is not None and len(self._workers) < self.processes and self._proc.poll() is None:
            self._workers.update(_children(self._proc.pid))

    def _live_workers(self) -> set[int]:
        return {pid for pid in self._workers if not _gone(pid)}

    def _signal_all(self, sig: int) -> None:
        for pid in self._live_workers():
            _signal_group(pid, sig)
        if self._proc is not None:
            _signal_group(self._proc.pid, sig)

    def _escalate(self) -> None:
        if self._stop_at is None or self._proc is None:
            return
        waited = time.monotonic() - self._stop_at
        if self._escalated < 2 and self._workers and not self._live_workers():
            # Every rank has ended and torchrun has collected them: what is left of torchrun is its report
            # and its own exit (0.8 s of interpreter teardown here), nothing the window needs.
            self._escalated = 2
            _signal_group(self._proc.pid, signal.SIGKILL)
        elif self._escalated == 0 and waited > STOP_GRACE_S:
            self._escalated = 1
            self._find_workers()
            self._signal_all(signal.SIGTERM)
        elif self._escalated == 1 and waited > STOP_GRACE_S + TERM_GRACE_S:
            self._escalated = 2
            self._signal_all(signal.SIGKILL)

    def _finish_later(self) -> None:
        self._timer.start()  # the next tick sees `done` and reports, as for a run that ended

    @Slot()
    def _tick(self) -> None:
        if self._events:
            self._emit_progress()
        self.drained.emit()
        if self._outcome.done.is_set():
            self._finish()
            return
        if self._proc is not None:
            if self._stop_at is not None:
                self._escalate()
            elif len(self._workers) < self.processes:
                self._find_workers()

    def _emit_progress(self) -> None:
        d = drain(self._events)
        if d.result is not None:
            self.result = d.result
        self.progress.emit(d)

    def _finish(self) -> None:
        """GUI thread, once the reader saw the end: reap the thread, last events, outcome, signals."""
        self._timer.stop()
        if self._reader is not None:
            self._reader.join()
            self._reader = None
        proc, out = self._proc, self._outcome
        stopped = self._stop_at is not None
        self._proc = None
        self._paused = False
        if proc is not None and proc.poll() is None:  # the reader could not wait for it: never leave it behind
            self._signal_all(signal.SIGKILL)
            proc.wait()
        # Ranks that outlived torchrun (it was killed): they hold no pipe any more, but must not linger.
        for pid in self._live_workers():
            _signal_group(pid, signal.SIGKILL)
        if self._events:
            self._emit_progress()
        self.returncode = out.returncode if out.returncode is not None or proc is None else proc.returncode
        stderr = self._stderr_tail()
        result = self.result
        saved = self._out if self._out is not None and os.path.exists(self._out) else None
        ok = self.returncode == 0 or (result is not None and result.status == "diverged")
        self.model_path = saved if ok else None
        error = out.error
        if error is None and not ok and not stopped:
            error = _failure_text(stderr, self.returncode, self.processes)
        self.error = error
        if error is not None:
            self.failed.emit(error)
        self.runFinished.emit(result)
        self.finished.emit(result)

    def _stderr_tail(self) -> str:
        f = self._stderr
        if f is None:
            return ""
        try:
            f.flush()
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - STDERR_TAIL_BYTES))
            return f.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""
        finally:
            f.close()
            self._stderr = None


def _failure_text(stderr: str, returncode: int | None, processes: int) -> str:
    """The ranks' own `error:` lines (each said once), else the end of what torchrun said."""
    said: list[str] = []
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith("error: ") and line[7:] not in said:
            said.append(line[7:])
    if said:
        return "\n".join(said[:3])
    tail = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("*")]
    last = f": {tail[-1]}" if tail else ""
    return f"the run of {processes} processes ended with exit status {returncode}{last}"
