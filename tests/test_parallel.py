"""Data-parallel training: P processes compute what one process computes on the whole batch,
every process holds the same state, a run on 2 processes writes a checkpoint that resumes on
1, bad splits are one-line errors before any work, and a dead process stops the others.

The multi-process tests run ``mpiexec`` (from the ``mpich`` wheel of ``pip install -e
".[mpi]"``) and are skipped with the reason when mpi4py or mpiexec is missing."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygan import parallel, train
from tinygan.checkpoint import read_checkpoint
from tinygan.serialize import load_npz

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "mpi"))
from two_steps import two_steps  # noqa: E402

MPIEXEC = shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
    MPI_REASON = None if MPIEXEC else "mpiexec not found (pip install -e \".[mpi]\" brings it)"
except ImportError as err:
    MPI_REASON = f"mpi4py not installed ({err}); pip install -e \".[mpi]\""
requires_mpi = pytest.mark.skipif(MPI_REASON is not None, reason=str(MPI_REASON))
pytestmark = pytest.mark.usefixtures("offline_data")


def mpiexec(n, *command, timeout=120, **kwargs):
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TINYGAN_BACKEND": "numpy"}
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *command], env=environment, capture_output=True,
                          text=True, timeout=timeout, cwd=HERE.parent, **kwargs)


def state(path):
    return {name: value for name, value in load_npz(path).items() if not name.startswith("meta:")}


@requires_mpi
@pytest.mark.parametrize("recipe", ["tinygan", "paper"])
def test_two_processes_compute_what_one_computes_on_the_whole_batch(tmp_path, recipe):
    done = mpiexec(2, str(HERE / "mpi/two_steps.py"), recipe, str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    two_steps(recipe, parallel.SingleProcess(), parts=2).save(tmp_path / "one.npz", 2)
    one, rank0, rank1 = (state(tmp_path / name) for name in ("one.npz", "rank0.npz", "rank1.npz"))
    assert one.keys() == rank0.keys() == rank1.keys()
    for name in one:
        np.testing.assert_array_equal(rank1[name], rank0[name], err_msg=f"{name}: the processes disagree")
        np.testing.assert_allclose(rank0[name], one[name], rtol=1e-9, atol=1e-12, err_msg=name)
    if recipe == "tinygan":
        assert any(name.startswith("ema:") for name in one) and any("sn_u" in name for name in one)


def test_one_process_in_two_parts_differs_from_one_part(tmp_path):
    """The reference above is not trivially equal: drawing the batch in two parts draws other data."""
    two_steps("tinygan", parallel.SingleProcess(), parts=2).save(tmp_path / "two.npz", 2)
    two_steps("tinygan", parallel.SingleProcess(), parts=1).save(tmp_path / "one.npz", 2)
    assert not np.array_equal(state(tmp_path / "two.npz")["G/local/Dense.w"], state(tmp_path / "one.npz")["G/local/Dense.w"])


@requires_mpi
def test_a_run_on_two_processes_resumes_on_one_and_back(tmp_path):
    flags = ["--preset", "tiny", "--batch-size", "8", "--steps", "4", "--log-every", "2", "--eval-every", "0",
             "--out", str(tmp_path / "run")]
    done = mpiexec(2, "-m", "tinygan.train", *flags)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "x 2 processes" in done.stdout and done.stdout.count("done: 4 steps") == 1  # rank 0 alone speaks
    assert read_checkpoint(tmp_path / "run/checkpoint.npz").step == 4
    args = train.parse_args(["--steps", "6", "--resume", str(tmp_path / "run/checkpoint.npz")])
    assert train.run(args, log=lambda message: None) == 0
    assert read_checkpoint(tmp_path / "run/checkpoint.npz").step == 6
    done = mpiexec(2, "-m", "tinygan.train", "--steps", "8", "--resume", str(tmp_path / "run/checkpoint.npz"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_checkpoint(tmp_path / "run/checkpoint.npz").step == 8
    with open(tmp_path / "run/losses.csv") as file:
        assert [line.split(",")[0] for line in file][1:] == [str(step) for step in range(1, 9)]


def launcher_report_removed(output):
    """output without the block Open MPI's mpiexec adds between two rules of dashes when a process
    exits non-zero (MPICH's adds nothing): what tinygan itself printed."""
    return re.sub(r"^-{20,}\n.*?^-{20,}\n", "", output, flags=re.MULTILINE | re.DOTALL)


@requires_mpi
def test_a_batch_that_cannot_be_split_is_one_line_before_any_work(tmp_path):
    done = mpiexec(2, "-m", "tinygan.train", "--preset", "tiny", "--batch-size", "5", "--out", str(tmp_path / "run"))
    lines = [line for line in launcher_report_removed(done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 2 and lines == [
        "error: --batch-size 5 cannot be split into 2 equal parts (one per process): choose a multiple of 2"]
    assert not (tmp_path / "run").exists()


@requires_mpi
def test_a_dead_process_stops_the_others_and_the_checkpoint_survives(tmp_path):
    flags = ["--preset", "tiny", "--batch-size", "8", "--steps", "100000", "--checkpoint-every", "20",
             "--sample-every", "100000", "--eval-every", "0", "--out", str(tmp_path / "run")]
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TINYGAN_BACKEND": "numpy"}
    launcher = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "tinygan.train", *flags], env=environment,
                                cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "run/checkpoint.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = subprocess.run(["pgrep", "-f", f"tinygan.train.*{tmp_path}"], capture_output=True, text=True)
        pids = sorted(int(pid) for pid in workers.stdout.split() if int(pid) != launcher.pid)
        assert len(pids) >= 2, workers.stdout
        os.kill(pids[-1], signal.SIGKILL)
        killed = time.monotonic()
        launcher.wait(timeout=30)
        assert time.monotonic() - killed < 15 and launcher.returncode != 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
    assert read_checkpoint(tmp_path / "run/checkpoint.npz").step % 20 == 0


def test_flatten_makes_parameters_and_gradients_views_of_two_buffers(rng):
    from tinygan.layers import Dense, Sequential
    model = Sequential([Dense(3, 2, rng=rng), Dense(2, 1, rng=rng)], name="m")
    before = [p.copy() for p in (layer.params[key] for _, layer, key in model.named_parameters())]
    params, grads = model.flatten()
    assert params.size == grads.size == 3 * 2 + 2 + 2 * 1 + 1
    np.testing.assert_array_equal(params, np.concatenate([p.ravel() for p in before]))
    model.layers[1].grads["w"] += 1.0
    assert grads.sum() == 2.0
    grads[...] = 3.0
    model.zero_grad()
    assert not grads.any()
    params[0] = 7.0
    assert model.layers[0].params["w"][0, 0] == 7.0


def test_a_split_the_batch_cannot_take_is_refused_by_name():
    from tinygan.settings import RunSettings
    from tinygan.updater import split_problems
    assert split_problems(RunSettings(batch_size=6), 4, 4) == [
        "--batch-size 6 cannot be split into 4 equal parts (one per process): choose a multiple of 4"]
    assert "runs on one process only" in split_problems(RunSettings(mode_seeking=1.0), 2, 2)[0]
    assert split_problems(RunSettings(), 4, 2) == [] and "cannot be shared" in split_problems(RunSettings(), 3, 2)[0]
