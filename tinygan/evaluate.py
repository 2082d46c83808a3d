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
layout splits of its placement (the training distribution, more digits, smaller and larger
boxes, overlapping boxes, the held-out region): for each, per-object accuracy, all digits
correct, where the ink lies (IoU with the box, ink outside every box), Fréchet distance and
spread, for the generated canvases and for real ones with the same boxes. The placement
(:mod:`tinygan.placement`) says what is measured; :mod:`tinygan.metrics` measures it, one
table row per measure; failures.png outlines the requested boxes.
"""
import argparse
import json
import os
import sys

import numpy as np

from . import cli
from .checkpoint import load_generator
from .data import LabelOrderHoldout, load_digits
from .images import save_grid_png
from .judge_model import judge_background, load_judge


def outline_boxes(image, labels, boxes, shade=0.6):
    """A copy of image (H, W, 1) with each present box's border drawn in grey (ink stays darker)."""
    image = image.copy()
    for top, left, bottom, right in boxes[labels >= 0]:
        border = np.zeros(image.shape[:2], bool)
        border[top:bottom, left:right] = True
        border[top + 1:bottom - 1, left + 1:right - 1] = False
        image[border, 0] = np.minimum(image[border, 0], shade)
    return image


def save_failures(path, failures, per_group=4):
    """The worst generated canvases of each group (:meth:`tinygan.metrics.judged.Judged.worst_first`),
    one per row, boxes outlined, captioned 'group: want <requested labels> got <judged labels>'
    (empty slots left out)."""
    images, captions = [], []
    for group, judged in failures:
        verdicts = judged.per_slot(judged.verdicts, -1)
        for index in judged.worst_first()[:per_group]:
            labels, present = judged.labels[index], judged.labels[index] >= 0
            images.append(outline_boxes(judged.images[index], labels, judged.boxes[index]))
            captions.append(f"{group}: want {''.join(map(str, labels[present]))} "
                            f"got {''.join(map(str, verdicts[index][present]))}")
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
    parser.add_argument("--judge", default=None,
                        help="judge checkpoint (default: the one python -m tinygan.judge --train wrote into the "
                             "cache, else the one shipped with tinygan; for a checkpoint on textured paper: the "
                             "one python -m tinygan.judge --train --background textured wrote)")
    parser.add_argument("--train-judge", action="store_true",
                        help="train a judge into the cache first if none is there (or into --judge if missing)")
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
    cli.set_up(args.backend)
    try:
        generator, step, settings, holdout = load_generator(args.checkpoint, average=args.average)
        judge, info = load_judge(args.judge, train_if_missing=args.train_judge, data_dir=args.data_dir,
                                 background=judge_background(settings))
    except ValueError as err:
        parser.error(str(err))
    test_digits = load_digits("test", data_dir=args.data_dir)
    holdout = (LabelOrderHoldout.from_array(holdout) if len(holdout)
               else LabelOrderHoldout([], generator.config.n_objects))
    report, failures, table = generator.config.placement.evaluate(generator, judge, test_digits, settings, holdout,
                                                                  args.n, args.seed)
    report.update(checkpoint=os.path.abspath(args.checkpoint), step=step, average=args.average,
                  judge=str(info.path), judge_test_accuracy=info.test_accuracy,
                  digits=test_digits.source)
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), "eval")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "report.json"), "w") as file:
        json.dump(report, file, indent=2)
    with open(os.path.join(out, "report.md"), "w") as file:
        file.write(f"# Evaluation of {args.checkpoint} (step {step})\n\n{table}\n")
    save_failures(os.path.join(out, "failures.png"), failures)
    print(f"checkpoint {args.checkpoint} (step {step}); {info.describe()}\n")
    print(table)
    print(f"\nwrote {out}/report.json, report.md, failures.png")
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_command(main))
