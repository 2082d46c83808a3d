"""Time to a good model: judged accuracy and Fréchet distance against wall time and steps, for
groups of runs (a recipe on several seeds), as a Markdown table and one PNG.

    python bench/time_to_good.py "today (3000 steps)=runs/base_s*" "1200 steps, lr 2e-3=runs/c_s*" \\
        --png docs/time_to_good.png

Each argument is LABEL=GLOB of run folders (what python -m tinygan.train --out wrote). A run's curve
is its in-training evaluations (losses.csv rows with acc_seen): the accuracy is the lower of the seen
and unseen orders' (a run without held-out orders: the seen ones), the time is the ``seconds`` column,
the wall time since the run's first step at that step, the evaluations before it included. The
table gives, per group, the median over its runs of the time and step at which the accuracy first
reaches 97%, 98% and 98.5% ('-' when a run never does; the count that did), the whole run's minutes,
and the final ``python -m tinygan.evaluate`` figures (eval/report.json in the run folder) when there.
In-training evaluations judge 200 images per group (about ±1 point at 98%), evaluate's 500.

Runs that shared the cores (side by side, one BLAS thread each) have wall clocks that say nothing
of a run alone: ``--alone-from FOLDER`` reads the seconds per step and per evaluation off a short
run trained alone (``python -m tinygan.train --steps 300 --eval-every 100``) and gives every run's
minutes as its step count and evaluations at those rates (``--alone STEP,EVALUATION`` states them).
"""
import argparse
import csv
import glob
import json
import os
import sys

import numpy as np
from PIL import Image, ImageDraw

from tinygan.images import save_png
from tinygan.plot import COLOURS, MARGIN, PANEL_HEIGHT, PANEL_WIDTH

THRESHOLDS = (0.97, 0.98, 0.985)


