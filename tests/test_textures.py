"""Textured backgrounds (issue 25): the paper families, real ink over them in grid and free canvases,
draw_real's canvases with their ink alpha and paper, the white path unchanged, --background's errors,
old checkpoints' --texture, and the sample command on textures."""
import json

import numpy as np
import pytest

from conftest import run_train
from tinygan import sample, train
from tinygan.checkpoint import read_checkpoint
from tinygan.data import CanvasConfig, CanvasDataset, DigitSet, blank_canvas
from tinygan.data.layouts import LayoutDataset
from tinygan.data.real import RealCanvases
from tinygan.data.textures import BACKGROUND_LOW, FAMILIES, INK_HIGH, draw_backgrounds, draw_ink, ink_over
from tinygan.serialize import load_npz, save_npz_atomic
from tinygan.settings import RunSettings

pytestmark = pytest.mark.usefixtures("offline_data")


def made_up_digits():
    """60 digits of random grey blocks (6 of each class): deterministic on every platform."""
    rng = np.random.default_rng(25)
    images = np.zeros((60, 28, 28), np.uint8)
    for image in images:
        top, left = rng.integers(2, 8, size=2)
        image[top:28 - top, left:28 - left] = rng.integers(0, 256, size=(28 - 2 * top, 28 - 2 * left))
    return DigitSet(images, np.arange(60, dtype=np.uint8) % 10, "synthetic")


def fingerprint(images):
    images = np.asarray(images, np.float64)
    return [images.sum(), (images[..., 0] * np.arange(images.shape[2])).sum()]


def family_by_statistic(paper):
    """The family a (H, W) paper looks like by two statistics: how rough it is (median neighbour step
    over its spread) and how many sharp steps it has (ruled lines)."""
    steps = np.maximum(np.abs(np.diff(paper, axis=1))[:-1], np.abs(np.diff(paper, axis=0))[:, :-1])
    rough = np.median(steps) / paper.std()
    if rough > 0.5:
        return "grain"
    if (steps > 0.08).mean() > 0.05:
        return "ruled"
    return "clouds" if rough > 0.05 else "stains"


def solved_ink(real):
    """Per image, the ink tone that best explains real.images as ink_over(papers, alpha, ink) (least squares)."""
    alpha = real.alpha.reshape(len(real.alpha), -1)
    excess = (real.images - real.papers * (1 - real.alpha)).reshape(len(alpha), -1)
    return (alpha * excess).sum(1) / np.maximum((alpha * alpha).sum(1), 1e-12)


# ------------------------------------------------------------ the paper families

@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_draws_light_paper_that_a_statistic_tells_from_the_others(family):
    papers, which = draw_backgrounds((family,), 12, 128, np.random.default_rng(0))
    assert papers.shape == (12, 128, 128) and papers.dtype == np.float32 and (which == 0).all()
    assert papers.min() >= BACKGROUND_LOW and papers.max() <= 1.0
    assert [family_by_statistic(paper) for paper in papers] == [family] * 12
    assert np.abs(papers[0] - papers[1]).max() > 0.05  # parameters and noise drawn per image


def test_families_are_drawn_per_image_and_ink_is_darker_than_any_paper():
    papers, which = draw_backgrounds(FAMILIES, 40, 32, np.random.default_rng(1))
    assert which.dtype == np.int64 and set(which.tolist()) == {0, 1, 2, 3}
    ink = draw_ink(200, np.random.default_rng(2))
    assert ink.min() >= 0 and ink.max() <= INK_HIGH < BACKGROUND_LOW <= papers.min()


# ------------------------------------------------------------ textured canvases

@pytest.fixture(params=["grid", "free"])
def textured(request):
    """A textured data set of either kind and a layout it draws: (dataset, labels, boxes)."""
    if request.param == "grid":
        dataset = CanvasDataset(made_up_digits(), background="textured")
        labels, boxes = dataset.sample_layout(16, np.random.default_rng(3), orders="any")
    else:
        dataset = LayoutDataset(made_up_digits(), background="textured")
        labels, boxes = dataset.sample_layout(16, np.random.default_rng(3))
    return dataset, labels, boxes


def test_textured_datasets_sample_canvases_of_real_ink_on_paper(textured):
    dataset, _, _ = textured
    assert dataset.families == FAMILIES
    images, labels, boxes = dataset.sample(16, np.random.default_rng(4))
    assert images.shape == (16, 128, 128, 1) and images.dtype == np.float32
    assert labels.shape[0] == boxes.shape[0] == 16 and boxes.shape[2] == 4
    assert images.min() >= 0 and images.max() <= 1
    assert images.max(axis=(1, 2, 3)).min() > BACKGROUND_LOW  # paper shows
    assert len({round(float(image.std()), 5) for image in images}) == 16  # each its own paper
    again, _, _ = dataset.sample(16, np.random.default_rng(4))
    assert np.array_equal(images, again)


