"""The scripts of bench/: each runs as ``python bench/X.py`` from the top of the checkout (no
sys.path edits of their own), every result carries the stamp of bench/harness.py, and short
runs of conv_speed, step_speed, count_ops and ab_step give sane figures.

Runs on the backend named by TINYGAN_BACKEND ('cupy' there, NumPy otherwise)."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_train

CHECKOUT = Path(__file__).resolve().parents[1]
BENCH = CHECKOUT / "bench"
sys.path.insert(0, str(BENCH))  # the scripts import their siblings by name, as `python bench/X.py` lets them
import harness  # noqa: E402

SCRIPTS = sorted(path.name for path in BENCH.glob("*.py") if "__main__" in path.read_text())
STAMP_KEYS = {"commit", "uncommitted_changes", "date", "command", "environment", "machine", "threads"}


def run_script(name, *arguments, timeout=120):
    """``python bench/NAME ARGUMENTS`` from the top of the checkout, tinygan importable as after
    ``pip install -e .``; returns the finished process."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT),
                                                                              os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, f"bench/{name}", *map(str, arguments)], cwd=CHECKOUT, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def check_stamp(record, stdout):
    """A result's stamp says commit, date, command, machine and BLAS; the printout starts with it."""
    assert STAMP_KEYS <= set(record), record
    assert record["command"].startswith("python bench/")
    machine = record["machine"]
    assert machine["cpu_count"] >= 1 and machine["cpu_model"] and machine["numpy"] == np.__version__
    assert {"core", "threads", "library"} <= set(machine["blas_runtime"])
    assert stdout.startswith(f"# command: {record['command']}\n# commit "), stdout[:300]


