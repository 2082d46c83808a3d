"""The training and sampling commands end to end on the tiny preset: outputs, exact resume
after Ctrl-C, stopping on NaN, runs that are never overwritten by accident, settings kept by
a resumed run, checkpoints of the current format, the weight average, and the loop's
extensions."""
import csv
import json
from contextlib import contextmanager
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import requires_mnist, run_train
from tinygan import checkpoint, sample, train, updater
from tinygan.backend import to_host
from tinygan.checkpoint import read_checkpoint
from tinygan.loop import LOG, READER, WRITER, Extension, TrainingLoop
from tinygan.serialize import load_npz, save_npz_atomic

pytestmark = pytest.mark.usefixtures("offline_data")
FIXTURES = Path(__file__).parent / "fixtures"


def losses(out):
    with open(out / "losses.csv", newline="") as file:
        return [(row["step"], row["d_real"], row["d_fake"], row["g"]) for row in csv.DictReader(file)]


@contextmanager
def interrupted_at(step):
    """Inside the block, a run is interrupted (Ctrl-C) when it reaches ``step``."""
    original_update = updater.Updater.update

    def update(self, at):
        if at == step:
            raise KeyboardInterrupt
        return original_update(self, at)

    updater.Updater.update = update
    try:
        yield
    finally:
        updater.Updater.update = original_update


def test_train_writes_samples_losses_and_checkpoint(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "4", "--holdout", "19,32") == 0
    assert [row[0] for row in losses(tmp_path / "run")] == ["1", "2", "3", "4"]
    assert sorted(p.name for p in (tmp_path / "run/samples").iterdir()) == ["step_000003.png", "step_000004.png"]
    saved = read_checkpoint(tmp_path / "run/checkpoint.npz")
    assert saved.step == 4 and saved.config.n_objects == 2 and saved.settings.batch_size == 4
    assert sorted(saved.holdout.tolist()) == [[1, 9], [3, 2]]  # the tiny preset draws two objects
    assert "optG:m:G/local/Dense.w" in saved.arrays
    assert json.loads((tmp_path / "run/settings.json").read_text())["holdout"] == "19,32"


@pytest.mark.parametrize("paper", [(), ("--layout", "random", "--background", "textured", "--global-noise",
                                         "--alpha-floor", "0.05", "--paper-weight", "0.5", "--family-weight", "1")])
def test_resume_after_interrupt_reproduces_the_uninterrupted_run(tmp_path, paper):
    """Also on paper with the generator's per-pixel noise, drawn from a seed of each step, and the
    discriminator's paper pathway and its classifier of the family."""
    # weight average, decay at 75%, and on the grid mode seeking
    averaged = ("--ema-start", "2", *(paper or ("--mode-seeking", "0.1")))
    assert run_train(tmp_path / "straight", "--steps", "6", *averaged) == 0
    with interrupted_at(4):
        assert run_train(tmp_path / "resumed", "--steps", "6", *averaged) == 130
    assert read_checkpoint(tmp_path / "resumed/checkpoint.npz").step == 4
    assert run_train(tmp_path / "resumed", "--steps", "6", "--resume", str(tmp_path / "resumed/checkpoint.npz")) == 0
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    if paper:  # the noise's weights learned something
        assert any(name.endswith("weight") and "Pixel" in name and np.abs(value).max() > 0
                   for name, value in read_checkpoint(tmp_path / "straight/checkpoint.npz").arrays.items())
    resumed, straight = (read_checkpoint(tmp_path / run / "checkpoint.npz").arrays for run in ("resumed", "straight"))
    assert any(name.startswith("ema:") for name in straight) and resumed.keys() == straight.keys()
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


def test_resume_writes_beside_its_checkpoint_unless_told_otherwise(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "3") == 0
    checkpoint_path = str(tmp_path / "run" / "checkpoint.npz")
    assert train.parse_args(["--resume", checkpoint_path, "--steps", "5"]).out == str(tmp_path / "run")
    assert train.parse_args(["--resume", checkpoint_path, "--steps", "5", "--out", "elsewhere"]).out == "elsewhere"
    assert train.parse_args([]).out == "runs/tinygan"