def read_rows(folder):
    """The rows of a run's losses.csv (dicts by column), never none."""
    with open(os.path.join(folder, "losses.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        sys.exit(f"{folder}: losses.csv has no rows")
    return rows


def read_curve(folder, alone=None):
    """(steps, minutes, accuracy, frechet) arrays of a run's evaluations, and its last row's
    minutes (the whole run's training time). ``alone``: (seconds per step, seconds per evaluation)
    measured alone on the machine; the minutes are then those a run alone would take, step count
    times the first plus evaluations so far times the second, not the log's wall clock."""
    rows = read_rows(folder)
    evaluated = [row for row in rows if row.get("acc_seen")]
    steps = np.array([int(row["step"]) for row in evaluated])
    minutes = np.array([float(row["seconds"]) / 60 for row in evaluated])
    total = float(rows[-1]["seconds"]) / 60
    if alone:
        per_step, per_evaluation = alone
        minutes = (steps * per_step + np.arange(1, len(steps) + 1) * per_evaluation) / 60
        total = (int(rows[-1]["step"]) * per_step + len(steps) * per_evaluation) / 60
    accuracy = np.array([min(float(row["acc_seen"]), float(row.get("acc_unseen") or row["acc_seen"]))
                         for row in evaluated])
    frechet = np.array([float(row["frechet"]) for row in evaluated])
    return steps, minutes, accuracy, frechet, total


def rates_alone(folder):
    """(seconds per step, seconds per evaluation) of a run trained alone on the machine: the median
    of its steps' durations (the ``seconds`` column's differences) and the median extra duration of
    the steps after an evaluation (a row's seconds are written before its evaluation runs, so the
    evaluation's time lands on the next row; a sample grid, every 250 steps, moves neither median)."""
    rows = read_rows(folder)
    seconds = np.array([float(row["seconds"]) for row in rows])
    durations, evaluated = np.diff(seconds), np.array([bool(row.get("acc_seen")) for row in rows[:-1]])
    if evaluated.all() or not evaluated.any():
        sys.exit(f"{folder}: --alone-from needs a run with steps both with and without evaluations")
    per_step = float(np.median(durations[~evaluated]))
    return per_step, float(np.median(durations[evaluated])) - per_step


def first_reach(curve, threshold):
    """(minutes, step) of the first evaluation at or above ``threshold``, or None."""
    steps, minutes, accuracy = curve[:3]
    hit = np.flatnonzero(accuracy >= threshold)
    return (minutes[hit[0]], steps[hit[0]]) if hit.size else None


def final_figures(folder):
    """'seen / unseen %, Fréchet' of the run's eval/report.json, or '-'."""
    path = os.path.join(folder, "eval", "report.json")
    if not os.path.exists(path):
        return "-"
    report = json.load(open(path))
    unseen = report.get("unseen", {}).get("per_object", {}).get("value")
    text = f"{100 * report['seen']['per_object']['value']:.1f}"
    return text + (f" / {100 * unseen:.1f}" if unseen is not None else "") + f", {report['seen']['frechet']:.2f}"


def table_row(label, folders, curves):
    cells = []
    for threshold in THRESHOLDS:
        reached = [first_reach(curve, threshold) for curve in curves]
        done = [r for r in reached if r is not None]
        cells.append(f"{np.median([r[0] for r in done]):.1f} min, step {int(np.median([r[1] for r in done]))} "
                     f"({len(done)}/{len(curves)})" if done else f"- (0/{len(curves)})")
    total = ", ".join(f"{curve[4]:.1f}" for curve in curves)
    finals = "; ".join(final_figures(folder) for folder in folders)
    return f"| {label} | {len(curves)} | {total} | " + " | ".join(cells) + f" | {finals} |"


def save_plot(path, groups):
    """Four panels (accuracy and Fréchet distance, against minutes and against steps), a colour per
    group, a line per run, one y range per panel."""
    panels = [("judged digits correct, lower of seen and unseen, % (x: minutes)", 2, 1),
              ("Fréchet distance, capped at 40 (x: minutes)", 3, 1),
              ("judged digits correct, % (x: steps)", 2, 0),
              ("Fréchet distance, capped at 40 (x: steps)", 3, 0)]
    picture = Image.new("RGB", (PANEL_WIDTH + 2 * MARGIN, len(panels) * (PANEL_HEIGHT + 44) + 16 + 12 * len(groups)),
                        (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for index, (title, column, axis) in enumerate(panels):
        top = 20 + index * (PANEL_HEIGHT + 44)
        left, bottom = MARGIN, top + PANEL_HEIGHT
        shown = [(g, curve[axis], _shown(curve, column)) for g, (_, curves) in enumerate(groups) for curve in curves]
        last = max(float(xs.max()) for _, xs, _ in shown)
        low = min(float(ys.min()) for _, _, ys in shown)
        high = max(float(ys.max()) for _, _, ys in shown)
        draw.rectangle([left, top, left + PANEL_WIDTH, bottom], outline=(0, 0, 0))
        draw.text((left, top - 14), title, fill=(0, 0, 0))
        draw.text((2, top), f"{high:.3g}", fill=(0, 0, 0))
        draw.text((2, bottom - 10), f"{low:.3g}", fill=(0, 0, 0))
        draw.text((left, bottom + 2), f"0 .. {last:.0f} {'minutes' if axis else 'steps'}", fill=(0, 0, 0))
        for g, xs, ys in shown:
            colour = COLOURS[g % len(COLOURS)]
            points = list(zip((left + xs / max(last, 1e-9) * PANEL_WIDTH).tolist(),
                              (bottom - (ys - low) / max(high - low, 1e-9) * PANEL_HEIGHT).tolist()))
            draw.line(points, fill=colour, width=2)
            for x, y in points:
                draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for g, (label, _) in enumerate(groups):
        draw.text((MARGIN, picture.height - 14 - 12 * (len(groups) - 1 - g)), label, fill=COLOURS[g % len(COLOURS)])
    save_png(picture, path)


def _shown(curve, column):
    """The plotted values: accuracy in %, the Fréchet distance capped at 40 (early steps are far off)."""
    return 100 * curve[column] if column == 2 else np.minimum(curve[column], 40)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", metavar="LABEL=GLOB", help="a group: its label and its run folders")
    parser.add_argument("--png", help="write the curves here")
    rates = parser.add_mutually_exclusive_group()
    rates.add_argument("--alone", metavar="STEP,EVALUATION",
                        help="seconds per training step and per in-training evaluation, measured alone on this "
                             "machine: minutes from step counts instead of the logs' wall clock (runs that shared "
                             "the cores)")
    rates.add_argument("--alone-from", metavar="FOLDER",
                        help="as --alone, the seconds read off a short run trained alone (with --eval-every)")
    args = parser.parse_args(argv)
    alone = None
    if args.alone_from:
        alone = rates_alone(args.alone_from)
        print(f"alone ({args.alone_from}): {alone[0]:.3f} s a step, {alone[1]:.1f} s an evaluation")
    elif args.alone:
        try:
            alone = tuple(float(value) for value in args.alone.split(","))
        except ValueError:
            alone = ()
        if len(alone) != 2 or min(alone) < 0:
            parser.error(f"--alone: expected two seconds like 0.42,6.5, got {args.alone!r}")
    groups = []
    for argument in args.groups:
        label, _, pattern = argument.partition("=")
        folders = sorted(path for path in glob.glob(pattern) if os.path.isdir(path))
        if not label or not folders:
            parser.error(f"{argument!r}: expected LABEL=GLOB matching run folders")
        groups.append((label, folders, [read_curve(folder, alone) for folder in folders]))
    print("| recipe | seeds | minutes per run | to 97% | to 98% | to 98.5% | evaluate: seen / unseen %, Fréchet |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, folders, curves in groups:
        print(table_row(label, folders, curves))
    if args.png:
        save_plot(args.png, [(label, curves) for label, _, curves in groups])
        print(f"curves: {args.png}")


if __name__ == "__main__":
    main()
