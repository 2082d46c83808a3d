"""The commands as a new user meets them: bad input (a flag, a data file, a checkpoint)
ends in one line ``error: ...`` and exit status 2, never in a traceback; a failed run
exits with 1, Ctrl-C with 130.

The commands run as subprocesses with a fresh TINYGAN_CACHE and no TINYGAN_DATA. None
can reach the network: each fails on a flag, a checkpoint, the judge or an explicit
--data-dir before tinygan would look for MNIST to download.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MNIST_DIR, MNIST_GZ_NAMES, requires_mnist
from tinygan import cli, train
from tinygan.data import MnistError, mnist

REPOSITORY = Path(__file__).resolve().parents[1]


def run_command(tmp_path, command, *flags):
    """Run ``python -m tinygan.<command> <flags>``; returns (exit status, stdout + stderr)."""
    environment = {name: value for name, value in os.environ.items() if name != "TINYGAN_DATA"}
    environment.update(TINYGAN_CACHE=str(tmp_path / "cache"), TINYGAN_BACKEND="numpy", OPENBLAS_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", f"tinygan.{command}", *flags], cwd=REPOSITORY, env=environment,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


def error_line(output):
    """The one line of ``output`` that starts with 'error: ' (fails on none, several or a traceback)."""
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0]


def garbage_file(tmp_path):
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a checkpoint")
    return path


# ------------------------------------------------------------------------- subprocesses

@requires_mnist
def test_train_on_a_corrupt_mnist_file_names_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for name in MNIST_GZ_NAMES:
        shutil.copy(MNIST_DIR / name, data / name)
    corrupt = data / mnist.TEST_LABELS.gz_name
    content = bytearray(corrupt.read_bytes())
    content[len(content) // 2] ^= 0xFF
    corrupt.write_bytes(content)
    status, output = run_command(tmp_path, "train", "--preset", "tiny", "--steps", "1", "--data-dir", str(data),
                                 "--out", str(tmp_path / "run"))
    line = error_line(output)
    assert status == 2 and str(corrupt) in line and "checksum mismatch" in line


def test_train_on_a_missing_data_folder(tmp_path):
    status, output = run_command(tmp_path, "train", "--preset", "tiny", "--steps", "1",
                                 "--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"))
    assert status == 2 and f"{tmp_path / 'nowhere'} (from the data_dir argument (--data-dir)) does not exist" in (
        error_line(output))


@pytest.mark.parametrize("command, flags, message", [
    ("train", ["--steps", "0", "--out", "nowhere"], "error: --steps must be positive, got 0"),
    ("sample", ["--checkpoint", "run.npz"], "error: give the digits to draw: --labels (and --boxes), or --layout JSON"),
    ("judge", ["--bogus"], "error: unrecognized arguments: --bogus"),
    ("evaluate", ["--checkpoint", "run.npz", "--n", "1"], "error: --n must be at least 2, got 1"),
])
def test_bad_flags(tmp_path, command, flags, message):
    status, output = run_command(tmp_path, command, *flags)
    assert status == 2 and error_line(output) == message


@pytest.mark.parametrize("command, flags", [
    ("sample", ["--labels", "1", "9", "--checkpoint"]),
    ("evaluate", ["--checkpoint"]),
])
def test_missing_checkpoint(tmp_path, command, flags):
    status, output = run_command(tmp_path, command, *flags, str(tmp_path / "missing.npz"))
    assert status == 2 and "missing.npz" in error_line(output)


@pytest.mark.parametrize("command, flags", [
    ("sample", ["--labels", "1", "9", "--checkpoint"]),
    ("evaluate", ["--checkpoint"]),
    ("train", ["--preset", "tiny", "--resume"]),
])
def test_garbage_checkpoint(tmp_path, command, flags):
    checkpoint = garbage_file(tmp_path)
    status, output = run_command(tmp_path, command, *flags, str(checkpoint), "--out", str(tmp_path / "out"))
    assert status == 2 and f"{checkpoint}: not a readable .npz checkpoint" in error_line(output)


def test_judge_on_a_missing_judge_names_the_command(tmp_path):
    status, output = run_command(tmp_path, "judge", "--path", str(tmp_path / "missing.npz"))
    line = error_line(output)
    assert status == 2 and "no trained judge at" in line and "python -m tinygan.judge --train" in line


# ---------------------------------------------------------------------------- in-process

def fails_with(error):
    def main(argv):
        raise error
    return main


@pytest.mark.parametrize("error, status, line", [
    (MnistError("MNIST not found.\nPut the four files\nin a folder."), 2,
     "error: MNIST not found. Put the four files in a folder."),
    (FileNotFoundError(2, "No such file or directory", "digits.gz"), 2, "error: digits.gz: No such file or directory"),
    (SystemExit("--eval-every: no trained judge"), 2, "error: --eval-every: no trained judge"),
    (KeyboardInterrupt(), 130, "interrupted"),
])
def test_run_command_reports_bad_input_and_ctrl_c_on_one_line(capsys, error, status, line):
    assert cli.run_command(fails_with(error)) == status
    captured = capsys.readouterr()
    assert captured.err == line + "\n" and captured.out == ""


def test_run_command_passes_exit_statuses_through_and_keeps_tracebacks_of_bugs():
    assert cli.run_command(lambda argv: None) == 0
    assert cli.run_command(lambda argv: 1) == 1  # a failed run, e.g. a NaN loss
    assert cli.run_command(fails_with(SystemExit(2))) == 2  # argparse, which has printed its error
    with pytest.raises(ZeroDivisionError):
        cli.run_command(fails_with(ZeroDivisionError("a bug")))
