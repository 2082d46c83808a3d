"""Tests of the measures of digits on paper (tinygan.metrics.paper, .paper_report), on synthetic
canvases where the right answer is known: soft ring-shaped 'digits' laid as ink over the paper
families, and the same canvases spoiled (a flat rectangle pasted in each box, the whole box as
the mask, plain grey paper)."""
import json
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pytest

from conftest import run_train
from tinygan import evaluate
from tinygan.data import CanvasDataset, DigitSet
from tinygan.data.textures import FAMILIES, draw_backgrounds, draw_ink, ink_over
from tinygan.judge_model import SHIPPED_JUDGE, build_judge, judge_background
from tinygan.metrics import paper
from tinygan.metrics.measures import REPORTED, by_family
from tinygan.metrics.paper_report import PAPER_MEASURES, paper_section
from tinygan.models import GANConfig
from tinygan.placement import FreePlacement, GridPlacement

SIZE = 64


class RealCanvases(NamedTuple):  # as dataset.draw_real gives them (the data branch's)
    images: np.ndarray
    alpha: np.ndarray
    papers: np.ndarray
    families: np.ndarray


def ring(height, width):
    """A soft ring touching the box's edges: alpha (height, width) in [0, 1], 1 on the stroke."""
    rows, cols = np.mgrid[0:height, 0:width] + 0.5
    radius = np.hypot((rows - height / 2) / (height / 2), (cols - width / 2) / (width / 2))
    return np.clip(1.5 - np.abs(radius - 0.75) * 8, 0, 1).astype(np.float32)


def canvases(n, seed=0, per_image=2):
    """n canvases of SIZE pixels, each with per_image rings in non-overlapping boxes on paper of
    every family. Returns (RealCanvases with images (n, S, S, 1), labels (n, k), boxes (n, k, 4))."""
    rng = np.random.default_rng(seed)
    papers, families = draw_backgrounds(FAMILIES, n, SIZE, rng)
    alpha = np.zeros((n, SIZE, SIZE), np.float32)
    labels = rng.integers(0, 10, (n, per_image))
    boxes = np.zeros((n, per_image, 4), np.int64)
    for b in range(n):
        for k in range(per_image):
            height, width = rng.integers(14, 24, size=2)
            top, left = rng.integers(0, SIZE - height), k * SIZE // 2 + rng.integers(0, SIZE // 2 - width)
            boxes[b, k] = top, left, top + height, left + width
            alpha[b, top:top + height, left:left + width] = ring(height, width)
    images = ink_over(papers, alpha, draw_ink(n, rng))
    return RealCanvases(images[..., None], alpha[..., None], papers[..., None], families), labels, boxes


def pasted(real, boxes, tone=0.97):
    """The canvases with a flat sheet of ``tone`` in every box under the same ink."""
    papers = real.papers[..., 0].copy()
    for b, image_boxes in enumerate(boxes):
        for top, left, bottom, right in image_boxes:
            papers[b, top:bottom, left:right] = tone
    return ink_over(papers, real.alpha[..., 0], np.zeros(len(papers)))[..., None], papers


@pytest.fixture(scope="module")
def real():
    return canvases(40)


def test_ink_estimate_matches_the_real_ink(real):
    canvases_, labels, boxes = real
    ink = paper.ink_of(canvases_.images, canvases_.papers, labels, boxes)
    assert paper.median(paper.mask_iou(canvases_.alpha, ink, labels, boxes)) > 0.9
    assert paper.median(paper.mask_iou(ink[..., None].astype(np.float32), ink, labels, boxes)) == 1.0


