"""Every file the command line writes: checked before the work, never replacing what is not a regular file,
written through symlinks, said in plain words when it fails (a full disk, a read-only folder), and nothing
left behind when the process is stopped (SIGTERM, Ctrl+C) or its reader goes away (`| head -1`).

Tests run as root here, which ignores file permissions: "no permission" is simulated by making the
folder's probe file fail (os.open raising), a read-only and a full disk are real tmpfs mounts where the
container allows mounting (skipped otherwise) and simulated by a file whose writes fail where not.
"""

import contextlib
import errno
import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import core.atomic
import core.cli_train
import core.paths
from core.atomic import atomic_write
from core.cli import main
from core.errors import PathError
from core.temp_files import Terminated

ROOT = Path(__file__).resolve().parents[2]

# Long enough to be stopped mid-run on a busy 2-core machine: 8,000 batches per epoch, every one printed.
LONG_RUN = ["--set", "dataset.name=moons", "--set", "dataset.samples=20000", "--set", "epochs=50", "--every", "1"]


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not err.startswith("error: unexpected") and "enforce fail" not in err and "Errno" not in err, err
    return err.strip()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --- refused before any work ------------------------------------------------------------------------


def no_training(monkeypatch):
    """Training (and the data) must not even start: a Trainer built is a failure of the check."""
    import core.training

    def refuse(*_a, **_k):
        raise AssertionError("training started before the output was checked")

    monkeypatch.setattr(core.training.Trainer, "__init__", refuse)


