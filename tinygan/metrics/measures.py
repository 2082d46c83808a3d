"""Every measure, listed once.

A measure is a function of a :class:`~tinygan.metrics.judged.Judged` set of canvases that
returns a JSON-ready value, or None where it does not apply (no reference digits, say).

- :data:`LOGGED`: measured at each evaluation during training; each entry is a column of
  losses.csv and a series in a panel of progress.png.
- :data:`REPORTED`: what ``python -m tinygan.evaluate`` reports of each group of canvases, one
  row of its tables each; a placement names those that apply to it (``report_measures``).

A new measure is one function and one entry (and, for a report, its name in a placement's list).
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .ink import background_score
from .statistics import diversity, frechet_distance, proportion


def accuracy(j):
    """The share of present objects judged as their requested class."""
    return float(np.mean(j.correct))


def frechet(j):
    """Fréchet distance of the judge's features of the frames to those of real digits."""
    return None if j.reference is None else frechet_distance(j.features, j.reference[0])


def frechet_per_class(j):
    if j.reference is None:
        return None
    features, labels = j.reference
    return {str(c): frechet_distance(j.features[j.requested == c], features[labels == c]) for c in range(j.n_classes)}


def spread(j):
    """Within-class spread of the features over real digits' (:func:`tinygan.metrics.statistics.diversity`)."""
    return None if j.reference is None else diversity(j.features, j.requested, *j.reference, j.n_classes)


def per_position(j):
    """Accuracy of each slot (on the grid: each cell)."""
    correct = j.per_slot(j.correct, False)
    return [proportion(correct[:, k]) for k in range(correct.shape[1])]


def per_class(j):
    return {str(c): proportion(j.correct[j.requested == c]) for c in np.unique(j.requested)}


def all_correct(j):
    """The share of canvases (with at least one object) whose digits are all judged right."""
    right = (j.per_slot(j.verdicts, -1) == j.labels).all(axis=1)
    return proportion(right[(j.labels >= 0).any(axis=1)])


def background(j):
    """Mean |image - ideal| outside the boxes."""
    return None if j.ideal is None else background_score(j.images, j.boxes, j.ideal)


def mean_iou(j):
    return float(j.iou.mean()) if j.iou.size else float("nan")


def on_paper(name):
    """The measure ``name`` of canvases on paper (:class:`tinygan.metrics.paper_report.OnPaper`),
    None for others."""
    return lambda j: getattr(j, name, None)


def per_family(accuracies):
    return ", ".join(f"{family} {100 * p['value']:.1f}%" for family, p in accuracies.items() if p["n"])


def by_family(values, text="{:.2f}"):
    """'name value, ...'; '-' for a value that is nan (a family no image was recognised as)."""
    return ", ".join(f"{name} {'-' if np.isnan(value) else text.format(value)}" for name, value in values.items())


@dataclass(frozen=True)
class Logged:
    """A column of losses.csv: ``measure`` on the ``group`` ('seen' or 'unseen') of each training
    evaluation, written with ``text``; plotted as a series ``legend`` (value * scale) of ``panel``."""
    column: str
    group: str
    measure: Callable
    panel: str
    legend: str
    scale: float = 1.0
    text: str = "{}"


LOGGED = (
    Logged("acc_seen", "seen", accuracy, "judged digits correct, %", "seen", 100.0),
    Logged("acc_unseen", "unseen", accuracy, "judged digits correct, %", "unseen", 100.0),
    Logged("frechet", "seen", frechet, "Frechet distance (seen)", "frechet", text="{:.3f}"),
)


def percent(value, digits=1):
    return f"{100 * value:.{digits}f}%"


def interval(p):
    return f"{percent(p['value'])} [{100 * p['ci95'][0]:.1f}, {100 * p['ci95'][1]:.1f}]"


def worst_classes(classes):
    worst = sorted(classes.items(), key=lambda item: item[1]["value"])[:3]
    return ", ".join(f"{c}: {100 * p['value']:.0f}%" for c, p in worst)


@dataclass(frozen=True)
class Reported:
    """A report's entry ``name``: ``measure``'s value, shown in a table's row ``title`` by ``cell``."""
    name: str
    measure: Callable
    title: str
    cell: Callable


REPORTED = {r.name: r for r in (
    Reported("per_object", lambda j: proportion(j.correct), "digits correct (per object)", interval),
    Reported("all_correct", all_correct, "images with all digits correct", interval),
    Reported("per_position", per_position, "digits correct per position",
             lambda positions: ", ".join(percent(p["value"]) for p in positions)),
    Reported("per_class", per_class, "worst classes", worst_classes),
    Reported("mean_iou", mean_iou, "mean IoU of box and ink", "{:.3f}".format),
    Reported("iou_above_half", lambda j: proportion(j.iou > 0.5), "IoU > 0.5", lambda p: percent(p["value"])),
    Reported("spurious_ink", lambda j: j.outside_ink[0], "ink outside every box (share of pixels)",
             lambda v: percent(v, 2)),
    Reported("background_darkness", lambda j: j.outside_ink[1], "mean darkness outside every box",
             lambda v: percent(v, 2)),
    Reported("frechet", frechet, "Fréchet distance (judge features)", "{:.2f}".format),
    Reported("frechet_per_class", frechet_per_class, "worst class's Fréchet distance",
             lambda d: "{}: {:.1f}".format(*max(d.items(), key=lambda cv: cv[1] if np.isfinite(cv[1]) else -1))),
    Reported("diversity", spread, "within-class spread / real digits' (mean, worst class)",
             lambda d: f"{d['mean']:.2f}, {d['min']:.2f}"),
    Reported("background", background, "background error outside boxes", "{:.4f}".format),
    Reported("accuracy_per_family", on_paper("accuracy_per_family"), "digits correct on each paper family", per_family),
    Reported("mask_iou", on_paper("mask_iou"), "mask IoU with the ink (median)", "{:.3f}".format),
    Reported("paper_families", on_paper("paper_families"), "paper families recognised (share of images)",
             lambda shares: by_family(shares, "{:.0%}")),
    Reported("paper_frechet", on_paper("paper_frechet"), "background Fréchet distance (per family, mean)", by_family),
    Reported("spread_ratio", on_paper("spread_ratio"), "paper spread in boxes / beside (median)", "{:.3f}".format),
    Reported("seam_ratio", on_paper("seam_ratio"), "gradient on box edges / away (median)", "{:.3f}".format),
)}


def report(j, names):
    """{name: value} of the REPORTED measures ``names`` that apply to the judged set ``j``."""
    values = {name: REPORTED[name].measure(j) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def markdown_table(columns, names):
    """A Markdown table: one column per (title, report) of ``columns``, one row per measure of
    ``names`` that some report holds ('-' where one does not)."""
    names = [n for n in names if any(n in values for _, values in columns)]
    lines = ["| measure | " + " | ".join(title for title, _ in columns) + " |", "| --- |" + " --- |" * len(columns)]
    for name in names:
        row = REPORTED[name]
        lines.append(f"| {row.title} | " + " | ".join(row.cell(values[name]) if name in values else "-"
                                                     for _, values in columns) + " |")
    return "\n".join(lines)
