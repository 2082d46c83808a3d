"""A run's progress as a PNG (Pillow only): the losses, and a panel for each panel of the
logged measures (:data:`tinygan.metrics.measures.LOGGED`: the judge's accuracy, the Fréchet
distance) at each evaluation, against the step. Written next to losses.csv."""
import numpy as np
from PIL import Image, ImageDraw

from .images import save_png
from .metrics.measures import LOGGED

PANEL_WIDTH, PANEL_HEIGHT, MARGIN = 560, 150, 44
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def moving_average(values, window):
    """Mean of each value with up to ``window - 1`` before it (NaNs skipped)."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        part = values[max(0, i - window + 1):i + 1]
        part = part[np.isfinite(part)]
        if part.size:
            out[i] = part.mean()
    return out


def draw_panel(draw, top, title, steps, series, last_step):
    """One panel: axes, y range labels, a legend, and each (name, values) series as a
    polyline over ``steps`` (points where the value is finite)."""
    left, right, bottom = MARGIN, MARGIN + PANEL_WIDTH, top + PANEL_HEIGHT
    draw.rectangle([left, top, right, bottom], outline=(0, 0, 0))
    finite = np.concatenate([v[np.isfinite(v)] for _, v in series]) if series else np.array([])
    draw.text((left, top - 14), title, fill=(0, 0, 0))
    if finite.size == 0:
        draw.text((left + 8, top + 8), "no values yet", fill=(120, 120, 120))
        return
    low, high = float(finite.min()), float(finite.max())
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    draw.text((2, top), f"{high:.3g}", fill=(0, 0, 0))
    draw.text((2, bottom - 10), f"{low:.3g}", fill=(0, 0, 0))
    for index, (_, values) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        keep = np.isfinite(values)
        xs = left + (np.asarray(steps)[keep] / max(last_step, 1)) * PANEL_WIDTH
        ys = bottom - (values[keep] - low) / (high - low) * PANEL_HEIGHT
        points = list(zip(xs.tolist(), ys.tolist()))
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points if len(points) < 40 else ():
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
    for index, (name, _) in enumerate(series):  # the legend last, on white, over the lines
        legend = (right - 130, top + 4 + 12 * index)
        draw.rectangle([legend[0] - 2, legend[1], right - 2, legend[1] + 12], fill=(255, 255, 255))
        draw.text(legend, name, fill=COLOURS[index % len(COLOURS)])


def save_progress_png(path, rows):
    """rows: losses.csv rows (dicts of strings). Panels: the losses (moving average over 50
    steps), then one per ``panel`` of LOGGED, with a series per logged column. Written atomically."""
    def column(name, scale=1.0):
        return np.array([float(row[name]) * scale if row.get(name) not in (None, "") else np.nan for row in rows])

    steps = column("step")
    last = float(steps[-1]) if len(steps) else 1.0
    loss_names = [name for name in ("d_real", "d_fake", "g", "mode_seeking") if np.isfinite(column(name)).any()]
    panels = [("losses (moving average of 50 steps)", [(name, moving_average(column(name), 50)) for name in loss_names])]
    for title in dict.fromkeys(logged.panel for logged in LOGGED):
        panels.append((title, [(logged.legend, column(logged.column, logged.scale)) for logged in LOGGED
                               if logged.panel == title and np.isfinite(column(logged.column)).any()]))
    picture = Image.new("RGB", (PANEL_WIDTH + 2 * MARGIN, len(panels) * (PANEL_HEIGHT + 30) + 30), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    for index, (title, series) in enumerate(panels):
        draw_panel(draw, 20 + index * (PANEL_HEIGHT + 30), title, steps, series, last)
    draw.text((MARGIN, picture.height - 14), f"step 0 .. {int(last)}", fill=(0, 0, 0))
    save_png(picture, path)