def test_draw_real_gives_ink_over_paper_with_its_alpha(textured):
    dataset, labels, boxes = textured
    real = dataset.draw_real(labels, boxes, np.random.default_rng(5))
    assert isinstance(real, RealCanvases)
    for array in real[:3]:
        assert array.shape == (16, 128, 128, 1) and array.dtype == np.float32
    assert real.families.dtype == np.int64 and real.families.shape == (16,)
    assert len(set(real.families.tolist())) > 1
    assert real.alpha.min() >= 0 and real.alpha.max() <= 1 + 1e-6 and (real.alpha > 0.9).sum() > 20
    ink = solved_ink(real)
    assert ink.min() >= -1e-4 and ink.max() <= INK_HIGH + 1e-4
    np.testing.assert_allclose(real.images, ink_over(real.papers, real.alpha, ink), atol=1e-5)
    for image, alpha, paper, image_boxes in zip(*(array[..., 0] for array in real[:3]), boxes):
        outside = np.ones((128, 128), bool)
        for top, left, bottom, right in image_boxes:  # empty slots' boxes are empty
            outside[top:bottom, left:right] = False
        assert (alpha[outside] == 0).all() and np.array_equal(image[outside], paper[outside])  # ink only in boxes
        assert (image[alpha > 0.9] < paper[paper > 0].min()).all()  # ink darker than any of its paper
    whole = slice(0, 62 if isinstance(dataset, CanvasDataset) else 128)  # a grid's paper inside its first cell
    assert [family_by_statistic(p) for p in real.papers[:, whole, whole, 0]] == [FAMILIES[f] for f in real.families]


def test_the_grid_keeps_its_black_lines_on_textured_paper():
    dataset = CanvasDataset(made_up_digits(), background="ruled")
    images, _, _ = dataset.sample(4, np.random.default_rng(6))
    real = dataset.draw_real([[1, 2, 3, 4]], CanvasConfig().boxes(1), np.random.default_rng(6))
    lines = blank_canvas(CanvasConfig()) == 0
    assert (images[:, lines] == 0).all() and (real.papers[:, lines] == 0).all() and (real.images[:, lines] == 0).all()
    assert dataset.families == ("ruled",) and (real.families == 0).all()


def test_draw_real_takes_any_layout_of_its_placement():
    free = LayoutDataset(made_up_digits())
    labels = np.array([[7, -1, 3], [-1, -1, -1]])
    boxes = np.array([[[0, 0, 100, 20], [0, 0, 0, 0], [90, 90, 100, 128]], np.zeros((3, 4))], np.int64)
    real = free.draw_real(labels, boxes, np.random.default_rng(7))
    assert (real.images[1] == 1).all() and (real.alpha[1] == 0).all()
    assert real.alpha[0, :100, :20].max() > 0.5 and real.alpha[0, 90:100, 90:].max() > 0.5
    grid = CanvasDataset(made_up_digits())
    moved = np.array([[[50, 50, 78, 78], [0, 0, 28, 28], [100, 0, 128, 28], [0, 100, 28, 128]]])
    real = grid.draw_real([[1, 9, 8, 6]], moved, np.random.default_rng(7))
    assert real.alpha[0, 50:78, 50:78].max() > 0.5
    with pytest.raises(ValueError, match="LayoutDataset.draw_real: .*reaches outside"):
        free.draw_real([[7]], [[[120, 120, 140, 130]]], np.random.default_rng(7))
    with pytest.raises(ValueError, match="CanvasDataset.draw_real: boxes"):
        grid.draw_real([[1, 9, 8, 6]], [[[0, 0, 10, 10]] * 4], np.random.default_rng(7))


# ------------------------------------------------------------ white: today's canvases