def test_a_whole_box_mask_gives_a_low_iou_and_each_objects_mask_counts_alone(real):
    canvases_, labels, boxes = real
    ink = canvases_.alpha[..., 0] > 0.5
    whole = np.ones_like(canvases_.alpha)
    assert paper.median(paper.mask_iou(whole, ink, labels, boxes)) < 0.6
    own = np.zeros(labels.shape + (SIZE, SIZE), np.float32)  # (B, N, H, W): the ink of each box only
    for b, n in np.ndindex(labels.shape):
        top, left, bottom, right = boxes[b, n]
        own[b, n, top:bottom, left:right] = canvases_.alpha[b, top:bottom, left:right, 0]
    np.testing.assert_allclose(paper.mask_iou(own, ink, labels, boxes), 1.0)
    own[:, 1] = 0  # the second object draws no mask: its boxes score 0
    assert np.all(paper.mask_iou(own, ink, labels, boxes)[1::2] == 0)


def test_paper_running_under_the_digits_gives_ratios_near_one_and_a_pasted_rectangle_does_not(real):
    canvases_, labels, boxes = real
    zone = paper.stroke_zone(canvases_.images, canvases_.papers, labels, boxes)
    spread = paper.median(paper.spread_ratios(canvases_.images, zone, labels, boxes))
    seam = paper.median(paper.seam_ratios(canvases_.images, zone, labels, boxes))
    assert 0.75 < spread < 1.25 and 0.85 < seam < 1.15
    images, papers = pasted(canvases_, boxes)
    zone = paper.stroke_zone(images, papers, labels, boxes)
    assert paper.median(paper.spread_ratios(images, zone, labels, boxes)) < 0.1  # flat under the digits
    assert paper.median(paper.seam_ratios(images, zone, labels, boxes)) > 3


def test_flat_paper_has_no_seam_and_the_rings_hug_the_box_edges():
    rings = paper.box_rings(np.array([[3]]), np.array([[[2, 2, 5, 6]]]), 8, 8)[0]
    expected = np.zeros((8, 8), bool)
    expected[1:6, 1:7] = True  # the box (rows 2..4, columns 2..5) and distance 1 around it
    expected[3, 3:5] = False  # the box's interior, away from its edge
    np.testing.assert_array_equal(rings, expected)
    flat = np.full((1, 16, 16), 0.9, np.float32)
    assert paper.seam_ratios(flat, np.zeros((1, 16, 16), bool), np.array([[3]]), np.array([[[2, 2, 5, 6]]]))[0] == 1.0


def test_background_frechet_tells_plain_paper_from_real_and_finds_the_family():
    real, labels, boxes = canvases(80, seed=1)
    reference = paper.PaperReference(real.papers[::2], real.families[::2])
    odd = slice(1, None, 2)
    same = paper.background_frechet(real.images[odd], labels[odd], boxes[odd], reference, real.families[odd], FAMILIES)
    grey = np.full_like(real.images[odd], 0.9)
    plain = paper.background_frechet(grey, labels[odd], boxes[odd], reference, real.families[odd], FAMILIES)
    assert set(same) == {"mean", "all", *FAMILIES} and plain["mean"] > 10 * same["mean"]
    assert plain["all"] > 10 * same["all"]
    assert np.mean(paper.image_families(real.images, labels, boxes, reference) == real.families) > 0.7


def test_texture_features_of_flat_patches_are_their_tone():
    features = paper.texture_features(np.full((2, 16, 16), 0.8))
    np.testing.assert_allclose(features[:, 0], 0.8)
    np.testing.assert_allclose(features[:, 1:], np.log(paper.LOG_FLOOR))  # no spread, no differences
    lined = np.full((1, 16, 16), 0.8)
    lined[0, ::5] = 0.6  # horizontal lines: differences down the columns only
    down = paper.texture_features(lined)[0, 2::2]  # the larger difference at each offset
    assert np.all(down > np.log(0.01)) and np.all(paper.texture_features(lined.transpose(0, 2, 1)) == paper.texture_features(lined))