def test_a_new_run_never_replaces_another_without_overwrite(tmp_path, capsys):
    run = tmp_path / "run"
    assert run_train(run, "--steps", "3") == 0
    before = (run / "checkpoint.npz").read_bytes()
    with pytest.raises(SystemExit) as stop:
        run_train(run, "--steps", "2")
    error = capsys.readouterr().err
    assert stop.value.code == 2 and error.count("\n") == 1
    assert f"{run} already holds a run (checkpoint.npz)" in error
    assert f"--resume {run / 'checkpoint.npz'}" in error and "--overwrite" in error
    assert (run / "checkpoint.npz").read_bytes() == before
    messages = []
    assert run_train(run, "--steps", "2", "--overwrite", log=messages.append) == 0
    assert read_checkpoint(run / "checkpoint.npz").step == 2 and [row[0] for row in losses(run)] == ["1", "2"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000002.png"]
    assert any("--overwrite: removing the run in" in m for m in messages)


def test_resume_refuses_flags_that_contradict_the_checkpoint(tmp_path, capsys):
    assert run_train(tmp_path / "run", "--steps", "3", "--seed", "4") == 0
    path = str(tmp_path / "run/checkpoint.npz")
    with pytest.raises(SystemExit):
        train.parse_args(["--resume", path, "--steps", "5", "--seed", "5", "--lr-g", "0.01"])
    error = capsys.readouterr().err
    assert "--seed 5 (it has 4)" in error and "--lr-g 0.01 (it has 0.001)" in error
    args = train.parse_args(["--resume", path, "--steps", "5", "--seed", "4", "--preset", "tiny"])  # agreeing: fine
    assert args.settings.seed == 4 and args.start == 3
    with pytest.raises(SystemExit):
        train.parse_args(["--resume", path, "--steps", "3"])
    assert "is at step 3; pass --steps larger" in capsys.readouterr().err


@requires_mnist
def test_a_checkpoint_of_the_current_format_resumes_with_the_same_losses(tmp_path):
    """tests/fixtures/tiny_checkpoint_format1.npz was written by tinygan 3e5f6a7 (tiny preset, batch 4,
    3 steps, --holdout 19,32 --ema-start 1 on MNIST); that code resumed it to step 5 with losses
    (4, 0.98381, 1.00983, -0.01052), (5, 0.98567, 1.00975, -0.00960). Since D sees real and fake in
    one pass (one power iteration of its spectral norms per D step, not two), the 5th decimals below.
    The losses are float32 sums whose order depends on the BLAS kernel (OpenBLAS's Haswell and
    SkylakeX kernels differ in the 5th decimal), so they are compared to 1e-4: a checkpoint that
    resumed wrongly would differ in the 2nd."""
    shutil.copy(FIXTURES / "tiny_checkpoint_format1.npz", tmp_path / "checkpoint.npz")
    args = train.parse_args(["--resume", str(tmp_path / "checkpoint.npz"), "--steps", "5", "--eval-every", "0"])
    assert train.run(args, log=lambda m: None) == 0
    rows = losses(tmp_path)[-2:]
    assert [row[0] for row in rows] == ["4", "5"]
    np.testing.assert_allclose([[float(v) for v in row[1:]] for row in rows],
                               [[0.98381, 1.00984, -0.01052], [0.98568, 1.00975, -0.00960]], rtol=0, atol=1e-4)
    generator, step, settings, holdout = checkpoint.load_generator(tmp_path / "checkpoint.npz")
    assert (step, settings.ema_start, holdout.tolist()) == (5, 1, [[1, 9], [3, 2]]) and not generator.training


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original_update = updater.Updater.update

    def diverging(self, step):
        result = original_update(self, step)
        return {**result, "g": result["g"] * float("nan")} if step == 4 else result  # stays on the device

    monkeypatch.setattr(updater.Updater, "update", diverging)
    messages = []
    assert run_train(tmp_path / "run", "--steps", "8", log=messages.append) == 1
    assert "a loss became" in messages[-1] and "checkpoint.npz" in messages[-1]
    assert read_checkpoint(tmp_path / "run/checkpoint.npz").step == 3


def test_resume_needs_a_checkpoint_file(capsys):
    with pytest.raises(SystemExit):
        train.parse_args(["--resume", "/nonexistent/checkpoint.npz"])
    assert "no checkpoint file at /nonexistent" in capsys.readouterr().err


def test_learning_rate_schedule():
    rates = [updater.learning_rate(1e-3, step, 100, [0.5, 0.75], 0.1) for step in (0, 49, 50, 74, 75, 99)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


def test_noisy_targets_ranges():
    targets = updater.noisy_targets(np.random.default_rng(0), 1000, real=True)
    assert targets[:, 0].min() >= 0 and targets[:, 0].max() <= 0.3
    assert targets[:, 1].min() >= 0.7 and targets[:, 1].max() <= 1.0


def test_checkpoints_keep_the_weight_average_and_sampling_uses_it(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "3", "--ema-start", "1") == 0
    arrays = load_npz(tmp_path / "run/checkpoint.npz")
    assert "ema:G/local/Dense.w" in arrays and "ema:G/global/BatchNorm.running_var" in arrays
    notes = []
    generator, step, settings, _ = checkpoint.load_generator(tmp_path / "run/checkpoint.npz", log=notes.append)
    assert notes == [] and settings.recipe == "tinygan"
    np.testing.assert_array_equal(to_host(generator.local_pathway.layers[0].params["w"]),
                                  arrays["ema:G/local/Dense.w"])
    assert not np.array_equal(arrays["ema:G/local/Dense.w"], arrays["G/local/Dense.w"])


def test_checkpoint_without_average_loads_the_trained_generator_with_a_note(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "3", "--recipe", "paper") == 0
    notes = []
    generator, _, _, _ = checkpoint.load_generator(tmp_path / "run/checkpoint.npz", log=notes.append)
    assert len(notes) == 1 and "holds no weight average" in notes[0]
    np.testing.assert_array_equal(to_host(generator.local_pathway.layers[0].params["w"]),
                                  load_npz(tmp_path / "run/checkpoint.npz")["G/local/Dense.w"])


def test_resuming_a_checkpoint_from_before_recipes_continues_the_paper_recipe(tmp_path):
    """Checkpoints written before recipes existed lack those settings: they were paper runs."""
    assert run_train(tmp_path / "run", "--steps", "3", "--recipe", "paper") == 0
    path = tmp_path / "run/checkpoint.npz"
    arrays = load_npz(path)
    settings = json.loads(str(arrays["meta:settings"]))
    old = {k: v for k, v in settings.items() if k not in ("recipe", "loss", "ema", "spectral_norm", "beta2")}
    arrays["meta:settings"] = json.dumps({**old, "minibatch_std": None})
    save_npz_atomic(path, arrays)
    assert run_train(tmp_path / "run", "--steps", "5", "--resume", str(path)) == 0
    saved = read_checkpoint(path).settings
    assert (saved.recipe, saved.loss, saved.ema, saved.beta2) == ("paper", "paper", 0.0, 0.999)


class Recorder(Extension):
    def __init__(self, every, priority, calls):
        super().__init__(every)
        self.priority, self.calls = priority, calls

    def __call__(self, loop):
        self.calls.append((loop.step, self.priority))


class CountingUpdater:
    def update(self, step):
        return {}


def test_the_loop_calls_each_extension_at_its_trigger_in_priority_order():
    calls = []
    extensions = [Recorder(3, READER, calls), Recorder(0, LOG, calls), Recorder(2, WRITER, calls)]
    assert TrainingLoop(CountingUpdater(), 1, 7, extensions, log=calls.append).run() == 0
    assert calls == [(2, WRITER), (3, READER), (4, WRITER), (6, WRITER), (6, READER),
                     (7, WRITER), (7, LOG), (7, READER)]  # every N steps, and all at the last step


def test_sample_command(tmp_path, capsys):
    assert run_train(tmp_path / "run", "--steps", "3") == 0
    out = tmp_path / "grid.png"
    assert sample.main(["--checkpoint", str(tmp_path / "run/checkpoint.npz"), "--labels", "1", "9",
                        "--n", "6", "--columns", "3", "--out", str(out)]) == 0
    from PIL import Image
    assert Image.open(out).size == (3 * 18 + 2, 2 * 18 + 2)  # 16 px images with 2 px gaps
    for flags, message in [(["--labels", "1", "10"], "classes must be in 0..9"),
                           (["--labels", "1", "9", "8"], "draws 2 objects, got 3 labels"),
                           (["--labels", "1", "9", "--boxes", "0", "0", "8", "8", "9", "9", "17", "17"],
                            "outside the 16x16 canvas")]:
        with pytest.raises(SystemExit):
            sample.main(["--checkpoint", str(tmp_path / "run/checkpoint.npz"), *flags])
        assert message in capsys.readouterr().err


def test_random_layouts_train_resume_exactly_and_sample_any_layout(tmp_path, capsys):
    """--layout random end to end: an interrupted run resumes to the same losses and arrays; the
    sample command draws any count of digits in any boxes, from flags or a JSON file."""
    free = ("--layout", "random", "--max-objects", "3", "--ema-start", "2")
    assert run_train(tmp_path / "straight", "--steps", "5", *free) == 0
    with interrupted_at(3):
        assert run_train(tmp_path / "resumed", "--steps", "5", *free) == 130
    assert run_train(tmp_path / "resumed", "--steps", "5", "--resume", str(tmp_path / "resumed/checkpoint.npz")) == 0
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    resumed, straight = (read_checkpoint(tmp_path / run / "checkpoint.npz") for run in ("resumed", "straight"))
    for name in straight.arrays:
        np.testing.assert_array_equal(resumed.arrays[name], straight.arrays[name], err_msg=name)
    assert straight.config.layout == "random" and straight.config.n_objects == 3 and straight.config.layout_map
    assert straight.settings.held_out_region() == (11, 11, 16, 16)

    path = str(tmp_path / "straight/checkpoint.npz")
    out = tmp_path / "five.png"
    five = ["--labels", "7", "3", "1", "0", "2", "--boxes", *"0 0 8 5 0 6 4 9 9 0 16 16 5 10 9 14 10 2 14 4".split()]
    assert sample.main(["--checkpoint", path, *five, "--n", "2", "--out", str(out)]) == 0  # more than training's 3
    layout = tmp_path / "layout.json"
    layout.write_text(json.dumps({"labels": [4], "boxes": [[2, 2, 14, 10]]}))
    assert sample.main(["--checkpoint", path, "--layout", str(layout), "--n", "2", "--out", str(out)]) == 0
    generator, step, settings, _ = checkpoint.load_generator(path)
    noise = generator.sample_noise(np.random.default_rng(0), 2, 4)
    images, _ = generator.forward(noise, np.array([[4, -1, 2, -1]] * 2), np.array([[[2, 2, 14, 10]] + [[0, 0, 3, 3]] * 3] * 2))
    assert to_host(images).shape == (2, 16, 16, 1) and step == 5
    layout.write_text('{"labels": [1, 2], "boxes": [[0, 0, 4, 4]]}')
    (tmp_path / "outside.json").write_text('{"labels": [1], "boxes": [[0, 0, 4, 20]]}')
    bad = [(["--labels", "1", "2", "--boxes", "0", "0", "4", "4"], "2 labels need 8 numbers"),
           (["--labels", "1", "--boxes", "0", "0", "4", "17"], "reaches outside the 16x16 canvas"),
           (["--labels", "1", "--boxes", "3", "0", "3", "4"], "is empty"),
           (["--labels", "1", "--boxes", "0", "0", "1", "4"], "has a side outside the 2 to 16 pixels"),
           (["--labels", "12", "--boxes", "0", "0", "4", "4"], "classes must be in 0..9"),
           (["--labels", "-1", "--boxes", "0", "0", "4", "4"], "digit classes are 0..9"),
           (["--labels", "1"], "needs a box"),
           (["--layout", str(layout)], "holds 2 labels and 1 boxes"),
           (["--layout", str(tmp_path / "outside.json")], "layout: box 0, (0, 0, 4, 20)"),
           (["--layout", str(tmp_path / "none.json")], "cannot read"),
           (["--layout", path], "is not JSON")]
    for flags, message in bad:
        with pytest.raises(SystemExit) as exit_:
            sample.main(["--checkpoint", path, *flags])
        assert exit_.value.code == 2 and message in capsys.readouterr().err, flags
