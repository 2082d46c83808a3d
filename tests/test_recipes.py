"""Recipes and what they bring to training: flags and their conflicts, the generator's
weight average and its BatchNorm statistics, checkpoints without one, old settings."""
import json
import re

import numpy as np
import pytest

from conftest import use_test_mnist
from tinygan import checkpoint, train
from tinygan.backend import to_host
from tinygan.data import mnist
from tinygan.ema import WeightAverage, refresh_batch_statistics
from tinygan.layers import BatchNorm, Dense, Sequential
from tinygan.recipes import INGREDIENTS, RECIPES, recipe_settings
from tinygan.serialize import load_npz, save_npz_atomic


@pytest.fixture(autouse=True)
def data_environment(tmp_path, monkeypatch):
    use_test_mnist(monkeypatch)
    monkeypatch.setenv("TINYGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "_open_url", lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))


def run_train(out, *flags, log=lambda message: None):
    args = train.parse_args(["--preset", "tiny", "--batch-size", "4", "--out", str(out), "--log-every", "2",
                             "--sample-every", "3", "--checkpoint-every", "3", *flags])
    return train.run(args, log=log)


def test_recipes_set_every_ingredient_and_flags_win():
    assert set(RECIPES["paper"]) == set(RECIPES["tinygan"]) == set(INGREDIENTS)
    args = train.parse_args(["--recipe", "paper"])
    assert (args.loss, args.combine, args.ema, args.lr_g, args.beta1) == ("paper", "decisions", 0.0, 5e-4, 0.5)
    args = train.parse_args([])
    assert args.recipe == "tinygan" and args.loss == "hinge" and args.spectral_norm and args.projection
    args = train.parse_args(["--no-projection", "--ema", "0.99", "--lr-g", "1e-3"])
    assert (args.projection, args.ema, args.lr_g) == (False, 0.99, 1e-3)
    assert recipe_settings("paper", "paper")["lr_d"] == 1e-3  # the original code's schedule


@pytest.mark.parametrize("flags,message", [
    (["--recipe", "fancy"], r"invalid choice: 'fancy' \(choose from '?paper'?, '?tinygan'?\)"),
    (["--recipe", "paper", "--projection"], "--projection adds a class term to each object's score"),
    (["--recipe", "paper", "--combine", "scores"], "the paper loss .* cannot use"),
    (["--combine", "decisions"], "--loss hinge needs one score per pathway"),
    (["--mode-seeking", "1", "--batch-size", "5"], "--batch-size must be even"),
    (["--ema", "1.5"], r"--ema must be in \(0, 1\)"),
    (["--noise", "cauchy"], "invalid choice: 'cauchy'"),
])
def test_flags_a_recipe_cannot_use_fail_before_any_work(capsys, flags, message):
    with pytest.raises(SystemExit):
        train.parse_args(flags)
    assert re.search(message, capsys.readouterr().err)


def test_weight_average_follows_its_formula(rng):
    model = Dense(3, 2, rng=rng, dtype=np.float64)
    twin = Dense(3, 2, rng=rng, dtype=np.float64)
    average = WeightAverage(model, twin, decay=0.9, start=2)
    w0 = to_host(model.params["w"]).copy()
    np.testing.assert_array_equal(to_host(twin.params["w"]), w0)  # starts as a copy
    model.params["w"] += 1.0
    average.update(step=1)  # before start: still a copy
    np.testing.assert_array_equal(to_host(twin.params["w"]), w0 + 1)
    model.params["w"] += 1.0
    average.update(step=2)
    np.testing.assert_allclose(to_host(twin.params["w"]), 0.9 * (w0 + 1) + 0.1 * (w0 + 2))


def test_refreshed_statistics_are_the_mean_of_the_batch_statistics(rng):
    model = Sequential([BatchNorm(3, momentum=0.99, dtype=np.float64)])
    batches = [(rng.standard_normal((5, 3)) * (i + 1) + i,) for i in range(4)]
    refresh_batch_statistics(model, batches)
    norm = model.layers[0]
    np.testing.assert_allclose(norm.running_mean, np.mean([b[0].mean(0) for b in batches], axis=0))
    np.testing.assert_allclose(norm.running_var, np.mean([b[0].var(0) for b in batches], axis=0))
    assert norm.momentum == 0.99 and not model.training


def test_checkpoints_keep_the_weight_average_and_sampling_uses_it(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "3", "--ema-start", "1") == 0
    arrays = load_npz(tmp_path / "run/checkpoint.npz")
    assert "ema:G/local/Dense.w" in arrays and "ema:G/global/BatchNorm.running_var" in arrays
    notes = []
    generator, step, settings, _ = checkpoint.load_generator(tmp_path / "run/checkpoint.npz", log=notes.append)
    assert notes == [] and settings["recipe"] == "tinygan"
    np.testing.assert_array_equal(to_host(generator.local_pathway.layers[0].params["w"]),
                                  arrays["ema:G/local/Dense.w"])
    assert not np.array_equal(arrays["ema:G/local/Dense.w"], arrays["G/local/Dense.w"])


def test_checkpoint_without_average_loads_with_a_note(tmp_path):
    assert run_train(tmp_path / "run", "--steps", "3", "--recipe", "paper") == 0
    notes = []
    generator, _, _, _ = checkpoint.load_generator(tmp_path / "run/checkpoint.npz", log=notes.append)
    assert len(notes) == 1 and "holds no weight average" in notes[0]
    assert to_host(generator.local_pathway.layers[0].params["w"]).shape[1] > 0


def test_resuming_a_checkpoint_from_before_recipes_continues_the_paper_recipe(tmp_path):
    """Checkpoints written before recipes existed lack their settings: they were paper runs."""
    assert run_train(tmp_path / "run", "--steps", "3", "--recipe", "paper") == 0
    path = tmp_path / "run/checkpoint.npz"
    arrays = load_npz(path)
    settings = json.loads(str(arrays["meta:settings"]))
    old = {k: v for k, v in settings.items() if k not in INGREDIENTS and k not in ("recipe", "beta2")}
    arrays["meta:settings"] = json.dumps({**old, "combine": "decisions", "per_object_noise": False,
                                          "minibatch_std": None})
    save_npz_atomic(path, arrays)
    messages = []
    assert run_train(tmp_path / "run", "--steps", "5", "--resume", str(path), log=messages.append) == 0
    saved = json.loads(str(load_npz(path)["meta:settings"]))
    assert saved["recipe"] == "paper" and saved["loss"] == "paper" and saved["ema"] == 0.0
