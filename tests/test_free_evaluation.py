"""Metrics of free layouts on cases with known answers: frames for the judge, where the ink
lies, ink outside the boxes, the evaluation splits, and the layout evaluation end to end."""
import json

import numpy as np
import pytest

from conftest import requires_mnist
from tinygan import evaluate, judge_model
from tinygan.data import DigitSet, canvas_colours
from tinygan.data.layouts import INK_LEVEL, LayoutDataset, box_iou, touches
from tinygan.judge_model import classify
from tinygan.layout import MIN_SIDE, present_objects
from tinygan.metrics.frames import frame_crops, frame_placement
from tinygan.metrics.ink import background_ink, localisation
from tinygan.metrics.judged import Judged
from tinygan.metrics.measures import report as measure
from tinygan.metrics.report import evaluate_splits
from tinygan.models import Generator, preset
from tinygan.placement import FreePlacement
from tinygan.placement.free import SPLITS, in_distribution, split_rules

pytestmark = pytest.mark.usefixtures("offline_data")
REGION = (80, 80, 128, 128)


def canvases(size, n, ink_boxes):
    """n white canvases (n, size, size, 1) with black ink filling each (image, (t, l, b, r))."""
    images = np.ones((n, size, size, 1), np.float32)
    for image, (top, left, bottom, right) in ink_boxes:
        images[image, top:bottom, left:right] = 0.0
    return images