@pytest.mark.parametrize("option", ["--out", "--history", "--events"])
def test_train_refuses_a_folder_before_training(tmp_path, capsys, monkeypatch, option):
    no_training(monkeypatch)
    folder = tmp_path / "taken"
    folder.mkdir()
    code, out, err = run(capsys, "train", option, str(folder))
    assert code == 2 and out == ""
    assert one_error_line(err) == f"error: cannot write {folder}: it is a folder, not a regular file; nothing was written there"
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_out_dev_null_is_refused_and_dev_null_stays_a_device(capsys, monkeypatch):
    no_training(monkeypatch)
    for argv in (["train", "--out", "/dev/null"], ["train", "--history", "/dev/null"], ["script", "--out", "/dev/null"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        assert "cannot write /dev/null: it is a character device" in one_error_line(err)
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_without_blocking_or_replacing(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for argv in (
        ["train", "--out", str(fifo)],
        ["train", "--history", str(fifo)],
        ["train", "--events", str(fifo)],
        ["script", "--out", str(fifo)],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2 and f"cannot write {fifo}: it is a named pipe (FIFO)" in one_error_line(err), argv
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_a_symlink_is_written_through(tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    for name in ("m.pt", "h.csv", "train.py"):
        (real / name).write_text("old")
        (tmp_path / name).symlink_to(real / name)
    code, _, err = run(capsys, "train", "--quiet", "--out", str(tmp_path / "m.pt"), "--history", str(tmp_path / "h.csv"))
    assert code == 0, err
    assert run(capsys, "script", "--out", str(tmp_path / "train.py"))[0] == 0
    for name in ("m.pt", "h.csv", "train.py"):
        assert (tmp_path / name).is_symlink() and os.readlink(tmp_path / name) == str(real / name)
        assert (real / name).read_bytes() != b"old"
    assert (real / "h.csv").read_text().startswith("epoch,batch,step,loss\n1,1,1,")
    assert "model_state_dict" in torch.load(real / "m.pt", weights_only=True)
    assert "import torch" in (real / "train.py").read_text()
    assert leftovers(tmp_path) == [] and leftovers(real) == []


@pytest.mark.parametrize(
    ("err_no", "words"),
    [
        (errno.EACCES, "does not take a new file (permission denied)"),
        (errno.EROFS, "the disk is read-only"),
    ],
)
@pytest.mark.parametrize("option", ["train --out", "train --history", "train --events", "script --out"])
def test_a_folder_that_takes_no_file_is_said_before_training(tmp_path, capsys, monkeypatch, err_no, words, option):
    no_training(monkeypatch)
    real_open = os.open

    def probe_fails(path, flags, *args):
        if str(path).endswith(".probe"):
            raise OSError(err_no, os.strerror(err_no), path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(core.paths.os, "open", probe_fails)
    command, flag = option.split()
    target = tmp_path / "file"
    code, out, err = run(capsys, command, flag, str(target))
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert line.startswith(f"error: cannot write {target}: ") and words in line
    assert os.listdir(tmp_path) == []


def test_the_model_file_estimate_is_checked_against_the_free_space(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)

    class Vfs:
        f_bavail, f_frsize = 10, 4096  # 40 KB free

    monkeypatch.setattr(core.paths.os, "statvfs", lambda _p: Vfs)
    code, _, err = run(capsys, "train", "--set", "hidden_sizes=[300, 300]", "--out", str(tmp_path / "m.pt"))
    assert code == 2
    assert f"cannot write {tmp_path / 'm.pt'}: the disk is full: 40.0 KB free, about" in one_error_line(err)


# --- a write that fails part way ----------------------------------------------------------------------


class FailingFile(io.RawIOBase):
    """A file whose writes fail with `exc` once `limit` bytes are written: a disk filling up mid-write."""

    def __init__(self, f, limit: int, exc: BaseException):
        self.f, self.limit, self.exc, self.written = f, limit, exc, 0
        self.flush, self.fileno, self.seekable, self.tell, self.seek = f.flush, f.fileno, f.seekable, f.tell, f.seek

    def writable(self):
        return True

    def write(self, data):
        if self.written + len(data) > self.limit:
            raise self.exc
        self.written += len(data)
        return self.f.write(data)

    def close(self):
        self.f.close()
        super().close()


def fill_after(monkeypatch, limit: int, exc: BaseException | None = None):
    real = os.fdopen
    exc = exc or OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(core.atomic.os, "fdopen", lambda fd, mode: FailingFile(real(fd, mode), limit, exc))


def big_state():
    torch.manual_seed(0)
    return {"w": torch.randn(1024, 1024), "b": torch.randn(1024)}  # 4 MB


def test_torch_save_on_a_full_disk_says_so_and_leaves_nothing(tmp_path, monkeypatch):
    path = tmp_path / "m.pt"
    path.write_bytes(b"old")
    fill_after(monkeypatch, 1 << 20)
    with pytest.raises(PathError) as info:
        atomic_write(path, lambda f: torch.save(big_state(), f))
    # torch.save wraps the file's OSError in "[enforce fail at inline_container.cc]": the cause is recovered
    assert str(info.value) == f"cannot write {path}: the disk is full while writing m.pt"
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.pt"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), Terminated(signal.SIGTERM)], ids=["SIGINT", "SIGTERM"])
def test_a_stop_inside_torch_save_is_the_stop_not_torchs_error(tmp_path, monkeypatch, stop):
    path = tmp_path / "m.pt"
    path.write_bytes(b"old")
    fill_after(monkeypatch, 1 << 20, stop)
    with pytest.raises(type(stop)):
        atomic_write(path, lambda f: torch.save(big_state(), f))
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.pt"]


def test_train_out_and_history_on_a_full_disk(tmp_path, capsys, monkeypatch):
    for option, name in (("--out", "m.pt"), ("--history", "h.csv")):
        target = tmp_path / name
        target.write_bytes(b"old")
        with monkeypatch.context() as m:
            fill_after(m, 100)
            code, out, err = run(capsys, "train", "--quiet", option, str(target))
        assert code == 2 and "Epoch: 003/003" in out, err  # the run happened; the disk filled while writing
        verb = "save" if option == "--out" else "write"
        assert one_error_line(err) == f"error: cannot {verb} {target}: the disk is full while writing {name}"
        assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, timeout=30)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=30)


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounting a tmpfs needs root on Linux")
def test_a_real_full_disk(tmp_path, capsys, monkeypatch):
    with tmpfs(tmp_path / "small", "size=1m") as disk:
        (disk / "filler").write_bytes(b"x" * (1024 * 1024 - 48 * 1024))  # about 48 KB left
        path = disk / "m.pt"
        with pytest.raises(PathError, match=f"^cannot write {path}: the disk is full while writing m.pt$"):
            atomic_write(path, lambda f: torch.save(big_state(), f))  # the real torch.save on the real file
        assert sorted(os.listdir(disk)) == ["filler"]
        # --history: more rows than the disk holds; the estimate of --out is made 0 to fill it while saving
        sets = ["--set", "dataset.name=moons", "--set", "dataset.samples=2500", "--set", "batch_size=2", "--quiet"]
        code, _, err = run(capsys, "train", *sets, "--history", str(disk / "h.csv"))
        assert code == 2
        assert one_error_line(err) == f"error: cannot write {disk / 'h.csv'}: the disk is full while writing h.csv"
        # --out: the estimate from the config says it before training; made 0, the disk fills while saving
        argv = ["train", "--quiet", "--set", "hidden_sizes=[200, 200]", "--out", str(path)]
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == ""
        assert f"cannot write {path}: the disk is full: 48.0 KB free, about 503.5 KB needed" in one_error_line(err)
        monkeypatch.setattr(core.cli_train, "model_file_bytes", lambda cfg: 0)
        code, _, err = run(capsys, *argv)
        assert code == 2
        assert one_error_line(err) == f"error: cannot save {path}: the disk is full while writing m.pt"
        assert sorted(os.listdir(disk)) == ["filler"]
        # --events FILE streams as the run goes: the disk fills mid-run
        code, _, err = run(capsys, "train", *sets, "--events", str(disk / "e.jsonl"))
        assert code == 2
        assert one_error_line(err) == f"error: cannot write {disk / 'e.jsonl'}: the disk is full"


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="mounting a tmpfs needs root on Linux")
def test_a_real_read_only_disk_is_said_before_training(tmp_path, capsys, monkeypatch):
    no_training(monkeypatch)
    with tmpfs(tmp_path / "ro", "ro,size=1m") as disk:
        for argv in (["train", "--out"], ["train", "--history"], ["script", "--out"]):
            code, out, err = run(capsys, *argv, str(disk / "f"))
            assert code == 2 and out == ""
            assert one_error_line(err) == f"error: cannot write {disk / 'f'}: the disk is read-only"


def test_torchs_own_failure_is_said_without_its_internals(tmp_path, capsys, monkeypatch):
    def broken_save(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 46 vs 0")

    monkeypatch.setattr(torch, "save", broken_save)
    code, _, err = run(capsys, "train", "--quiet", "--out", str(tmp_path / "m.pt"))
    assert code == 2
    assert one_error_line(err) == f"error: cannot save {tmp_path / 'm.pt'}: torch could not write it (unexpected pos 46 vs 0)"
    assert os.listdir(tmp_path) == []


# --- stopped by a signal ----------------------------------------------------------------------------


def start(tmp_path, *argv, slow_save: bool = False):
    """`python -m core` in a process of its own; with slow_save every write of a save sleeps, so a signal
    can land in the middle of it."""
    prelude = ""
    if slow_save:
        prelude = (
            "import time, core.atomic as a; w = a._Recording.write\n"
            "a._Recording.write = lambda self, d: (time.sleep(0.02), w(self, d))[1]\n"
        )
    code = prelude + f"import sys\nfrom core.cli import main\nsys.exit(main({list(argv)!r}))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.002)


def temp_files(folder: Path) -> list[str]:
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_sigterm_during_training_exits_143_and_keeps_the_old_file(tmp_path):
    model = tmp_path / "m.pt"
    model.write_bytes(b"old")
    proc = start(tmp_path, "train", *LONG_RUN, "--out", str(model), "--history", str(tmp_path / "h.csv"))
    try:
        assert "Training on" in proc.stdout.readline()
        assert "| Batch" in proc.stdout.readline()  # mid-run
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert err == "error: stopped by SIGTERM\n"
    assert model.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["m.pt"]


@pytest.mark.parametrize(("signum", "status", "words"), [(signal.SIGTERM, 143, "stopped by SIGTERM"), (signal.SIGINT, 130, "interrupted")])
def test_a_signal_during_the_save_removes_the_temporary_file(tmp_path, signum, status, words):
    model = tmp_path / "m.pt"
    model.write_bytes(b"old")
    big = ["--set", "hidden_sizes=[1000, 1000]", "--set", "optimizer=adam", "--set", "epochs=1", "--quiet"]
    proc = start(tmp_path, "train", *big, "--out", str(model), slow_save=True)
    try:
        wait_for(lambda: temp_files(tmp_path) or proc.poll() is not None)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == status, err
    assert err.splitlines()[-1] == f"error: {words}" and "Traceback" not in err
    assert model.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["m.pt"]


def test_sigterm_while_the_registry_is_locked_does_not_hang(tmp_path):
    # The handler runs in the main thread, possibly inside remember()/forget(): a plain Lock deadlocked there.
    code = (
        "import os, signal, sys, time\n"
        "from core import temp_files\n"
        "from core.temp_files import Terminated, terminate_cleanly\n"
        f"open({str(tmp_path / '.x.tmp')!r}, 'w').close()\n"
        f"temp_files.remember({str(tmp_path / '.x.tmp')!r})\n"
        "try:\n"
        "    with terminate_cleanly():\n"
        "        with temp_files._lock:\n"
        "            os.kill(os.getpid(), signal.SIGTERM)\n"
        "            time.sleep(5)\n"
        "except Terminated as exc:\n"
        "    sys.exit(exc.status)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 143
    assert os.listdir(tmp_path) == []


# --- the reader goes away -------------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly_with_141(tmp_path):
    proc = start(tmp_path, "train", *LONG_RUN)
    try:
        assert "Training on" in proc.stdout.readline()
        proc.stdout.close()  # what `| head -1` does after its line
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 141
    assert err == ""  # no "error: cannot use: Broken pipe", no "Exception ignored ... BrokenPipeError"


def test_head_in_a_real_shell_pipeline(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = " ".join(LONG_RUN)
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m core train {args} | head -1"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 141 and proc.stdout.startswith("Training on") and proc.stderr == ""


# --- messages ---------------------------------------------------------------------------------------


def test_an_os_error_names_its_path_in_plain_words():
    from core.cli import _describe

    assert _describe(PermissionError(errno.EACCES, "Permission denied", "/x/m.pt")) == "cannot use /x/m.pt: permission denied"
    assert _describe(OSError(errno.ENOSPC, "No space left on device")) == "cannot use: No space left on device"
