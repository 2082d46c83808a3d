"""Measure what a generator draws: ``python -m tinygan.evaluate --checkpoint PATH``.

For label orders seen in training and orders held out from it, the generator draws
images; the digit judge (:mod:`tinygan.judge_model`) classifies each box crop. Reported, as
a table on screen and as JSON and Markdown files:

- per-object accuracy, per-position accuracy and the share of images whose digits are
  all correct, with the sample count and a 95% Wilson interval, for seen and unseen
  orders, and for real canvases of MNIST test digits (the ceiling the judge allows);
- the Fréchet distance between the judge's penultimate features of generated crops and
  of real MNIST test digits, overall and per class;
- a background score: the mean absolute difference from the ideal canvas (white with
  black cell borders) outside the boxes;
- a PNG grid of the worst failures, each row captioned with the requested and judged labels.

A checkpoint of a generator with free layouts (layout 'random') is measured instead on the
layout splits of :mod:`tinygan.layout_metrics` (the training distribution, more digits,
smaller and larger boxes, overlapping boxes, the held-out region): for each, per-box
accuracy, all digits correct, where the ink lies (IoU with the box, ink outside every box),
Fréchet distance and spread, for the generated canvases and for real ones with the same
boxes; its failures.png outlines the requested boxes.
"""
import argparse
import json
import os
import sys

import numpy as np

from . import backend, cli
from .checkpoint import load_generator
from .data import CanvasDataset, LabelOrderHoldout, blank_canvas, canvas_colours, load_digits
from .images import save_grid_png
from .judge_model import judge_features, load_judge
from .layout_metrics import evaluate_layouts
from .metrics import (accuracy_report, background_score, diversity, frechet_distance, generate, judge_crops,
                      judge_images)


def evaluate(generator, holdout, judge, test_digits, n_samples=1000, seed=0, log=print):
    """All metrics as a dict, plus (images, labels, judged, worst-first order) of the generated sets."""
    config = generator.config
    canvas = config.canvas()
    size = config.object_size
    dataset = CanvasDataset(test_digits.resized(size), canvas, holdout)
    rng = np.random.default_rng(seed)
    ideal = blank_canvas(canvas)
    real_features = judge_features(judge, canvas_colours(test_digits.images))
    real_labels = np.asarray(test_digits.labels)
    report, failures = {"n_samples": n_samples, "seed": seed, "held_out_orders": len(holdout)}, []
    groups = ["seen"] + (["unseen"] if len(holdout) else [])
    for group in groups:
        labels = dataset.sample_labels(n_samples, rng, orders=group)
        boxes = canvas.boxes(len(labels))
        images = generate(generator, labels, boxes, seed=int(rng.integers(2**31)))
        judged, requested_p, crops = judge_images(judge, images, labels, boxes, size)
        features = judge_features(judge, judge_crops(crops))
        report[group] = {
            **accuracy_report(labels, judged),
            "frechet": frechet_distance(features, real_features),
            "frechet_per_class": {str(c): frechet_distance(features[labels.ravel() == c], real_features[real_labels == c])
                                  for c in range(config.n_classes)},
            "diversity": diversity(features, labels.ravel(), real_features, real_labels, config.n_classes),
            "background": background_score(images, boxes, ideal)}
        wrong = (judged != labels).sum(axis=1)
        order = np.lexsort((requested_p.min(axis=1), -wrong))  # most wrong digits, then least sure
        failures.append((group, images, labels, judged, order))
    real_images, real_label_orders, real_boxes = dataset.sample(n_samples, rng, orders="any")
    judged, _, _ = judge_images(judge, real_images, real_label_orders, real_boxes, size)
    report["real"] = {**accuracy_report(real_label_orders, judged),
                      "background": background_score(real_images, real_boxes, ideal)}
    return report, failures


