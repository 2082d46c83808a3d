"""Evaluation metrics on cases with known answers, and the evaluate command end to end."""
import csv
import json

import numpy as np
import pytest

from conftest import requires_mnist, run_train
from tinygan import evaluate, judge_model, metrics, train
from tinygan.data import CanvasConfig, CanvasDataset, blank_canvas
from tinygan.metrics.ink import background_score
from tinygan.metrics.judged import Judged
from tinygan.metrics.measures import report
from tinygan.metrics.report import compare_seen_unseen
from tinygan.models import preset
from tinygan.placement import GridPlacement
from tinygan.settings import RECIPE_NAMES

pytestmark = pytest.mark.usefixtures("offline_data")


def test_wilson_interval_known_values():
    low, high = metrics.wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-4) and high == pytest.approx(0.5962, abs=1e-4)
    assert metrics.wilson_interval(0, 10)[0] == 0.0


def test_diversity_is_one_for_real_digits_and_zero_for_one_glyph():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((400, 5))
    real_labels = np.repeat([0, 1], 200)
    same = metrics.diversity(real[::-1], real_labels[::-1], real, real_labels, 2)
    assert same["mean"] == pytest.approx(1.0, abs=0.05)
    collapsed = metrics.diversity(np.repeat(real[:1], 50, axis=0), np.zeros(50, int), real, real_labels, 2)
    assert collapsed["per_class"]["0"] == pytest.approx(0.0, abs=1e-6) and np.isnan(collapsed["per_class"]["1"])
    assert metrics.mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)


def test_frechet_distance_known_answers():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 5))
    assert abs(metrics.frechet_distance(a, a)) < 1e-8
    assert metrics.frechet_distance(a, a + 1.0) == pytest.approx(5.0, rel=1e-6)  # |mean shift|^2
    b = 2 * rng.standard_normal((4000, 5))  # N(0, 4I) vs N(0, I): tr(I + 4I - 2 * 2I) = 5
    assert metrics.frechet_distance(a, b) == pytest.approx(5.0, rel=0.1)


def test_seen_unseen_comparison_respects_the_intervals():
    def results(seen_hits, unseen_hits, n=1000):
        return {"seen": {"per_object": metrics.proportion(np.arange(n) < seen_hits)},
                "unseen": {"per_object": metrics.proportion(np.arange(n) < unseen_hits)}}

    assert "the paper's open problem" in compare_seen_unseen(results(900, 700))
    assert "no measurable gap" in compare_seen_unseen(results(900, 890))
    assert "more accurately" in compare_seen_unseen(results(700, 900))


def test_background_score():
    config = CanvasConfig()
    ideal = blank_canvas(config)
    boxes = config.boxes(2)
    images = np.stack([ideal, ideal])[..., None]
    assert background_score(images, boxes, ideal) == 0.0
    white = np.ones_like(images)
    outside = 128 * 128 - 4 * 28 * 28
    assert background_score(white, boxes, ideal) == pytest.approx((ideal < 0.5).sum() / outside)


@requires_mnist
def test_real_canvases_score_at_the_judges_accuracy(quick_judge):
    model, test, judge_accuracy = quick_judge
    config = CanvasConfig()
    images, labels, boxes = CanvasDataset(test, config).sample(500, np.random.default_rng(1))
    judged = Judged(model, GridPlacement(), preset("paper"), images, labels, boxes)
    per_object = report(judged, ["per_object"])["per_object"]
    low, high = per_object["ci95"]
    assert per_object["n"] == 2000 and low - 0.02 <= judge_accuracy <= high + 0.02
    assert judge_accuracy > 0.8


@requires_mnist
def test_blank_canvases_score_near_chance(quick_judge):
    model = quick_judge[0]
    config = CanvasConfig()
    labels = np.random.default_rng(2).integers(0, 10, (300, 4))
    images = np.broadcast_to(blank_canvas(config)[..., None], (300, 128, 128, 1)).copy()
    boxes = config.boxes(300)
    judged = Judged(model, GridPlacement(), preset("paper"), images, labels, boxes)
    measured = report(judged, ["per_object", "all_correct"])
    assert measured["per_object"]["value"] < 0.2  # one verdict for every blank crop: ~1 in 10
    assert measured["all_correct"]["value"] < 0.01


