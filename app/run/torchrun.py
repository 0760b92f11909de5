"""The torchrun command for a config (what the window runs and what it offers to copy) and the process-group
signals that stop a run of several processes (no Qt)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from core.config import TrainConfig

# The repository (or site-packages) folder that holds `core`: the child runs `-m core` from anywhere.
_CODE_ROOT = str(Path(__file__).resolve().parents[2])  # app/run/torchrun.py -> the folder holding app and core


# --- commands ----------------------------------------------------------------------------------------


def _set_value(value) -> str:
    """A `--set` VALUE that reads back as `value`: JSON, except text that would not parse as JSON anyway."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # plain text stays readable: dataset.name=moons
    return json.dumps(value, separators=(",", ":"))


def config_overrides(cfg: TrainConfig) -> list[str]:
    """`KEY=VALUE` for each field that differs from the defaults (the book's run), dotted for the data set's."""
    now, default = cfg.to_dict(), TrainConfig().to_dict()
    out: list[str] = []
    for key, value in now.items():
        if key == "dataset":
            out += [f"dataset.{k}={_set_value(v)}" for k, v in value.items() if v != default["dataset"][k]]
        elif value != default[key]:
            out.append(f"{key}={_set_value(value)}")
    return out


def torchrun_command(
    cfg: TrainConfig, n: int, config_path: str, *, out: str | None = None, events: str | None = "-", python: str | None = None
) -> list[str]:
    """The child's command: `python -m torch.distributed.run --standalone --nproc_per_node=N -m core train
    --config CONFIG [--out OUT] [--events -]`. `cfg` is the config the file at `config_path` holds."""
    cfg.validate()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of processes must be a whole number of at least 1, got {n!r}")
    cmd = [
        python or sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={n}",
        "-m",
        "core",
        "train",
        "--config",
        os.fspath(config_path),
    ]
    if out is not None:
        cmd += ["--out", os.fspath(out)]
    if events is not None:
        cmd += ["--events", events]
    return cmd


def command_text(cfg: TrainConfig, n: int, config_path: str | None = None, out: str = "model.pt") -> str:
    """The command a person can copy to run this config on N processes (on a bigger machine, say): the
    settings as `--set` options, or `--config FILE` when given one."""
    cfg.validate()
    parts = ["torchrun", f"--nproc_per_node={n}", "-m", "core", "train"]
    if config_path is not None:
        parts += ["--config", os.fspath(config_path)]
    else:
        for item in config_overrides(cfg):
            parts += ["--set", item]
    parts += ["--out", out]
    return shlex.join(parts)


# --- processes ---------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """The processes `pid` started (torchrun's ranks), from /proc on Linux, else from pgrep."""
    task_dir = f"/proc/{pid}/task"
    if os.path.isdir("/proc/self/task"):
        found: list[int] = []
        try:
            for tid in os.listdir(task_dir):
                try:
                    with open(f"{task_dir}/{tid}/children", encoding="ascii") as f:
                        found += [int(p) for p in f.read().split()]
                except OSError:
                    continue
        except OSError:
            return []
        return found
    try:
        text = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, timeout=2).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(p) for p in text.split()]


def _gone(pid: int) -> bool:
    """Ended and reaped (a zombie still counts as there: its parent has not collected it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # reaped, and the number reused by someone else's process
        return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # already gone (or gone and reused by someone else's process)