def format_table(report):
    """The report as a Markdown table (also printed on screen)."""
    def cell(p):
        return f"{100 * p['value']:.1f}% [{100 * p['ci95'][0]:.1f}, {100 * p['ci95'][1]:.1f}]"

    groups = [g for g in ("seen", "unseen", "real") if g in report]
    n_positions = len(report["seen"]["per_position"])
    lines = ["| metric | " + " | ".join(f"{g} orders" if g != "real" else "real canvases" for g in groups) + " |",
             "| --- |" + " --- |" * len(groups),
             "| digits correct (per object) | " + " | ".join(cell(report[g]["per_object"]) for g in groups) + " |",
             "| images with all digits correct | " + " | ".join(cell(report[g]["all_correct"]) for g in groups) + " |"]
    for k in range(n_positions):
        lines.append(f"| position {k} correct | " + " | ".join(cell(report[g]["per_position"][k]) for g in groups) + " |")
    classes = sorted(report["seen"]["per_class"], key=int)
    lines.append("| worst classes | " + " | ".join(
        ", ".join(f"{c}: {100 * report[g]['per_class'][c]['value']:.0f}%" for c in
                  sorted(classes, key=lambda c: report[g]["per_class"].get(c, {"value": 1})["value"])[:3])
        for g in groups) + " |")
    lines.append("| Fréchet distance (judge features) | " + " | ".join(
        f"{report[g]['frechet']:.2f}" if "frechet" in report[g] else "-" for g in groups) + " |")
    lines.append("| within-class spread / real digits' (mean, worst class) | " + " | ".join(
        f"{report[g]['diversity']['mean']:.2f}, {report[g]['diversity']['min']:.2f}" if "diversity" in report[g] else "-"
        for g in groups) + " |")
    lines.append("| background error outside boxes | " + " | ".join(f"{report[g]['background']:.4f}" for g in groups) + " |")
    lines.append(f"\n{report['n_samples']} images per group, 95% Wilson intervals in brackets; "
                 f"{report['held_out_orders']} label orders held out from training.")
    return "\n".join(lines)


def compare_seen_unseen(report):
    """One sentence on the seen/unseen gap in per-object accuracy, saying whether the
    95% intervals separate it from noise."""
    seen, unseen = report["seen"]["per_object"], report["unseen"]["per_object"]
    gap = 100 * (seen["value"] - unseen["value"])
    if unseen["ci95"][1] < seen["ci95"][0]:
        return (f"Unseen label orders are drawn less accurately than seen ones ({gap:.1f} points, outside "
                f"the 95% intervals): the paper's open problem.")
    if seen["ci95"][1] < unseen["ci95"][0]:
        return f"Unseen label orders are drawn more accurately than seen ones ({-gap:.1f} points)."
    return (f"Seen and unseen orders differ by {gap:.1f} points, within the 95% intervals: "
            f"no measurable gap at this sample size.")


def save_failures(path, failures, per_group=6):
    """The worst generated images of each group, one per row, captioned
    'group: want <requested labels> got <judged labels>'."""
    images, captions = [], []
    for group, group_images, labels, judged, order in failures:
        for index in order[:per_group]:
            images.append(group_images[index])
            captions.append(f"{group}: want {''.join(map(str, labels[index]))} got {''.join(map(str, judged[index]))}")
    save_grid_png(path, np.stack(images), 1, captions=captions)


def format_layout_table(report):
    """A layout report (:func:`tinygan.layout_metrics.evaluate_layouts`) as a Markdown table:
    one row per split, each metric for generated and for real canvases."""
    def percent(value, digits=1):
        return f"{100 * value:.{digits}f}%"

    def interval(p):
        return f"{percent(p['value'])} [{100 * p['ci95'][0]:.1f}, {100 * p['ci95'][1]:.1f}]"

    metrics = [("per-box accuracy", lambda r: interval(r["per_box"])),
               ("all correct", lambda r: percent(r["all_correct"]["value"])),
               ("mean IoU", lambda r: f"{r['mean_iou']:.3f}"),
               ("IoU > 0.5", lambda r: percent(r["iou_above_half"]["value"])),
               ("spurious ink", lambda r: percent(r["spurious_ink"], 2)),
               ("background darkness", lambda r: percent(r["background_darkness"], 2)),
               ("Fréchet", lambda r: f"{r['frechet']:.2f}"),
               ("spread", lambda r: f"{r['diversity']['mean']:.2f}")]
    header = ["split", "canvases", "digits each"] + [f"{name} ({kind})" for name, _ in metrics
                                                     for kind in ("generated", "real")]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for split, result in report["splits"].items():
        if "generated" not in result:
            lines.append(f"| {split} | 0 | no drawable layout |" + " - |" * (len(header) - 3))
            continue
        cells = [split, str(result["canvases"]), f"{result['mean_count']:.2f}"]
        cells += [show(result[kind]) for _, show in metrics for kind in ("generated", "real")]
        lines.append("| " + " | ".join(cells) + " |")
    region = report["held_out_region"]
    lines.append(f"\n{report['n_samples']} layouts drawn per split (fewer canvases where no box could be placed); "
                 f"real: test digits in the same boxes, the judge's ceiling. 95% Wilson intervals in brackets. "
                 f"IoU: the requested box against the bounding box of the ink nearest it; spurious ink: the share of "
                 f"pixels outside every box that are ink (at least 25% dark); background darkness: their mean "
                 f"darkness (0 is white). Fréchet distance and spread (within-class, over real "
                 f"digits') of judge features against real in-distribution canvases. Held-out region: "
                 f"{tuple(region) if region else 'none'}.")
    return "\n".join(lines)