def test_the_report_section_measures_generated_and_real_alike(real):
    canvases_, labels, boxes = real
    images, papers = pasted(canvases_, boxes)
    generated = (images, canvases_.alpha, papers[..., None])
    judge, config = build_judge(0).eval(), SimpleNamespace(n_classes=10, canvas_size=SIZE)
    results, table, _ = paper_section(judge, FreePlacement(), config, labels, boxes, generated, canvases_, FAMILIES)
    assert set(results["real"]) == set(PAPER_MEASURES) == set(results["generated"])
    assert results["generated"]["seam_ratio"] > 3 > 1.15 > results["real"]["seam_ratio"]
    assert set(results["real"]["accuracy_per_family"]) == set(FAMILIES)
    for name in PAPER_MEASURES:
        assert REPORTED[name].title in table
    without_masks, _, _ = paper_section(judge, FreePlacement(), config, labels, boxes, (images, None, papers),
                                        canvases_, FAMILIES)
    assert "mask_iou" not in without_masks["generated"] and "mask_iou" in without_masks["real"]


def test_the_grids_lines_are_no_paper_to_any_measure():
    """Real grid canvases on paper, black lines between the cells: measured without the lines, their
    families are recognised, their paper matches fresh sheets, and the spread and seams read about 1."""
    rng = np.random.default_rng(3)
    digits = DigitSet(np.clip(rng.normal(0, 300, (40, 28, 28)), 0, 255).astype(np.uint8) * (ring(28, 28) > 0.5),
                      np.arange(40, dtype=np.uint8) % 10, "rings")
    dataset = CanvasDataset(digits, background="textured")
    labels, boxes = dataset.sample_layout(60, rng)
    real = dataset.draw_real(labels, boxes, rng)
    config = GANConfig()  # the grid of the paper: 128 pixels, lines 2 wide between 64-pixel cells
    marks = paper.layout_marks(GridPlacement().blank(config))
    assert marks[62:67].all() and marks[:, 62:67].all() and not marks[:60, :60].any()
    reference = paper.paper_reference(FAMILIES, 128, sheets=120)
    recognised = paper.image_families(real.images, labels, boxes, reference, marks)
    assert np.mean(recognised == real.families) > 0.8
    lined = paper.image_families(real.images, labels, boxes, reference)  # the lines read as paper
    assert np.mean(lined == real.families) < np.mean(recognised == real.families)
    judge = build_judge(0).eval()
    results, _, _ = paper_section(judge, GridPlacement(), config, labels, boxes, (real.images, real.alpha, real.papers),
                                  real, FAMILIES, reference)
    measured = results["real"]
    assert measured["paper_frechet"]["mean"] < 1 and abs(measured["seam_ratio"] - 1) < 0.2
    assert abs(measured["spread_ratio"] - 1) < 0.25


def test_checkpoints_on_paper_are_judged_by_the_judge_of_digits_on_paper():
    assert judge_background(SimpleNamespace(background="white")) == "white"
    assert judge_background(SimpleNamespace(background="clouds")) == "textured"


@pytest.mark.parametrize("layout", ["grid", "random"])
def test_evaluate_on_a_textured_checkpoint_adds_the_paper_measures(tmp_path, layout):
    """Generated and real digits on paper, in the same boxes, for every group (grid) or split (free);
    the white judge stands in (the test is about the report, not the figures)."""
    flags = ["--background", "textured", "--steps", "2", "--layout", layout] + (["--holdout", "19,32"] if layout == "grid"
                                                                             else [])
    assert run_train(tmp_path / "run", *flags) == 0
    assert evaluate.main(["--checkpoint", str(tmp_path / "run/checkpoint.npz"), "--n", "6", "--judge",
                          str(SHIPPED_JUDGE), "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval/report.json").read_text())
    groups = ([report["seen"], report["unseen"], report["real"]] if layout == "grid" else
              [report["splits"]["in_distribution"][kind] for kind in ("generated", "real")])
    for group in groups:
        assert {"per_object", "mask_iou", "paper_frechet", "spread_ratio", "seam_ratio"} <= set(group)
    assert "Background textured." in (tmp_path / "eval/report.md").read_text()


def test_a_family_no_image_was_recognised_as_reads_as_a_dash():
    assert by_family({"clouds": float("nan"), "ruled": 9.2}) == "clouds -, ruled 9.20"
