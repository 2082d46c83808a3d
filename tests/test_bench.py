"""Smoke test of bench/conv_speed.py: a --quick run writes positive timings for every quick shape.

Runs on the backend named by TINYGAN_BACKEND ('cupy' there, NumPy otherwise)."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "conv_speed.py"


def quick_shapes():
    """The QUICK_SHAPES list of the benchmark script."""
    spec = importlib.util.spec_from_file_location("conv_speed", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.QUICK_SHAPES


def test_conv_speed_quick_writes_positive_timings(tmp_path):
    backend = "cupy" if os.environ.get("TINYGAN_BACKEND") == "cupy" else "numpy"
    out = tmp_path / "conv.json"
    command = [sys.executable, str(BENCH), "--quick", "--no-torch", "--repeats", "1",
               "--backend", backend, "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]

    run = json.loads(out.read_text())["backends"][backend]
    assert [entry["shape"] for entry in run["shapes"]] == quick_shapes()
    for entry in run["shapes"]:
        assert entry["batch"] == 4
        for key in ("fwd_ms", "fwd_bwd_ms", "gemm_ms", "fwd_bwd_gflops", "gemm_gflops", "vs_gemm"):
            assert entry[key] > 0, f"{entry['shape']}: {key} = {entry[key]}"
        assert "torch_fwd_bwd_ms" not in entry
    assert run["memory"]["extra_peak_bytes"] > 0


def test_count_ops_counts_a_step_by_kind_and_leaves_numpy_as_it_was(offline_data):
    sys.path.insert(0, str(BENCH.parent))
    import count_ops
    import numpy as np
    from tinygan.fast.kernels import sum_rows

    ops, calls = count_ops.count_step("tiny", "tinygan", 8)
    assert calls["Conv2D"] == 20  # G's convolutions, D's on real + fake and G's step
    assert calls["BatchNorm"] == calls["ConditionalBatchNorm"] == 4  # the global pathway's, the local one's
    assert 0 < ops["Adam"] <= 2  # two flat updates (one fused kernel each), however many parameters
    assert sum(ops.values()) > ops["Conv2D"] > 0
    fewer, _ = count_ops.count_step("tiny", "tinygan", 4)  # pasting and cropping: one gather per object, as on CuPy
    assert all(fewer[kind] == ops[kind] for kind in ("Generator", "Discriminator")), (fewer, ops)
    assert type(sum_rows(np.ones((3, 2)))) is np.ndarray  # no counted arrays left behind
    from tinygan import layout
    assert layout._box_corners(np.ones((1, 4, 4, 1)), np.array([[[1, 2, 3, 4]]])) == [[[1, 2]]]  # slices again


def test_step_speed_pairs_each_step_with_the_one_timed_next_to_it():
    sys.path.insert(0, str(BENCH.parent))
    import step_speed
    assert step_speed.paired_ratio([2.0, 3.0, 6.0], [1.0, 3.0, 2.0]) == 2.0  # the pairs' ratios 2, 1, 3
    assert step_speed.paired_ratio([1.0, 9.0], [1.0, 3.0]) == 2.0  # two pairs: the mean of their ratios 1 and 3


def test_step_speed_tiny_writes_timings_and_spread(tmp_path, offline_data):
    out = tmp_path / "step.json"
    command = [sys.executable, str(BENCH.parent / "step_speed.py"), "--presets", "tiny", "--no-torch", "--no-check",
               "--repeats", "2", "--warmup", "0", "--batch", "4", "--threads", "1", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(out.read_text())["presets"]["tiny"]
    assert run["tinygan_ms"] > 0 and run["max_over_min"]["tinygan"] >= 1
    assert "paired_tinygan_over_torch" not in run and "max/min" in result.stdout


def test_ab_step_runs_a_copy_of_the_package_beside_the_working_tree(tmp_path, offline_data):
    out = tmp_path / "ab.json"
    command = [sys.executable, str(BENCH.parent / "ab_step.py"), str(BENCH.parent.parent), "--preset", "tiny",
               "--batch", "4", "--steps", "2", "--warmup", "1", "--threads", "1", "--layers", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["base"].startswith("folder ")
    assert len(run["step_s"]["tinygan_base"]) == len(run["step_s"]["tinygan"]) == 2
    assert run["paired_new_over_base"] > 0 and run["layers_ms_per_step"]["Conv2D fwd"]["base_ms"] > 0
    failed = subprocess.run([sys.executable, str(BENCH.parent / "ab_step.py"), str(tmp_path)],
                            capture_output=True, text=True)
    assert failed.returncode != 0 and "holds no tinygan/ package" in failed.stderr