def upright_rectangles(n=200, seed=0):
    """A digit set of ink rectangles taller than wide (so no box is shrunk to fit a canvas)."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 28, 28), np.uint8)
    for index in range(n):
        height = rng.integers(14, 21)
        top, left = rng.integers(2, 28 - height), rng.integers(2, 10)
        images[index, top:top + height, left:left + rng.integers(3, height + 1)] = 255
    return DigitSet(images=images, labels=np.arange(n) % 10, source="synthetic")


# ------------------------------------------------------------------------------ frames

def test_frame_crops_scale_the_longer_side_to_20_pixels_centred():
    labels = np.array([[-1, 4], [7, -1]])
    boxes = np.array([[[0, 0, 0, 0], [30, 50, 70, 70]],    # 40 tall, 20 wide -> 20 x 10
                      [[60, 20, 72, 50], [0, 0, 0, 0]]])  # 12 tall, 30 wide -> 8 x 20
    images = canvases(128, 2, [(0, boxes[0, 1]), (1, boxes[1, 0])])
    frames = frame_crops(images, labels, boxes)
    assert frames.shape == (2, 28, 28, 1) and frames.dtype == np.float32
    for frame, (top, left, bottom, right) in zip(frames[..., 0], [(4, 9, 24, 19), (10, 4, 18, 24)]):
        block = np.zeros((28, 28), bool)
        block[top:bottom, left:right] = True
        assert np.all(frame[~block] == 1.0)                      # white outside the block
        assert np.all(1 - frame[block] >= INK_LEVEL)             # ink all over it
        assert np.all(frame[top + 1:bottom - 1, left + 1:right - 1] < 1e-6)  # solid inside its edge


def test_frames_are_centred_on_their_ink_as_far_as_the_block_stays_inside():
    labels, boxes = np.array([[2]]), np.array([[[0, 0, 20, 20]]])  # 20 x 20: the block is (4, 4, 24, 24)
    frame = frame_crops(canvases(32, 1, [(0, (10, 0, 20, 20))]), labels, boxes)[0, ..., 0]
    expected = np.ones((28, 28))  # the bottom half's ink, rows 14-24, moved up by 4 (not 5: the block's top)
    expected[10:20, 4:24] = 0
    np.testing.assert_allclose(frame, expected, atol=1e-6)


def test_frame_placement_keeps_at_least_one_pixel():
    placed = frame_placement([[0, 0, 100, 2], [5, 5, 7, 7]])
    assert placed.tolist() == [[4, 13, 24, 14], [4, 4, 24, 24]]


# ------------------------------------------------------------------------ localisation

def test_ink_that_fills_its_boxes_localises_exactly_and_an_empty_box_scores_zero():
    labels = np.array([[1, 2, 3, -1], [5, 6, -1, -1]])
    boxes = np.array([[[10, 10, 30, 20], [40, 40, 50, 60], [2, 50, 12, 60], [0, 0, 64, 64]],
                      [[10, 10, 30, 30], [20, 20, 40, 40], [0, 0, 0, 0], [0, 0, 0, 0]]])  # overlapping
    ink = [(0, boxes[0, 0]), (0, boxes[0, 1]), (1, boxes[1, 0]), (1, boxes[1, 1])]  # box 2 of image 0: none
    iou = localisation(canvases(64, 2, ink), labels, boxes)
    np.testing.assert_allclose(iou, [1, 1, 0, 1, 1])


@pytest.mark.parametrize("shift,expected", [(3, 17 / 23),   # all shifted ink within the margin of 5
                                            (7, 13 / 25)])  # ink 6, 7 rows below the box is too far
def test_shifted_ink_lowers_the_iou(shift, expected):
    labels, boxes = np.array([[1]]), np.array([[[10, 10, 30, 20]]])  # 20 x 10: margin max(2, 0.25 * 20) = 5
    images = canvases(64, 1, [(0, (10 + shift, 10, 30 + shift, 20))])
    assert localisation(images, labels, boxes) == pytest.approx([expected])


@pytest.mark.parametrize("column,expected", [(37, [1, 20 / 23]),   # 8 from A, 3 from B: B's
                                             (33, [20 / 24, 1]),   # 4 from A, 7 from B: A's
                                             (35, [1, 20 / 25])])  # 6 from A, 5 from B: B's
def test_stray_ink_goes_to_the_nearest_box(column, expected):
    labels, boxes = np.array([[1, 2]]), np.array([[[10, 10, 30, 30], [10, 40, 30, 60]]])  # margins 5
    images = canvases(64, 1, [(0, boxes[0, 0]), (0, boxes[0, 1]), (0, (20, column, 21, column + 1))])
    np.testing.assert_allclose(localisation(images, labels, boxes), expected)


# ------------------------------------------------------------------------ spurious ink

def test_background_ink_counts_only_what_lies_outside_present_boxes():
    labels, boxes = np.array([[1, -1]]), np.array([[[0, 0, 16, 16], [16, 16, 32, 32]]])  # slot 1 empty
    images = canvases(32, 1, [(0, (0, 0, 16, 16)), (0, (20, 20, 22, 22))])
    images[0, 30, 2] = 1 - 0.2  # too light to count as ink, but darkness
    outside = 32 * 32 - 16 * 16
    share, darkness = background_ink(images, labels, boxes)
    assert share == pytest.approx(4 / outside) and darkness == pytest.approx((4 + 0.2) / outside)
    assert background_ink(canvases(32, 1, [(0, (0, 0, 16, 16))]), labels, boxes) == (0, 0)


# ------------------------------------------------------------------------------ splits

@pytest.mark.parametrize("name", list(SPLITS))
def test_each_split_draws_layouts_that_keep_its_rules(name):
    rules = SPLITS[name](128, 6, REGION)
    labels, boxes = LayoutDataset(upright_rectangles(), rules).sample_layout(100, np.random.default_rng(0))
    counts = (labels >= 0).sum(axis=1)
    assert counts.max() <= rules.counts[1] and counts.mean() >= 0.5 * sum(rules.counts) / 2
    heights = (boxes[..., 2] - boxes[..., 0])[labels >= 0]
    assert heights.min() >= rules.heights[0] and heights.max() <= rules.heights[1]
    expected = {"in_distribution": ((1, 6), (16, 64)), "more_digits": ((7, 9), (16, 36)),
                "small_boxes": ((1, 6), (10, 15)), "large_boxes": ((1, 2), (65, 96)),
                "overlapping": ((2, 4), (16, 64)), "held_out_region": ((1, 2), (16, 48))}[name]
    assert (rules.counts, rules.heights) == expected
    for image_labels, image_boxes in zip(labels, boxes):
        present = image_boxes[image_labels >= 0]
        if name == "held_out_region":
            assert np.all(present[:, :2] >= REGION[:2]) and np.all(present[:, 2:] <= REGION[2:])
            continue
        assert not any(touches(box, REGION) for box in present)
        iou = box_iou(present[:, None], present[None])
        if name == "overlapping":  # slots (0, 1) and (2, 3) are pairs
            both = (image_labels[0::2] >= 0) & (image_labels[1::2] >= 0)
            pair_iou = box_iou(image_boxes[0::2][both], image_boxes[1::2][both])
            assert np.all((pair_iou >= 0.2) & (pair_iou <= 0.4))
            assert (iou > 0).sum() - len(present) == 2 * both.sum()  # no other pair touches
        else:
            assert np.all(iou[~np.eye(len(present), dtype=bool)] == 0)


def test_splits_scale_to_small_canvases_and_skip_a_missing_region():
    assert "held_out_region" not in split_rules(128, 6, None)
    rules = split_rules(16, 2, (8, 8, 16, 16))
    assert list(rules) == list(SPLITS)
    assert rules["in_distribution"].heights == (2, 8) and rules["small_boxes"].heights == (1, 2)
    assert rules["large_boxes"].heights == (8, 12) and rules["held_out_region"].heights == (2, 8)
    images, labels, boxes = LayoutDataset(upright_rectangles(), rules["small_boxes"]).sample_occupied(
        50, np.random.default_rng(0))
    sides = (boxes[..., 2:] - boxes[..., :2])[labels >= 0]
    assert len(labels) and (labels >= 0).any(axis=1).all() and sides.min() >= MIN_SIDE
    assert images.shape == (len(labels), 16, 16, 1)


# --------------------------------------------------------------- with a judge and MNIST

@requires_mnist
def test_real_canvases_are_judged_like_their_digits(quick_judge):
    judge, test, judge_accuracy = quick_judge
    rules = in_distribution(128, 6, REGION)
    dataset = LayoutDataset(test, rules)
    labels, boxes, picks = dataset.sample_layout(150, np.random.default_rng(3), with_picks=True)
    images = dataset.render(labels, boxes, picks, np.random.default_rng(4))
    where = present_objects(labels)
    framed, _ = classify(judge, frame_crops(images, labels, boxes))
    original, _ = classify(judge, canvas_colours(test.images[picks[where]]))
    requested = labels[where]  # a frame is judged as well as the original digit (which the judge gets ~80% right)
    assert np.mean(framed == requested) > np.mean(original == requested) - 0.05 and np.mean(framed == original) > 0.8
    placement = FreePlacement()
    judged = Judged(judge, placement, preset("paper", layout="random", combine="scores"), images, labels, boxes)
    report = measure(judged, placement.report_measures)
    assert report["per_object"]["n"] == len(where[0]) and report["per_object"]["value"] > max(0.6, judge_accuracy - 0.1)
    assert report["mean_iou"] > 0.95 and report["iou_above_half"]["value"] > 0.99 and report["spurious_ink"] == 0
    assert report["all_correct"]["n"] == 150 and "frechet" not in report
    assert np.all((judged.per_slot(judged.verdicts, -1) >= 0) == (labels >= 0))


def tiny_layout_generator():
    return Generator(preset("tiny", layout="random", combine="scores"), np.random.default_rng(0)).eval()


@requires_mnist
def test_evaluate_layouts_end_to_end(quick_judge, tmp_path):
    judge, test, _ = quick_judge
    messages = []
    report, failures, table = evaluate_splits(tiny_layout_generator(), judge, test, (8, 8, 16, 16),
                                              n_samples=20, seed=1, log=messages.append)
    assert [name for name, _ in failures] == list(SPLITS) and len(messages) == 6
    for name, judged in failures:
        result, labels = report["splits"][name], judged.labels
        assert judged.images.shape == (len(labels), 16, 16, 1)
        assert sorted(judged.worst_first()) == list(range(len(labels)))
        assert result["generated"]["per_object"]["n"] == result["real"]["per_object"]["n"] == (labels >= 0).sum()
        assert result["mean_count"] == pytest.approx((labels >= 0).sum() / len(labels))
        for kind in ("generated", "real"):
            assert np.isfinite(result[kind]["frechet"]) and 0 <= result[kind]["mean_iou"] <= 1
    assert report["splits"]["more_digits"]["rules"]["counts"] == (7, 9)
    json.loads(json.dumps(report))
    assert all(f"| {name} (" in table for name in SPLITS) and "Held-out region: (8, 8, 16, 16)" in table
    assert "| mean IoU of box and ink |" in table
    evaluate.save_failures(tmp_path / "failures.png", failures)
    assert (tmp_path / "failures.png").stat().st_size > 0


@requires_mnist
def test_evaluate_command_measures_a_layout_checkpoint_on_the_splits(quick_judge, tmp_path, monkeypatch, capsys):
    settings = type("Settings", (), {"held_out_region": lambda self: (8, 8, 16, 16), "background": "white"})()
    monkeypatch.setattr(evaluate, "load_generator",
                        lambda path, average: (tiny_layout_generator(), 7, settings, np.zeros((0, 2), int)))
    judge_model.save_judge(quick_judge[0], tmp_path / "judge.npz", quick_judge[2], seed=0, epochs=1)
    (tmp_path / "checkpoint.npz").write_bytes(b"")  # read by the patched load_generator only
    assert evaluate.main(["--checkpoint", str(tmp_path / "checkpoint.npz"), "--judge", str(tmp_path / "judge.npz"),
                          "--n", "10", "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval/report.json").read_text())
    assert report["step"] == 7 and report["held_out_region"] == [8, 8, 16, 16]
    assert list(report["splits"]) == list(SPLITS) and (tmp_path / "eval/failures.png").stat().st_size > 0
    assert "| held_out_region (" in capsys.readouterr().out