def test_no_script_edits_sys_path():
    for path in [*BENCH.glob("*.py"), *BENCH.glob("*.sh")]:
        assert "sys.path" not in path.read_text(), f"{path.name} mentions sys.path"


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_answers_help_from_the_top_of_the_checkout(name):
    assert {"conv_speed.py", "step_speed.py", "count_ops.py", "ab_step.py"} <= set(SCRIPTS)
    result = run_script(name, "--help", timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("usage: "), result.stdout[:300]


def test_gpu_check_calls_scripts_that_exist_with_flags_they_take(tmp_path):
    import importlib
    (tmp_path / "run_textured").mkdir()
    (tmp_path / "run_textured/checkpoint.npz").touch()  # evaluate's parser looks for the file the step before writes
    script = (BENCH / "gpu_check.sh").read_text()
    calls = re.findall(r'^\s+"\$PY" bench/(\w+)\.py (.*)$', script, re.MULTILINE)
    assert {name for name, _ in calls} == {"conv_speed", "step_speed"}
    commands = re.findall(r'^[^#\n]*"\$PY" -m (tinygan\.\w+) (.*)$', script, re.MULTILINE)
    assert {name for name, _ in commands} == {"tinygan.train", "tinygan.evaluate"}
    for name, flags in calls + commands:
        importlib.import_module(name).parse_args(flags.replace("$OUT", str(tmp_path)).replace('"', "").split())


def test_interleaved_medians_runs_the_calls_in_turn_and_drops_the_warmup():
    order = []
    calls = {name: (lambda name=name: order.append(name), lambda: None) for name in ("a", "b")}
    medians = harness.interleaved_medians(calls, repeats=3, warmup=2)
    assert order == ["a", "b"] * 5
    assert [len(samples) for _, samples in medians.values()] == [3, 3]
    assert all(seconds >= 0 for seconds, _ in medians.values())


def test_paired_ratio_pairs_each_repeat_with_the_one_timed_next_to_it():
    assert harness.paired_ratio([2.0, 3.0, 6.0], [1.0, 3.0, 2.0]) == 2.0  # the pairs' ratios 2, 1, 3
    assert harness.paired_ratio([1.0, 9.0], [1.0, 3.0]) == 2.0  # two pairs: the mean of their ratios 1 and 3


def test_the_stamp_names_this_checkouts_commit_and_the_blas_kernel():
    record = harness.stamp(3, tf32=False)
    head = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        assert record["commit"] == head.stdout.strip() and isinstance(record["uncommitted_changes"], bool)
    blas = record["machine"]["blas_runtime"]
    if blas["library"] is not None:  # an OpenBLAS is loaded: its kernel is read from it
        assert blas["core"] and blas["threads"] >= 1
    text = harness.stamp_text(record)
    assert text.count("\n# ") >= 2 and "3 threads" in text and "TF32 off" in text
    assert (record["commit"] or "unknown")[:12] in text and record["machine"]["cpu_model"] in text


def test_conv_speed_quick_writes_positive_timings(tmp_path):
    backend = "cupy" if os.environ.get("TINYGAN_BACKEND") == "cupy" else "numpy"
    out = tmp_path / "conv.json"
    result = run_script("conv_speed.py", "--quick", "--no-torch", "--repeats", "1", "--backend", backend,
                        "--json", out)
    assert result.returncode == 0, result.stderr[-3000:]

    record = json.loads(out.read_text())
    check_stamp(record["stamp"], result.stdout)
    import conv_speed
    run = record["backends"][backend]
    assert [entry["shape"] for entry in run["shapes"]] == conv_speed.QUICK_SHAPES
    for entry in run["shapes"]:
        assert entry["batch"] == 4
        for key in ("fwd_ms", "fwd_bwd_ms", "gemm_ms", "fwd_bwd_gflops", "gemm_gflops", "vs_gemm"):
            assert entry[key] > 0, f"{entry['shape']}: {key} = {entry[key]}"
        assert "torch_fwd_bwd_ms" not in entry
    assert run["memory"]["extra_peak_bytes"] > 0


def test_count_ops_counts_a_step_by_kind_and_leaves_numpy_as_it_was(offline_data):
    import count_ops
    from tinygan.fast.kernels import column_sums

    ops, calls, _ = count_ops.count_step("tiny", "tinygan", 8)
    assert calls["Conv2D"] == 16 and calls["UpsampleConv2D"] == 4  # G's convolutions, D's on real + fake and G's step
    assert calls["BatchNorm"] == calls["ConditionalBatchNorm"] == 4  # the global pathway's, the local one's
    assert 0 < ops["Adam"] <= 2  # two flat updates (one fused kernel each), however many parameters
    assert sum(ops.values()) > ops["Conv2D"] > 0
    fewer, _, _ = count_ops.count_step("tiny", "tinygan", 4)  # pasting and cropping: one gather per object, as on CuPy
    assert all(fewer[kind] == ops[kind] for kind in ("Generator", "Discriminator")), (fewer, ops)
    assert type(column_sums(np.ones((3, 2)))) is np.ndarray  # no counted arrays left behind
    from tinygan import layout
    assert layout._box_corners(np.ones((1, 4, 4, 1)), np.array([[[1, 2, 3, 4]]])) == [[[1, 2]]]  # slices again


@pytest.mark.parametrize("layout, recipe", [("grid", "tinygan"), ("grid", "paper"), ("random", "tinygan")])
def test_a_training_step_reads_nothing_from_the_device(offline_data, layout, recipe):
    """No device-to-host read in Updater.update (the loop reads the losses when it logs);
    the paper recipe runs on the grid only."""
    import count_ops
    ops, _, reads = count_ops.count_step("tiny", recipe, 8, layout=layout)
    assert reads == {} and sum(ops.values()) > 0


def test_count_ops_counts_every_kind_of_read_to_the_host(offline_data):
    import count_ops
    from tinygan import backend, layout
    numpy_asarray = np.asarray
    with count_ops.counting() as counter:
        counter.reads.clear()
        xp = backend.get_xp()
        total = xp.ones(3).sum()  # a 0-d device array, as on CuPy
        reads = [float(total), int(total), bool(total > 0), f"{total:.1f}", total.item(), xp.ones(2).tolist(),
                 backend.to_host(xp.ones(2)), np.array(xp.ones(2)), xp.ones(2).get(), range(3)[xp.ones((), int)]]
        assert counter.reads == {"Updater": len(reads)}
        counter.reads.clear()
        layout.check_labels(xp.asarray(np.zeros((2, 4), np.int64)), 2, 4, 10)  # as a check inside a step would
        assert counter.reads["Updater"] >= 1
    assert np.asarray is numpy_asarray  # numpy's own again


def test_count_ops_prints_its_stamp_before_the_table(offline_data):
    result = run_script("count_ops.py", "--presets", "tiny", "--batch", "4")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("# command: python bench/count_ops.py --presets tiny --batch 4\n# commit ")
    assert "total per step" in result.stdout


def test_step_speed_tiny_writes_timings_and_spread(tmp_path, offline_data):
    out = tmp_path / "step.json"
    result = run_script("step_speed.py", "--presets", "tiny", "--no-torch", "--no-check", "--repeats", "2",
                        "--warmup", "0", "--batch", "4", "--threads", "1", "--json", out)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(out.read_text())
    check_stamp(record["stamp"], result.stdout)
    assert record["stamp"]["threads"] == 1 and record["stamp"]["environment"]["OPENBLAS_NUM_THREADS"] == "1"
    run = record["presets"]["tiny"]
    assert run["tinygan_ms"] > 0 and run["max_over_min"]["tinygan"] >= 1
    assert "paired_tinygan_over_torch" not in run and "max/min" in result.stdout


def test_ab_step_runs_a_copy_of_the_package_beside_the_working_tree(tmp_path, offline_data):
    out = tmp_path / "ab.json"
    result = run_script("ab_step.py", CHECKOUT, "--preset", "tiny", "--batch", "4", "--steps", "2", "--warmup", "1",
                        "--threads", "1", "--layers", "--json", out)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(out.read_text())
    check_stamp(run["stamp"], result.stdout)
    assert run["base"].startswith("folder ")
    assert len(run["step_s"]["tinygan_base"]) == len(run["step_s"]["tinygan"]) == 2
    assert run["paired_new_over_base"] > 0 and run["layers_ms_per_step"]["Conv2D fwd"]["base_ms"] > 0
    failed = run_script("ab_step.py", tmp_path)
    assert failed.returncode != 0 and "holds no tinygan/ package" in failed.stderr


def write_run(folder, evaluations, seconds_per_step, last_step, report=None, seconds_per_evaluation=0.0):
    """A run folder as python -m tinygan.train writes it: losses.csv with evaluation rows
    (step -> (seen, unseen, frechet)), each step taking seconds_per_step and each evaluation
    seconds_per_evaluation more (on the next row: a row's seconds are written before its evaluation
    runs), and, given, eval/report.json."""
    folder.mkdir()
    lines = ["step,d_real,d_fake,g,mode_seeking,lr_g,lr_d,seconds,acc_seen,acc_unseen,frechet"]
    for step in range(1, last_step + 1):
        seen, unseen, frechet = evaluations.get(step, ("", "", ""))
        seconds = step * seconds_per_step + seconds_per_evaluation * sum(at < step for at in evaluations)
        lines.append(f"{step},1,1,1,,0.001,0.001,{seconds:.2f},{seen},{unseen},{frechet}")
    (folder / "losses.csv").write_text("\n".join(lines) + "\n")
    if report:
        (folder / "eval").mkdir()
        (folder / "eval" / "report.json").write_text(json.dumps(report))


def test_time_to_good_reads_the_first_evaluation_past_each_threshold(tmp_path):
    write_run(tmp_path / "a_s0", {10: (0.96, 0.95, 9.0), 20: (0.99, 0.975, 3.0), 30: (0.99, 0.99, 2.5)}, 6.0, 30,
              {"seen": {"per_object": {"value": 0.991}, "frechet": 2.5}, "unseen": {"per_object": {"value": 0.984}}})
    write_run(tmp_path / "a_s1", {10: (0.98, 0.99, 5.0), 20: (0.97, 0.97, 4.0)}, 12.0, 20)
    result = run_script("time_to_good.py", f"a={tmp_path}/a_s*", "--png", tmp_path / "curves.png")
    assert result.returncode == 0, result.stderr[-3000:]
    row = next(line for line in result.stdout.splitlines() if line.startswith("| a |"))
    # s0 reaches 97% (the lower of seen and unseen) at step 20 (2 min), 98% and 98.5% at step 30 (3 min);
    # s1 reaches 97% and 98% at step 10 (2 min), never 98.5%; minutes per run: the last row's seconds
    assert row == ("| a | 2 | 3.0, 4.0 | 2.0 min, step 15 (2/2) | 2.5 min, step 20 (2/2) | 3.0 min, step 30 (1/2) "
                   "| 99.1 / 98.4, 2.50; - |"), row
    assert (tmp_path / "curves.png").stat().st_size > 1000
    # alone: 0.6 s a step and 30 s an evaluation: step 20 with two evaluations (12 + 60 s), step 30 with
    # three (18 + 90 s)
    alone = run_script("time_to_good.py", f"a={tmp_path}/a_s0", "--alone", "0.6,30")
    assert "| a | 1 | 1.8 | 1.2 min, step 20 (1/1) | 1.8 min, step 30 (1/1) | 1.8 min, step 30 (1/1) |" in alone.stdout
    write_run(tmp_path / "alone", {3: (0.5, 0.5, 9.0), 6: (0.6, 0.6, 8.0)}, 0.6, 8, seconds_per_evaluation=7.5)
    read = run_script("time_to_good.py", f"a={tmp_path}/a_s0", "--alone-from", tmp_path / "alone")
    assert "0.600 s a step, 7.5 s an evaluation" in read.stdout, read.stdout + read.stderr
    bad = run_script("time_to_good.py", f"a={tmp_path}/a_s0", "--alone", "0.6")
    assert bad.returncode == 2 and "--alone: expected two seconds" in bad.stderr


def test_side_by_side_draws_the_same_layouts_and_noise_under_each_checkpoint(tmp_path, offline_data):
    for name, compositing in (("min", "min"), ("alpha", "alpha")):
        assert run_train(tmp_path / name, "--steps", "1", "--background", "textured", "--compositing", compositing) == 0
    out = tmp_path / "side.png"
    result = run_script("side_by_side.py", f"min={tmp_path}/min/checkpoint.npz", f"twice={tmp_path}/min/checkpoint.npz",
                        f"alpha={tmp_path}/alpha/checkpoint.npz", "--n", "3", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    picture = np.asarray(Image.open(out))
    size = (picture.shape[0] - 2) // 4 - 2  # three checkpoints and the real row, each a 2 px gap below
    assert picture.shape[0] == 4 * (size + 2) + 2
    rows = [picture[2 + r * (size + 2):r * (size + 2) + size + 2, -3 * (size + 2):] for r in range(4)]  # no captions
    assert np.array_equal(rows[0], rows[1])  # one checkpoint twice: the same layouts and noise
    assert not np.array_equal(rows[0], rows[2]) and not np.array_equal(rows[0], rows[3])
    bad = run_script("side_by_side.py", f"x={tmp_path}/none.npz", "--out", out)
    assert bad.returncode == 2 and "none.npz" in bad.stderr


def test_paper_families_draws_each_family_beside_real_paper(tmp_path, offline_data):
    flags = ["--steps", "1", "--layout", "random", "--max-objects", "2", "--background", "textured"]
    assert run_train(tmp_path / "on", *flags, "--paper-conditioned") == 0
    assert run_train(tmp_path / "off", *flags, "--no-paper-conditioned") == 0
    out = tmp_path / "families.png"
    result = run_script("paper_families.py", f"tiny={tmp_path}/on/checkpoint.npz", "--n", "3", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    for family in ("clouds", "ruled", "grain", "stains"):
        assert re.search(rf"^{family} +\| real \| \d", result.stdout, re.M)
        assert re.search(rf"^{family} +\| tiny \| \d", result.stdout, re.M)
    picture = np.asarray(Image.open(out))
    assert picture.shape[0] == 8 * (16 + 2) + 2  # four families, each real and drawn, 16 px sheets
    bad = run_script("paper_families.py", f"x={tmp_path}/off/checkpoint.npz", "--out", out)
    assert bad.returncode == 2 and "trained without --paper-conditioned" in bad.stderr


def test_paper_classifier_names_the_family_of_real_and_generated_paper(tmp_path, offline_data):
    flags = ["--steps", "1", "--layout", "random", "--max-objects", "2", "--background", "textured"]
    assert run_train(tmp_path / "on", *flags, "--paper-weight", "1", "--family-weight", "1") == 0
    assert run_train(tmp_path / "off", *flags, "--paper-weight", "1") == 0
    result = run_script("paper_classifier.py", tmp_path / "on/checkpoint.npz", "--n", "12")
    assert result.returncode == 0, result.stderr[-3000:]
    seen = int(re.search(r"real canvases seen (\d+) of 12, accuracy (\d\.\d+)", result.stdout)[1])
    tables = re.findall(r"^(clouds|ruled|grain|stains) \| (\d+) \| (\d+) \| (\d+) \| (\d+)$", result.stdout, re.M)
    assert [name for name, *_ in tables] == ["clouds", "ruled", "grain", "stains"] * 2
    counts = np.array([[int(c) for c in counts] for _, *counts in tables])
    assert counts[:4].sum() == seen > 0  # every real canvas the pathway sees, named once
    assert (counts[4:].sum(axis=1) == seen).all()  # the same layouts, each family asked for once
    bad = run_script("paper_classifier.py", tmp_path / "off/checkpoint.npz")
    assert bad.returncode == 2 and "trained without --family-weight" in bad.stderr


def test_seam_sources_reads_the_seams_of_the_images_and_of_the_paper_alone(tmp_path, offline_data):
    flags = ["--steps", "1", "--layout", "random", "--max-objects", "2", "--background"]
    assert run_train(tmp_path / "paper", *flags, "textured", "--preset", "small") == 0  # 128 px: paper away from boxes
    assert run_train(tmp_path / "white", *flags, "white") == 0
    result = run_script("seam_sources.py", tmp_path / "paper/checkpoint.npz", "--n", "8")
    assert result.returncode == 0, result.stderr[-3000:]
    *_, drawn, real = (line.split(" | ") for line in result.stdout.splitlines())
    assert drawn[0].endswith("checkpoint.npz (1)") and real[0] == "real digits on real paper"
    assert len(drawn) == 6  # a one-step model's strokes may hide every ring pixel: its figures may be nan
    seams, shares = [float(v) for v in real[1:3]], [float(v.rstrip("%")) for v in real[3:]]
    assert len(real) == 6 and all(0.5 < s < 2 for s in seams) and 5 > shares[0] >= shares[1] >= shares[2] >= 0
    # real paper runs on through the box edges, and real ink off the strokes leaves the rings bare
    bad = run_script("seam_sources.py", tmp_path / "white/checkpoint.npz")
    assert bad.returncode == 2 and "its objects have no alpha" in bad.stderr