@pytest.mark.parametrize("recipe", RECIPE_NAMES)
def test_evaluate_command_end_to_end(tmp_path, capsys, recipe):
    """No judge in the cache (a fresh install): the one shipped with tinygan measures."""
    assert run_train(tmp_path / "run", "--recipe", recipe, "--steps", "2", "--holdout", "19,32,55") == 0
    assert evaluate.main(["--checkpoint", str(tmp_path / "run/checkpoint.npz"), "--n", "20",
                          "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval/report.json").read_text())
    assert report["judge"] == str(judge_model.SHIPPED_JUDGE)
    assert report["held_out_orders"] == 3 and report["seen"]["per_object"]["n"] == 40
    assert report["unseen"]["per_object"]["n"] == 40 and len(report["seen"]["per_position"]) == 2
    assert (tmp_path / "eval/failures.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "(shipped with tinygan;" in printed
    assert "| digits correct (per object) |" in printed and "real canvases" in printed


def test_evaluate_flags(tmp_path, capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--checkpoint", str(tmp_path / "missing.npz")])
    assert "no file at" in capsys.readouterr().err


def test_a_fresh_install_evaluates_with_the_judge_shipped_with_tinygan(tmp_path):
    """No judge in the cache: the run evaluates at its evaluation steps, logs the accuracies next
    to the losses and keeps best.npz."""
    messages = []
    assert run_train(tmp_path / "run", "--steps", "4", "--holdout", "19,32", "--eval-every", "2",
                     "--eval-samples", "5", log=messages.append) == 0
    assert any(m.startswith("evaluations every 2 steps by the judge") and "shipped with tinygan" in m
               for m in messages)
    with open(tmp_path / "run/losses.csv") as file:
        rows = list(csv.DictReader(file))
    assert [bool(row["acc_seen"]) for row in rows] == [False, True, False, True]
    assert 0 <= float(rows[1]["acc_unseen"]) <= 1
    assert any(m.startswith("eval at step 4: judged digits correct, seen orders") for m in messages)
    assert all(float(row["frechet"]) > 0 for row in rows if row["acc_seen"])
    assert (tmp_path / "run/best.npz").is_file() and (tmp_path / "run/progress.png").is_file()
    assert any("best so far" in m for m in messages)


def test_train_on_a_missing_judge_names_it_before_any_work(tmp_path):
    with pytest.raises(SystemExit, match=r"--eval-every: no trained judge at .*missing\.npz"):
        run_train(tmp_path / "run", "--steps", "2", "--eval-every", "2", "--judge", str(tmp_path / "missing.npz"))
    assert not (tmp_path / "run").exists()


def test_best_checkpoint_rule_prefers_accuracy_then_frechet_distance_within_a_point():
    from tinygan.extensions import KeepBest

    rule = KeepBest(type("Evaluation", (), {"every": 1})(), "best.npz")
    results = [dict(accuracy=0.90, frechet=9.0), dict(accuracy=0.895, frechet=8.0),  # within a point, lower FD
               dict(accuracy=0.93, frechet=20.0), dict(accuracy=0.925, frechet=25.0),  # higher FD: no
               dict(accuracy=0.80, frechet=1.0)]  # ten points lower: no
    assert [rule.is_best(r) for r in results] == [True, True, True, False, False]
    assert rule.best == results[2]



def test_the_log_and_the_plot_follow_the_list_of_logged_measures(tmp_path, monkeypatch):
    from PIL import Image

    from tinygan import extensions, plot
    from tinygan.metrics.measures import LOGGED, Logged, accuracy

    assert extensions.LOG_FIELDS[-len(LOGGED):] == [logged.column for logged in LOGGED]
    rows = [{"step": "1", "d_real": "1", "d_fake": "1", "g": "0", "acc_seen": "0.5", "frechet": "3"}]
    plot.save_progress_png(tmp_path / "three.png", rows)  # losses, accuracy, Fréchet distance
    monkeypatch.setattr(plot, "LOGGED", LOGGED + (Logged("acc_real", "seen", accuracy, "a new panel", "real"),))
    plot.save_progress_png(tmp_path / "four.png", rows)
    heights = [Image.open(tmp_path / name).height for name in ("three.png", "four.png")]
    assert heights[1] - heights[0] == plot.PANEL_HEIGHT + 30


@requires_mnist
def test_a_free_layout_run_logs_its_two_groups_and_the_frechet_distance(tmp_path, quick_judge):
    judge_model.save_judge(quick_judge[0], judge_model.judge_path(), quick_judge[2], seed=0, epochs=1)
    messages = []
    flags = ["--preset", "tiny", "--layout", "random", "--batch-size", "4", "--steps", "2", "--eval-every", "2",
             "--eval-samples", "6", "--out", str(tmp_path / "run")]
    assert train.run(train.parse_args(flags), log=messages.append) == 0
    with open(tmp_path / "run/losses.csv") as file:
        last = list(csv.DictReader(file))[-1]
    assert 0 <= float(last["acc_seen"]) <= 1 and 0 <= float(last["acc_unseen"]) <= 1 and float(last["frechet"]) > 0
    assert any("training layouts" in m and "held-out region" in m for m in messages)
    assert any(str(judge_model.judge_path()) in m and "trained into the cache" in m for m in messages)
