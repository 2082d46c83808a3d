"""Run settings: recipes fill what is not given, one flag per setting, one error listing every
problem, saved settings of older checkpoints; and the weight average the tinygan recipe keeps."""
import re
from dataclasses import fields

import numpy as np
import pytest

from tinygan import train
from tinygan.backend import to_host
from tinygan.ema import WeightAverage, refresh_batch_statistics
from tinygan.layers import BatchNorm, Dense, Sequential
from tinygan.settings import RECIPE_NAMES, RunSettings, flag


def test_recipes_fill_every_setting_not_given_and_given_ones_win():
    paper = RunSettings(recipe="paper")
    assert (paper.loss, paper.combine, paper.ema, paper.lr_g, paper.beta1) == ("paper", "decisions", 0.0, 5e-4, 0.5)
    default = RunSettings()
    assert (default.recipe, default.preset, default.loss, default.spectral_norm, default.projection) == \
        ("tinygan", "small", "hinge", True, True)
    mixed = RunSettings(projection=False, ema=0.99, lr_g=2e-3, lr_decay_at=[0.5])
    assert (mixed.projection, mixed.ema, mixed.lr_g, mixed.lr_decay_at) == (False, 0.99, 2e-3, (0.5,))
    assert RunSettings(recipe="paper", preset="paper").lr_d == 1e-3  # the original code's schedule
    assert RunSettings(preset="tiny", recipe="paper").dropout == 0.2 and RunSettings(preset="tiny").dropout == 0.0


def test_model_config_takes_the_ingredients_that_are_model_fields():
    config = RunSettings(preset="tiny", recipe="paper", minibatch_std=True).model_config()
    assert (config.combine, config.minibatch_std, config.dropout, config.n_objects) == ("decisions", True, 0.2, 2)


def test_every_setting_is_a_flag_and_flags_make_the_same_settings(capsys):
    args = train.parse_args(["--out", "nowhere", "--recipe", "paper", "--no-per-object-noise", "--lr-decay-at",
                             "0.25", "0.5", "--background", "grain", "--holdout", "0.1", "--seed", "3"])
    assert args.settings == RunSettings(recipe="paper", per_object_noise=False, lr_decay_at=(0.25, 0.5),
                                        background="grain", holdout="0.1", seed=3)
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    help_text = capsys.readouterr().out
    missing = [f.name for f in fields(RunSettings) if f"--{flag(f.name)} " not in help_text]
    assert missing == []


@pytest.mark.parametrize("given,message", [
    (dict(recipe="fancy"), r"unknown recipe 'fancy'"),
    (dict(recipe="paper", projection=True), "projection adds a class term to each object's score"),
    (dict(recipe="paper", combine="scores"), "the paper loss .* cannot use"),
    (dict(combine="decisions"), "--loss hinge needs one score per pathway"),
    (dict(mode_seeking=1.0, batch_size=5), "--batch-size must be even"),
    (dict(ema=1.5), r"--ema must be in \(0, 1\) \(or 0 for none\)"),
    (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(holdout="12x4", preset="tiny"), "--holdout"),
    (dict(lr_g=-1.0, beta1=1.0), r"--lr-g must be positive.*--beta1 must be in \[0, 1\)"),
    (dict(lr_decay_at=[1.5]), r"--lr-decay-at values must be in \(0, 1\)"),
    (dict(max_objects=3, layout_map=True), r"--max-objects, --layout-map: only with --layout random"),
    (dict(layout="random", recipe="paper"), "--layout random scores each object alone"),
    (dict(layout="random", holdout="0.1"), "with --layout random use --holdout-region"),
    (dict(layout="random", mode_seeking=0.1), "--mode-seeking compares whole grids"),
    (dict(layout="random", max_objects=0, overlap=1.0), r"--max-objects must be at least 1.*--overlap must be in"),
    (dict(layout="random", holdout_region="0,0,200,10"), "not a non-empty region of the 128x128 canvas"),
    (dict(background="plaid"), "--background must be one of white, textured, clouds"),
])
def test_bad_settings_are_one_error_naming_each_problem(given, message):
    with pytest.raises(ValueError, match=message):
        RunSettings(**given)


