"""Data-parallel speed: the default run's training step on one process against P processes.

    python bench/parallel_speed.py [--preset small] [--processes 2] [--rounds 3] [--steps 5]
                                   [--warmup 2] [--torch] [--json out.json]

Each round starts, one after the other (so machine noise hits all alike), as subprocesses:

* ``one``: one process, ``--processes`` threads (host threads, OpenBLAS one each), the whole batch (``--batch``);
* ``mpi``: ``mpiexec -n P``, one thread each, 1/P of the batch each, gradients and
  BatchNorm statistics summed across processes (tinygan.parallel);
* ``torch`` (with ``--torch``): the PyTorch twin (bench/torch_twin.py) of the same model,
  ``--processes`` threads, the whole batch.

Each times ``--steps`` steps after ``--warmup`` (``Updater.update``: the batch draw, D and G
updates, the weight average; for ``mpi`` the step of rank 0, with a barrier before each step
so that all start together). Reported: medians over all rounds, steps per second against
``one``, and for ``mpi`` the share of the step spent summing across processes, with the
bytes summed per step.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import blas_runtime, plural, save_json, stamp, stamp_text, torch_runtime


def worker(args):
    """One measurement: prints a JSON line of step times (rank 0 only)."""
    import numpy as np

    from tinygan import backend, parallel, threads
    from tinygan.data import load_digits
    from tinygan.settings import RunSettings
    from tinygan.updater import Updater

    backend.set_backend("numpy")
    threads.set_threads()  # OPENBLAS_NUM_THREADS, as the launcher set it
    backend.keep_freed_host_memory()  # as training runs
    processes = parallel.connect()
    settings = RunSettings(preset=args.preset, batch_size=args.batch)
    updater = Updater(settings, load_digits("train", data_dir=args.data_dir, log=lambda m: None), processes=processes)
    summing = {"seconds": 0.0, "bytes": 0}
    if processes.size > 1:
        plain_sum = processes.sum

        def timed_sum(array):
            tick = time.perf_counter()
            result = plain_sum(array)
            summing["seconds"] += time.perf_counter() - tick
            summing["bytes"] += array.nbytes
            return result

        processes.sum = timed_sum
    step_fn = lambda step: updater.update(step)  # noqa: E731
    if args.kind == "torch":
        import torch
        import torch_twin
        torch.set_num_threads(args.threads)
        twin = torch_twin.TorchTwin(updater.config, settings).load_tinygan(updater.generator, updater.discriminator)

        def step_fn(step):
            real, labels, boxes = updater.dataset.sample(args.batch, np.random.default_rng([settings.seed, step]))
            twin.train_step(step, twin.tensor(real), twin.tensor(labels), twin.tensor(boxes))

    times, shares, sizes = [], [], []
    for step in range(args.warmup + args.steps):
        if processes.size > 1:
            processes.comm.Barrier()
        summing.update(seconds=0.0, bytes=0)
        tick = time.perf_counter()
        step_fn(step)
        seconds = time.perf_counter() - tick
        if step >= args.warmup:
            times.append(seconds)
            shares.append(summing["seconds"] / seconds)
            sizes.append(summing["bytes"])
    if processes.rank == 0:
        runtime = {"blas": blas_runtime(), "torch": torch_runtime(sys.modules.get("torch"))}
        print(json.dumps({"kind": args.kind, "processes": processes.size, "threads": args.threads, "times": times,
                          "sum_shares": shares, "sum_bytes": sizes[-1] if sizes else 0, "runtime": runtime}))


def measure(kind, args):
    """Run one worker subprocess; returns its JSON record."""
    threads = 1 if kind == "mpi" else args.processes
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, __file__, "--worker", kind, "--threads", str(threads), "--preset", args.preset,
               "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if kind == "mpi":
        command = [shutil.which("mpiexec"), "-n", str(args.processes)] + command
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{kind} worker failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--torch", action="store_true", help="also time the PyTorch twin (torch installed)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--worker", choices=("one", "mpi", "torch"), dest="kind", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.kind is None and shutil.which("mpiexec") is None:
        parser.error('mpiexec not found: pip install -e ".[mpi]"')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.kind:
        return worker(args)
    kinds = ["one", "mpi"] + (["torch"] if args.torch else [])
    records = {kind: [] for kind in kinds}
    for round_number in range(args.rounds):
        for kind in kinds:
            records[kind].append(measure(kind, args))
            print(f"round {round_number + 1}/{args.rounds}: {kind} done", file=sys.stderr, flush=True)
    threads = f"{args.processes} in one process, 1 in each of {args.processes} under mpiexec"
    result = {"stamp": stamp(threads), "preset": args.preset, "batch": args.batch, "processes": args.processes,
              "rounds": args.rounds, "steps_per_round": args.steps}
    print(stamp_text(result["stamp"]))
    print(f"\n== {args.preset} preset, default recipe, batch {args.batch} (global), medians of "
          f"{args.rounds} x {args.steps} steps")
    print(f"{'run':<34}{'ms/step':>10}{'max/min':>9}{'steps/s vs one':>16}{'sum share':>11}")
    base = None
    for kind in kinds:
        times = [t for record in records[kind] for t in record["times"]]
        median = statistics.median(times)
        base = base or median
        shares = [s for record in records[kind] for s in record["sum_shares"]]
        label = {"one": f"one process, {args.processes} threads",
                 "mpi": f"mpiexec -n {args.processes}, 1 thread each",
                 "torch": f"PyTorch twin, {args.processes} threads"}[kind]
        result[kind] = {"median_ms": median * 1e3, "max_over_min": max(times) / min(times), "speedup": base / median,
                        "sum_share": statistics.median(shares) if kind == "mpi" else None,
                        "sum_bytes_per_step": records[kind][-1]["sum_bytes"], "times_s": times}
        share = f"{100 * result[kind]['sum_share']:.1f}%" if kind == "mpi" else "-"
        runtime = records[kind][-1]["runtime"]
        result[kind]["runtime"] = runtime
        kernel = (f"torch {runtime['torch']['cpu_capability']}, {runtime['torch']['threads']} threads" if kind == "torch"
                  else f"OpenBLAS {runtime['blas']['core']}, {plural(runtime['blas']['threads'], 'thread')}")
        print(f"{label:<34}{median * 1e3:>10.0f}{max(times) / min(times):>9.2f}{base / median:>16.2f}{share:>11}"
              f"   {kernel}")
    print(f"bytes summed across processes per step (mpi): {result['mpi']['sum_bytes_per_step'] / 1e6:.2f} MB")
    if args.json:
        save_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
