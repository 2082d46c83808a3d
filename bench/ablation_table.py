"""Summarise evaluation reports of several runs as a Markdown table: one row per group of
runs (e.g. one recipe on three seeds), the mean and the minimum over the group.

    python bench/ablation_table.py "paper=runs/exp/L0_s*/eval/report.json" \\
                                   "tinygan=runs/exp/L4_s*/eval/report.json"

Each argument is LABEL=GLOB; the reports are those python -m tinygan.evaluate writes.
Columns: per-object accuracy on seen and unseen orders, images with all digits correct
(seen and unseen), Fréchet distance and within-class spread against real digits (seen), background
error. For the Fréchet distance and the background error, lower is better, so the column
shows the mean and the maximum (the worst seed) instead of the minimum.
"""
import argparse
import glob
import json
import sys

from harness import stamp, stamp_text

COLUMNS = [  # header, path into the report, scale, worst-seed function
    ("digits correct, seen %", ("seen", "per_object", "value"), 100, min),
    ("digits correct, unseen %", ("unseen", "per_object", "value"), 100, min),
    ("all four correct, seen %", ("seen", "all_correct", "value"), 100, min),
    ("all four correct, unseen %", ("unseen", "all_correct", "value"), 100, min),
    ("Fréchet distance, seen", ("seen", "frechet"), 1, max),
    ("within-class spread / real, seen", ("seen", "diversity", "mean"), 1, min),
    ("background error", ("seen", "background"), 1, max),
]


def lookup(report, path):
    for key in path:
        report = report[key]
    return report


def row(label, paths):
    reports = [json.load(open(path)) for path in paths]
    cells = []
    for _, key, scale, worst in COLUMNS:
        values = [scale * lookup(report, key) for report in reports]
        digits = 4 if key[-1] == "background" else 1 if scale == 100 or key[-1] == "frechet" else 2
        cells.append(f"{sum(values) / len(values):.{digits}f} ({worst(values):.{digits}f})")
    steps = sorted({report["step"] for report in reports})
    return f"| {label} | {len(reports)} | {', '.join(map(str, steps))} | " + " | ".join(cells) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", metavar="LABEL=GLOB", help="a row: its label and its reports")
    groups = [argument.split("=", 1) for argument in parser.parse_args(argv).groups]
    if any(len(group) != 2 for group in groups):
        parser.error("each argument is LABEL=GLOB, e.g. \"tinygan=runs/*/eval/report.json\"")
    print("| recipe | seeds | steps | " + " | ".join(header for header, *_ in COLUMNS) + " |")
    print("| --- | --- | --- |" + " --- |" * len(COLUMNS))
    for label, pattern in groups:
        paths = sorted(glob.glob(pattern))
        if not paths:
            sys.exit(f"{label}: no reports match {pattern}")
        print(row(label, paths))
    print("\nEach cell: mean over the seeds (worst seed in brackets: the minimum, or the maximum for "
          "the Fréchet distance and the background error).\n")
    print(stamp_text(stamp(threads=None), prefix="    "))  # a Markdown code block


if __name__ == "__main__":
    main()
