"""The training and sampling commands end to end on the tiny preset: outputs, exact
resume after Ctrl-C, stopping on NaN, and clear errors for bad flags."""
import csv
import re

import numpy as np
import pytest

from conftest import use_test_mnist
from tinygan import sample, train, trainer
from tinygan.checkpoint import read_checkpoint
from tinygan.data import mnist


@pytest.fixture(autouse=True)
def data_environment(tmp_path, monkeypatch):
    """Real MNIST when the tests have it (conftest.MNIST_DIR), else the synthetic fallback; never the network."""
    use_test_mnist(monkeypatch)
    monkeypatch.setenv("TINYGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))


def run_train(out, *flags):
    args = train.parse_args(["--preset", "tiny", "--batch-size", "4", "--out", str(out), "--log-every", "2",
                             "--sample-every", "3", "--checkpoint-every", "3", *flags])
    return train.run(args, log=lambda message: None)


def losses(out):
    with open(out / "losses.csv", newline="") as file:
        return [(row["step"], row["d_real"], row["d_fake"], row["g"]) for row in csv.DictReader(file)]


def test_train_writes_samples_losses_and_checkpoint(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "4", "--holdout", "19,32") == 0
    assert [row[0] for row in losses(tmp_path / "run")] == ["1", "2", "3", "4"]
    assert sorted(p.name for p in (tmp_path / "run/samples").iterdir()) == ["step_000003.png", "step_000004.png"]
    arrays, step, config, settings, holdout = read_checkpoint(tmp_path / "run/checkpoint.npz")
    assert step == 4 and config.n_objects == 2 and settings["batch_size"] == 4
    assert sorted(holdout.tolist()) == [[1, 9], [3, 2]]  # the tiny preset draws two objects
    assert "optG:m:G/local/Dense.w" in arrays


def test_resume_after_interrupt_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    averaged = ("--ema-start", "2", "--mode-seeking", "0.1")  # weight average, decay at 75%, mode seeking
    assert run_train(tmp_path / "straight", "--steps", "6", *averaged) == 0
    original_step = trainer.Trainer.step

    def interrupted(self, step):
        if step == 4:
            raise KeyboardInterrupt
        return original_step(self, step)

    monkeypatch.setattr(trainer.Trainer, "step", interrupted)
    assert run_train(tmp_path / "resumed", "--steps", "6", *averaged) == 130
    assert read_checkpoint(tmp_path / "resumed/checkpoint.npz")[1] == 4
    monkeypatch.setattr(trainer.Trainer, "step", original_step)
    assert run_train(tmp_path / "resumed", "--steps", "6", "--resume", str(tmp_path / "resumed/checkpoint.npz")) == 0
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    resumed, straight = (read_checkpoint(tmp_path / run / "checkpoint.npz")[0] for run in ("resumed", "straight"))
    assert any(name.startswith("ema:") for name in straight) and resumed.keys() == straight.keys()
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)


def test_resume_writes_beside_its_checkpoint_unless_told_otherwise(tmp_path):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"")
    assert train.parse_args(["--resume", str(checkpoint)]).out == str(tmp_path / "run")
    assert train.parse_args(["--resume", str(checkpoint), "--out", "elsewhere"]).out == "elsewhere"
    assert train.parse_args([]).out == "runs/tinygan"


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    original_step = trainer.Trainer.step

    def diverging(self, step):
        result = original_step(self, step)
        return {**result, "g": float("nan")} if step == 4 else result

    monkeypatch.setattr(trainer.Trainer, "step", diverging)
    messages = []
    args = train.parse_args(["--preset", "tiny", "--batch-size", "4", "--steps", "8", "--checkpoint-every", "3",
                             "--out", str(tmp_path / "run")])
    assert train.run(args, log=messages.append) == 1
    assert "a loss became" in messages[-1] and "checkpoint.npz" in messages[-1]
    assert read_checkpoint(tmp_path / "run/checkpoint.npz")[1] == 3


@pytest.mark.parametrize("flags,message", [
    (["--steps", "0"], "--steps must be positive"),
    (["--lr-g", "-1"], "--lr-g must be positive"),
    (["--lr-decay-at", "1.5"], r"--lr-decay-at values must be in \(0, 1\)"),
    (["--holdout", "12x4"], "--holdout"),
    (["--resume", "/nonexistent/checkpoint.npz"], "no checkpoint file at /nonexistent"),
    (["--preset", "huge"], "invalid choice: 'huge'"),
])
def test_bad_flags_fail_before_any_work(capsys, flags, message):
    with pytest.raises(SystemExit):
        train.parse_args(flags)
    assert re.search(message, capsys.readouterr().err)


def test_learning_rate_schedule():
    rates = [trainer.learning_rate(1e-3, step, 100, [0.5, 0.75], 0.1) for step in (0, 49, 50, 74, 75, 99)]
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])


def test_noisy_targets_ranges():
    targets = trainer.noisy_targets(np.random.default_rng(0), 1000, real=True)
    assert targets[:, 0].min() >= 0 and targets[:, 0].max() <= 0.3
    assert targets[:, 1].min() >= 0.7 and targets[:, 1].max() <= 1.0


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
