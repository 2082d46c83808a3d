"""What the benchmarks here share: timing, the thread settings, and the stamp of every result.

* timing: :func:`interleaved_medians` runs several calls in turn within each repeat, so that
  a slow minute of the machine hits all of them alike; :func:`paired_ratio` compares two of
  them repeat by repeat;
* threads: :func:`add_runtime_arguments` adds --threads, --tf32 and --no-torch;
  :func:`configure_environment` fixes the BLAS thread count before NumPy's BLAS reads it (by
  restarting the script once), :func:`load_torch` gives PyTorch the same count;
* the stamp: :func:`stamp` says which code ran where (git commit of this checkout, CPU model
  and cores, NumPy and its BLAS, the OpenBLAS kernel in use and its threads, the date and the
  command line); every script puts it in its JSON (key ``stamp``) and prints
  :func:`stamp_text` first, so a saved table carries it too.

The scripts import this module by name: ``python bench/X.py`` puts bench/ first on the import path.
It needs NumPy only; PyTorch and CuPy are described when the caller hands them in.
"""
import ctypes
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHECKOUT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("TINYGAN_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
RECORDED_VARIABLES = THREAD_VARIABLES + ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUPY_TF32", "TINYGAN_BACKEND")


# ----------------------------------------------------------------------------- timing

def timed(fn, synchronize):
    """Seconds for one call of fn, synchronized before and after."""
    synchronize()
    start = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - start


def interleaved_medians(calls, repeats, warmup):
    """{name: (median seconds, samples)}; calls = {name: (fn, synchronize)}, run in turn in
    each of ``warmup + repeats`` rounds, the first ``warmup`` rounds not kept."""
    samples = {name: [] for name in calls}
    for round_index in range(warmup + repeats):
        for name, (fn, synchronize) in calls.items():
            seconds = timed(fn, synchronize)
            if round_index >= warmup:
                samples[name].append(seconds)
    return {name: (statistics.median(times), times) for name, times in samples.items()}


def paired_ratio(ours, theirs):
    """The median of the per-repeat ratios ours[i] / theirs[i]. Each pair was timed back to back,
    so a drift of the machine's speed touches both sides of a ratio alike; the ratio of the two
    medians can set one side's slow phase against the other's fast one."""
    return statistics.median(a / b for a, b in zip(ours, theirs))


# ----------------------------------------------------------------------------- threads

def add_runtime_arguments(parser):
    """--threads, --tf32 and --no-torch: what :func:`configure_environment` and :func:`load_torch` read."""
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="tinygan host threads (each with one OpenBLAS thread) and torch threads "
                             "(default: os.cpu_count())")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on the GPU (CuPy and torch)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")


def add_data_and_json_arguments(parser, written):
    """--data-dir (where MNIST is, as tinygan.train) and --json (the file ``written`` goes to)."""
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files (as tinygan.train)")
    parser.add_argument("--json", default=None, help=f"write {written} to this file")


def configure_environment(args, argv, script):
    """Fix the BLAS thread count and the TF32 mode before numpy's BLAS and CuPy read them.

    OpenBLAS, MKL and OpenMP read their thread count once, when numpy loads its BLAS, which
    has already happened here; so when the environment does not already ask for
    ``args.threads`` the ``script`` restarts itself once with it set (and CUPY_TF32 with it).

    CuPy: ``CUPY_TF32=1`` lets cuBLAS use TF32 tensor cores for float32 matmuls (CuPy docs,
    "Environment variables"; read in cupy/_core/_routines_linalg.pyx ``get_compute_type``
    on the first float32 matmul and cached). It is set here, before cupy is first imported.
    """
    wanted = {name: str(args.threads) for name in THREAD_VARIABLES}
    wanted["CUPY_TF32"] = "1" if args.tf32 else "0"
    if all(os.environ.get(name) == value for name, value in wanted.items()):
        return
    os.execve(sys.executable, [sys.executable, str(Path(script).resolve()), *argv], {**os.environ, **wanted})


def load_torch(args):
    """(torch module or None, reason); sets its thread count and TF32 mode to match tinygan's."""
    if args.no_torch:
        return None, "--no-torch"
    try:
        import torch
    except ImportError as err:
        return None, f"torch is not installed ({err})"
    torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32  # cuDNN's default is True: set it either way
    return torch, "ok"


# ----------------------------------------------------------------------------- machine

def cpu_model():
    """The CPU's model name, and '(virtual machine)' when the CPU reports a hypervisor."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
    return model + (" (virtual machine)" if "hypervisor" in flags else "")


def blas_build():
    """The BLAS numpy was built against, as numpy's build configuration names it."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception as err:  # the layout of show_config differs between numpy versions
        return f"unknown ({err})"