def test_white_canvases_are_those_of_the_code_before_textures():
    """Fingerprints, labels, boxes and the rng's next draw written by tinygan b5f49af (before textures)."""
    rng = np.random.default_rng(5)
    images, labels, _ = CanvasDataset(made_up_digits()).sample(3, rng, orders="any")
    np.testing.assert_allclose(fingerprint(images), [45372.34898638725, 2882313.9508399963], rtol=1e-7)
    assert labels.tolist() == [[6, 8, 0, 8], [4, 5, 6, 2], [9, 0, 2, 3]] and rng.random() == 0.43494755222514203
    rng = np.random.default_rng(5)
    images, labels, boxes = LayoutDataset(made_up_digits()).sample(3, rng)
    np.testing.assert_allclose(fingerprint(images), [39583.22517901659, 2496863.509037733], rtol=1e-7)
    assert labels.tolist() == [[8, 6, 0, 8, 3, -1], [6, 6, 6, 0, -1, -1], [8, 6, 6, 8, 6, -1]]
    assert boxes[0, :2].tolist() == [[34, 24, 89, 106], [4, 0, 26, 30]] and rng.random() == 0.6009473694002969


@pytest.mark.parametrize("kind", ["grid", "free"])
def test_white_draw_real_is_todays_canvas_on_white_paper(kind):
    """On white, draw_real's images are what the data set renders today for the digits it picks (one of each
    label, drawn class by class from the rng), its papers the blank canvas, its alpha one minus the canvas."""
    digits = made_up_digits()
    if kind == "grid":
        dataset = CanvasDataset(digits)
        labels, boxes = dataset.sample_layout(5, np.random.default_rng(8), orders="any")
        today, _ = dataset.render(labels, np.random.default_rng(9))
        blank = blank_canvas(CanvasConfig())
    else:
        dataset = LayoutDataset(digits)
        labels, boxes = dataset.sample_layout(5, np.random.default_rng(8))
        rng, picks = np.random.default_rng(9), np.full(labels.shape, -1)
        for digit, indices in enumerate(dataset.class_indices):
            wanted = labels == digit
            picks[wanted] = indices[rng.integers(len(indices), size=wanted.sum())]
        today = dataset.render(labels, boxes, picks, rng)
        blank = np.ones((128, 128), np.float32)
    real = dataset.draw_real(labels, boxes, np.random.default_rng(9))
    assert np.array_equal(real.images, today)
    assert dataset.families == () and (real.families == -1).all() and (real.papers[..., 0] == blank).all()
    np.testing.assert_allclose(real.images, ink_over(real.papers, real.alpha, np.zeros(5)), atol=1e-6)
    assert real.alpha.max() > 0.9


# ------------------------------------------------------------ settings, checkpoints, commands

def test_background_setting_and_its_one_line_errors(capsys):
    assert RunSettings().background == "white" and RunSettings().families() == ()
    assert RunSettings(background="textured").families() == FAMILIES
    with pytest.raises(ValueError, match="--background must be one of white, textured, clouds, ruled, grain, stains"):
        RunSettings(background="plaid")
    with pytest.raises(SystemExit) as stop:
        train.parse_args(["--out", "nowhere", "--background", "plaid"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "--background: invalid choice: 'plaid'" in err


def test_settings_saved_with_the_old_texture_flag_read_as_clouds():
    saved = {k: v for k, v in RunSettings(preset="tiny").to_dict().items() if k != "background"}
    assert RunSettings.from_dict({**saved, "texture": True}).background == "clouds"
    assert RunSettings.from_dict({**saved, "texture": False}).background == "white"
    assert RunSettings.from_dict(RunSettings(background="grain").to_dict()).background == "grain"


def test_textured_runs_save_their_background_and_sample_beside_real_canvases(tmp_path, capsys):
    assert run_train(tmp_path / "run", "--steps", "2", "--layout", "random", "--max-objects", "2",
                     "--background", "stains") == 0
    path = tmp_path / "run/checkpoint.npz"
    assert read_checkpoint(path).settings.background == "stains"
    out = tmp_path / "s.png"
    flags = ["--checkpoint", str(path), "--labels", "1", "9", "--boxes", "0", "0", "8", "6", "6", "8", "16", "14"]
    assert sample.main([*flags, "--n", "3", "--columns", "3", "--real", "--background", "stains",
                        "--out", str(out)]) == 0
    from PIL import Image
    assert Image.open(out).size == (6 * 18 + 2, 18 + 2)  # three generated and three real, 16 px each
    with pytest.raises(SystemExit) as stop:
        sample.main([*flags, "--background", "white", "--out", str(out)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "trained on --background stains" in err
    arrays = load_npz(path)  # the same checkpoint as an older tinygan wrote it, with --texture on
    settings = {k: v for k, v in json.loads(str(arrays["meta:settings"])).items() if k != "background"}
    arrays["meta:settings"] = json.dumps({**settings, "texture": True})
    save_npz_atomic(path, arrays)
    assert read_checkpoint(path).settings.background == "clouds"
