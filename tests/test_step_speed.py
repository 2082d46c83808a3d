"""The PyTorch twin of bench/torch_twin.py computes what tinygan computes, and a smoke run of
bench/step_speed.py. Skipped where torch is not installed (tinygan itself never needs it).

On the 'tiny' preset in float64, for both recipes: parameter counts, eval-mode outputs of the
generator (image) and the discriminator from the same (perturbed) weights, and one whole
``Updater.update`` against the twin's training step from the same weights and inputs (losses,
and every weight, running statistic and spectral-norm vector after the update). The updaters
here draw canvases from 200 synthetic digits instead of MNIST, to be built in milliseconds.
"""
import functools
import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))  # the scripts import their siblings by name, as `python bench/X.py` lets them
import parity  # noqa: E402
import step_speed  # noqa: E402
import torch_twin  # noqa: E402

from tinygan.data import DigitSet, synthetic_digits  # noqa: E402
from tinygan.models import preset  # noqa: E402
from tinygan.settings import RunSettings  # noqa: E402

TOLERANCE = 1e-9
RECIPES = ["tinygan", "paper"]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models: one thread is fastest, and torch's OpenMP pool on busy cores can make a
    millisecond step take seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@functools.cache
def few_digits():
    return DigitSet(*synthetic_digits(200, seed=0), source="synthetic")


@pytest.fixture
def quick_data(monkeypatch):
    """The benchmark's updaters draw their canvases from 200 synthetic digits."""
    monkeypatch.setattr(step_speed, "load_digits", lambda *args, **kwargs: few_digits())


def tiny_config(recipe):
    return RunSettings(preset="tiny", recipe=recipe).model_config()


@pytest.mark.parametrize("recipe", RECIPES)
def test_twin_forward_matches_tinygan_in_float64(recipe, xp):
    device = "cpu"
    if xp.__name__ == "cupy":
        if not torch.cuda.is_available():
            pytest.skip("tinygan runs on CuPy here but torch has no CUDA device")
        device = "cuda"
    config = tiny_config(recipe)
    result = parity.forward_parity(config, device, batch=3, seed=1)
    for part, (ours, theirs) in result["parameters"].items():
        assert ours == theirs, f"{part}: tinygan {ours} parameters, twin {theirs}"
    assert result["generator_image_rel_error"] < TOLERANCE, result
    assert result["discriminator_output_rel_error"] < TOLERANCE, result


@pytest.mark.parametrize("fields", [
    dict(combine="features", minibatch_std=True, spectral_norm=True, dropout=0.2),
    dict(combine="scores", conditional_bn=True, per_object_noise=False, minibatch_std=True),
    dict(combine="decisions", noise="normal", per_object_noise=True, spectral_norm=True),
], ids=["features", "scores-one-hot", "decisions-sn"])
def test_twin_forward_matches_other_configurations(fields):
    result = parity.forward_parity(preset("tiny", **fields), batch=3, seed=2)
    assert all(ours == theirs for ours, theirs in result["parameters"].values()), result
    assert result["generator_image_rel_error"] < TOLERANCE, result
    assert result["discriminator_output_rel_error"] < TOLERANCE, result


def test_parity_check_catches_a_wrong_layout(monkeypatch):
    """Copying the generator's first Dense without the (h, w, c) -> (c, h, w) permutation must
    fail the check: it is not blind to the layout conversions."""
    monkeypatch.setattr(torch_twin, "hwc_to_chw", lambda h, w, c: np.arange(h * w * c))
    result = parity.forward_parity(tiny_config("tinygan"), batch=3, seed=1)
    assert result["generator_image_rel_error"] > 1e-3


@pytest.mark.parametrize("recipe", RECIPES)
def test_twin_training_step_matches_the_updater(recipe):
    result = parity.step_parity(RunSettings(preset="tiny", recipe=recipe), few_digits(), batch=4)
    for key in ("loss_rel_error", "generator_update_rel_error", "discriminator_update_rel_error"):
        assert result[key] < TOLERANCE, (key, result)
    if recipe == "tinygan":  # the weight average is part of its step
        assert result["average_rel_error"] < TOLERANCE, result


@pytest.mark.parametrize("with_torch", [False, True], ids=["no-torch", "torch"])
def test_step_speed_smoke(tmp_path, quick_data, with_torch):
    out = tmp_path / "step.json"
    argv = ["--presets", "tiny", "--repeats", "1", "--warmup", "0", "--threads", "1", "--json", str(out)]
    args = step_speed.parse_args(argv + ([] if with_torch else ["--no-torch"]))
    step_speed.run(args, torch if with_torch else None, "ok" if with_torch else "--no-torch")

    record = json.loads(out.read_text())
    assert record["stamp"]["threads"] == 1 and record["stamp"]["machine"]["numpy"] == np.__version__
    assert (record["stamp"]["machine"]["torch"] is not None) == with_torch
    entry = record["presets"]["tiny"]
    assert entry["batch"] == 32 and entry["recipe"] == "tinygan"
    assert entry["tinygan_ms"] > 0 and entry["data_ms"] > 0
    assert entry["memory"]["tinygan_extra_peak_bytes"] > 0
    if not with_torch:
        assert "torch_ms" not in entry and record["settings"]["torch_device"] is None
        return
    assert entry["torch_ms"] > 0 and entry["tinygan_over_torch"] > 0
    assert entry["parity"]["ok"], entry["parity"]
    assert entry["parameters"]["tinygan"] == entry["parameters"]["torch"]