def outline_boxes(image, labels, boxes, shade=0.6):
    """A copy of image (H, W, 1) with each present box's border drawn in grey (ink stays darker)."""
    image = image.copy()
    for top, left, bottom, right in boxes[labels >= 0]:
        border = np.zeros(image.shape[:2], bool)
        border[top:bottom, left:right] = True
        border[top + 1:bottom - 1, left + 1:right - 1] = False
        image[border, 0] = np.minimum(image[border, 0], shade)
    return image


def save_layout_failures(path, failures, per_split=4):
    """The worst generated canvases of each layout split, one per row, boxes outlined, captioned
    'split: want <requested labels> got <judged labels>' (empty slots left out)."""
    images, captions = [], []
    for split, split_images, labels, boxes, judged, order in failures:
        for index in order[:per_split]:
            present = labels[index] >= 0
            images.append(outline_boxes(split_images[index], labels[index], boxes[index]))
            captions.append(f"{split}: want {''.join(map(str, labels[index][present]))} "
                            f"got {''.join(map(str, judged[index][present]))}")
    save_grid_png(path, np.stack(images), 1, captions=captions)


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog="python -m tinygan.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="checkpoint.npz written by tinygan.train")
    parser.add_argument("--n", type=int, default=500,
                        help="images per group (seen, unseen, real), or layouts per split (free layouts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for report.json, report.md, failures.png "
                                                    "(default: eval/ beside the checkpoint)")
    parser.add_argument("--judge", default=None, help="judge checkpoint (default: the cached one)")
    parser.add_argument("--train-judge", action="store_true", help="train the judge if none is cached")
    parser.add_argument("--data-dir", default=None, help="folder with the four MNIST files")
    parser.add_argument("--backend", choices=["auto", "numpy", "cupy"], default=None)
    parser.add_argument("--average", action=argparse.BooleanOptionalAction, default=True,
                        help="use the generator's weight average when the checkpoint has one (default); "
                             "--no-average: the trained generator")
    args = parser.parse_args(argv)
    if args.n < 2:
        parser.error(f"--n must be at least 2, got {args.n}")
    if not os.path.isfile(args.checkpoint):
        parser.error(f"--checkpoint: no file at {args.checkpoint}")
    return args, parser


def main(argv=None):
    args, parser = parse_args(argv)
    backend.set_backend(args.backend)
    try:
        generator, step, settings, holdout = load_generator(args.checkpoint, average=args.average)
        judge, info = load_judge(args.judge, train_if_missing=args.train_judge, data_dir=args.data_dir)
    except ValueError as err:
        parser.error(str(err))
    test_digits = load_digits("test", data_dir=args.data_dir)
    if generator.config.layout == "random":
        region = settings.held_out_region()
        report, failures = evaluate_layouts(generator, judge, test_digits, region, args.n, args.seed)
        table, write_failures = format_layout_table(report), save_layout_failures
    else:
        holdout = (LabelOrderHoldout.from_array(holdout) if len(holdout)
                   else LabelOrderHoldout([], generator.config.n_objects))
        report, failures = evaluate(generator, holdout, judge, test_digits, args.n, args.seed)
        table, write_failures = format_table(report), save_failures
        if "unseen" in report:
            table += "\n" + compare_seen_unseen(report)
    report.update(checkpoint=os.path.abspath(args.checkpoint), step=step, average=args.average,
                  judge_test_accuracy=info.test_accuracy,
                  digits=test_digits.source)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "eval")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as file:
        json.dump(report, file, indent=2)
    with open(os.path.join(out, "report.md"), "w") as file:
        file.write(f"# Evaluation of {args.checkpoint} (step {step})\n\n{table}\n")
    write_failures(os.path.join(out, "failures.png"), failures)
    print(f"checkpoint {args.checkpoint} (step {step}); judge test accuracy {100 * info.test_accuracy:.2f}%\n")
    print(table)
    print(f"\nwrote {out}/report.json, report.md, failures.png")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