@pytest.mark.parametrize("flags,message", [
    (["--recipe", "fancy"], r"invalid choice: 'fancy' \(choose from '?paper'?, '?tinygan'?\)"),
    (["--recipe", "paper", "--projection"], "projection adds a class term"),
    (["--noise", "cauchy"], "invalid choice: 'cauchy'"),
    (["--ema", "1.5", "--steps", "0"], r"--steps must be positive.*--ema must be in"),
    (["--background", "textured", "--ink-ceiling", "0"], r"--ink-ceiling must be in \(0, 1\]"),
    (["--background", "grain", "--paper-conditioned"], "--paper-conditioned needs several paper families"),
    (["--global-channels", "8", "8", "0", "8"], r"global_channels must be 4 positive integers, got \(8, 8, 0, 8\)"),
    (["--global-channels", "8", "8", "8"], "--global-channels: expected 4 arguments"),
])
def test_bad_flags_fail_before_any_work(capsys, flags, message):
    with pytest.raises(SystemExit) as stop:
        train.parse_args(flags + ["--out", "nowhere"])
    assert stop.value.code == 2 and re.search(message, capsys.readouterr().err)


def test_random_layouts_set_the_model_and_the_held_out_region():
    settings = RunSettings(layout="random", max_objects=4)
    config = settings.model_config()
    assert (config.layout, config.n_objects, config.layout_map) == ("random", 4, True)
    assert settings.held_out_region() == (88, 88, 128, 128)
    assert RunSettings(layout="random", holdout_region="none").held_out_region() is None
    assert RunSettings(layout="random", preset="tiny", holdout_region="0,0,4,8").held_out_region() == (0, 0, 4, 8)
    assert not RunSettings(layout="random", layout_map=False).model_config().layout_map
    assert RunSettings().held_out_region() is None and not RunSettings().model_config().layout_map


def test_settings_round_trip_and_older_saved_settings_take_the_recipe():
    settings = RunSettings(preset="tiny", holdout="19,32", mode_seeking=0.5)
    assert RunSettings.from_dict(settings.to_dict()) == settings
    before_recipes = {k: v for k, v in RunSettings(preset="tiny", recipe="paper").to_dict().items()
                      if k not in ("recipe", "loss", "ema", "spectral_norm", "beta2")}
    old = RunSettings.from_dict({**before_recipes, "minibatch_std": None})
    assert (old.recipe, old.loss, old.ema, old.minibatch_std, old.beta2) == ("paper", "paper", 0.0, False, 0.999)
    with pytest.raises(ValueError, match=r"unknown run settings \['warp_drive'\]"):
        RunSettings.from_dict({**settings.to_dict(), "warp_drive": True})


def test_every_recipe_sets_every_ingredient():
    for recipe in RECIPE_NAMES:
        settings = RunSettings(recipe=recipe)
        values = {f.name: getattr(settings, f.name) for f in fields(RunSettings)
                  if "recipes" in f.metadata or f.metadata.get("optimiser")}
        assert None not in values.values() and "lr_decay_at" in values and "mode_seeking" in values


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
    with pytest.raises(ValueError, match=r"WeightAverage: decay must be in \(0, 1\), got 1"):
        WeightAverage(model, twin, decay=1)


def test_refreshed_statistics_are_the_mean_of_the_batch_statistics(rng):
    model = Sequential([BatchNorm(3, momentum=0.99, dtype=np.float64)])
    batches = [(rng.standard_normal((5, 3)) * (i + 1) + i,) for i in range(4)]
    refresh_batch_statistics(model, batches)
    norm = model.layers[0]
    np.testing.assert_allclose(norm.running_mean, np.mean([b[0].mean(0) for b in batches], axis=0))
    np.testing.assert_allclose(norm.running_var, np.mean([b[0].var(0) for b in batches], axis=0))
    assert norm.momentum == 0.99 and not model.training


def test_the_global_generators_widths_are_a_setting():
    settings = RunSettings(preset="tiny", global_channels=[4, 4, 3, 3])
    assert settings.model_config().global_channels == (4, 4, 3, 3) and settings.global_channels == (4, 4, 3, 3)
    assert RunSettings.from_dict(settings.to_dict()) == settings
    assert RunSettings(preset="tiny").model_config().global_channels == (3, 3, 2, 2)  # the preset's