def blas_runtime():
    """What the loaded OpenBLAS runs: its kernel ('core') and thread count, read from the library
    itself (NumPy's bundled scipy-openblas or a system OpenBLAS), and the override variables in
    the environment. {'core': None, ...} when no OpenBLAS is loaded."""
    maps = Path("/proc/self/maps")
    libraries = sorted({line.split()[-1] for line in maps.read_text().splitlines()
                        if "openblas" in line.lower() and line.split()[-1].startswith("/")}) if maps.exists() else []
    info = {"library": libraries[0] if libraries else None, "core": None, "threads": None,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    if libraries:
        library = ctypes.CDLL(libraries[0])
        for prefix, suffix in (("scipy_", "64_"), ("scipy_", ""), ("", ""), ("", "64_")):
            core = getattr(library, f"{prefix}openblas_get_corename{suffix}", None)
            if core is not None:
                core.restype = ctypes.c_char_p
                info["core"] = core().decode()
                info["threads"] = getattr(library, f"{prefix}openblas_get_num_threads{suffix}")()
                break
    return info


def torch_runtime(torch):
    """The instruction set and thread count PyTorch's CPU kernels run with (None without torch)."""
    if torch is None:
        return None
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", lambda: "unknown")()
    return {"cpu_capability": capability, "threads": torch.get_num_threads()}


def gpu_info(cupy):
    """CuPy's version, the GPU's name and the CUDA runtime version (None without CuPy)."""
    if cupy is None:
        return None
    name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
    return {"cupy": cupy.__version__, "gpu": name.decode() if isinstance(name, bytes) else name,
            "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion()}


def machine_info(torch=None, cupy=None):
    """CPU, library versions, the BLAS and its kernel, PyTorch's and CuPy's when handed in."""
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "python": sys.version.split()[0],
            "numpy": np.__version__, "blas": blas_build(), "blas_runtime": blas_runtime(),
            "torch": getattr(torch, "__version__", None), "torch_runtime": torch_runtime(torch),
            "gpu": gpu_info(cupy)}


# ----------------------------------------------------------------------------- the stamp

def git_commit():
    """(commit hash of this checkout or None, True if tinygan/ or bench/ differ from it or None)."""
    def git(*arguments):
        done = subprocess.run(["git", "-C", str(CHECKOUT), *arguments], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None
    try:
        commit = git("rev-parse", "HEAD")
        changes = git("status", "--porcelain", "--", "tinygan", "bench") if commit else None
    except OSError:  # no git
        return None, None
    return commit, (None if changes is None else bool(changes))


def command_line():
    """The command that started this script, its path relative to the current folder."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def stamp(threads, torch=None, cupy=None, **settings):
    """Which code ran where, for a result: commit, date, command line, the environment variables
    that change the BLAS or the backend, the machine (:func:`machine_info`), ``threads`` and any
    other ``settings`` (host threads, TF32). Make it after the thread settings are in force:
    the BLAS's thread count is read from the library."""
    commit, dirty = git_commit()
    tinygan = sys.modules.get("tinygan")
    return {"commit": commit, "uncommitted_changes": dirty,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": command_line(),
            "environment": {name: os.environ[name] for name in RECORDED_VARIABLES if name in os.environ},
            "tinygan_from_checkout": None if tinygan is None else CHECKOUT in Path(tinygan.__file__).resolve().parents,
            "machine": machine_info(torch, cupy), "threads": threads, **settings}


def plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def stamp_text(record, prefix="# "):
    """The stamp as three or four lines, each starting with ``prefix``, to head a saved table."""
    machine, blas, threads = record["machine"], record["machine"]["blas_runtime"], record["threads"]
    commit = (record["commit"] or "unknown")[:12]
    if record["uncommitted_changes"]:
        commit += " plus uncommitted changes to tinygan/ or bench/"
    if record.get("tinygan_from_checkout") is False:
        commit += " (tinygan imported from elsewhere!)"
    forced = [f"{name}={blas[name]}" for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if blas[name]]
    kernel = (f"OpenBLAS kernel {blas['core']} ({'forced by ' + ' '.join(forced) if forced else 'its own choice'}), "
              f"{plural(blas['threads'], 'thread')}" if blas["core"] else "no OpenBLAS loaded")
    run = plural(threads, "thread") if isinstance(threads, int) else f"threads: {threads}" if threads else ""
    if record.get("host_threads") is not None:
        run += f" ({plural(record['host_threads'], 'host thread')})"
    if record.get("tf32") is not None:
        run += f", TF32 {'on' if record['tf32'] else 'off'}"
    lines = [f"command: {record['command']}",
             f"commit {commit}; {record['date']}",
             f"machine: {machine['cpu_model']}, {machine['cpu_count']} cores; Python {machine['python']}, "
             f"numpy {machine['numpy']}, BLAS {machine['blas']}, {kernel}" + (f"; {run}" if run else "")]
    extras = []
    if machine["torch_runtime"]:
        extras.append(f"torch {machine['torch']} on {machine['torch_runtime']['cpu_capability']} kernels, "
                      f"{machine['torch_runtime']['threads']} threads")
    if machine["gpu"]:
        extras.append(f"{machine['gpu']['gpu']}, CuPy {machine['gpu']['cupy']}, "
                      f"CUDA runtime {machine['gpu']['cuda_runtime']}")
    if record["environment"]:
        extras.append("environment " + " ".join(f"{k}={v}" for k, v in record["environment"].items()))
    if extras:
        lines.append("; ".join(extras))
    return "\n".join(prefix + line for line in lines)


def fmt(value, spec):
    """``value`` formatted by ``spec``, or '-' for None (a table cell)."""
    return "-" if value is None else format(value, spec)


def save_json(path, record):
    """Write a result (its ``stamp`` inside) as indented JSON, making the folder; say so."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1, default=str))
    print(f"\nwrote {path}")
