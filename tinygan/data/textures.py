"""Paper backgrounds that cover the whole canvas, and real ink laid over them (issue 25).

The paper's last section: a data set whose background is not plain and lies under the digits
too. Each family below draws light paper, its parameters drawn per image from the rng:

- ``clouds``: multi-scale smoothed noise (the original code's imgaug ``Clouds``, shifted to light
  grey): bilinearly upsampled uniform grids of 4, 8, 16 and 32 cells, each finer grid weighted by
  a per-image persistence.
- ``ruled``: ruled or squared exercise paper: a faintly uneven tone with thin darker lines every
  ``spacing`` pixels (horizontal only, or both ways), at a random offset.
- ``grain``: paper grain: fine noise smoothed along one axis into short fibres, over a tone.
- ``stains``: a soft gradient across the sheet and a few round stains with soft edges.

Every background lies in [BACKGROUND_LOW, 1]; ink is at most INK_HIGH, so ink stays darker than
any paper. Real digits are ink with an alpha from the digit's darkness
(:func:`ink_over`): ``ink * alpha + background * (1 - alpha)``, so the paper shows through the
strokes' soft edges and between them.

Arrays are float32 (n, size, size), 1.0 = white, as everywhere in tinygan.
"""
import numpy as np

FAMILIES = ("clouds", "ruled", "grain", "stains")
BACKGROUNDS = ("white", "textured", *FAMILIES)
BACKGROUND_LOW = 0.55  # the darkest paper of any family
INK_HIGH = 0.15  # the lightest ink


def families_of(background):
    """The families a --background value draws from: () for 'white', all of them for
    'textured', else the one named. A ValueError names the choices for anything else."""
    if background not in BACKGROUNDS:
        raise ValueError(f"--background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    return {"white": (), "textured": FAMILIES}.get(background, (background,))


def draw_backgrounds(families, n, size, rng):
    """n backgrounds, each of a family drawn uniformly from ``families`` (names of FAMILIES).

    Returns backgrounds (n, size, size) float32 in [BACKGROUND_LOW, 1] and the family of each,
    (n,) int64 indices into ``families``."""
    if not families:
        raise ValueError("draw_backgrounds: no family to draw from (the background is white)")
    unknown = [name for name in families if name not in FAMILIES]
    if unknown:
        raise ValueError(f"draw_backgrounds: unknown families {unknown}; known: {', '.join(FAMILIES)}")
    which = rng.integers(len(families), size=n)
    papers = np.empty((n, size, size), np.float32)
    for index, family in enumerate(which):
        papers[index] = _DRAW[families[family]](size, rng)
    return np.clip(papers, BACKGROUND_LOW, 1.0), which.astype(np.int64)


def draw_ink(n, rng):
    """(n,) float32 ink tones in [0, INK_HIGH], one per image."""
    return rng.uniform(0.0, INK_HIGH, size=n).astype(np.float32)


def ink_over(backgrounds, alpha, ink):
    """Ink laid over paper: backgrounds (n, H, W) or (n, H, W, 1), alpha of the same shape in
    [0, 1] (1 = full ink), ink (n,) tones -> ``ink * alpha + backgrounds * (1 - alpha)``."""
    ink = np.asarray(ink, np.float32).reshape((-1,) + (1,) * (np.ndim(backgrounds) - 1))
    return (ink * alpha + backgrounds * (1 - alpha)).astype(np.float32)


def _upsample_bilinear(grid, size):
    """Bilinearly interpolate a (g, g) grid to (size, size), corners to corners."""
    positions = np.linspace(0, grid.shape[0] - 1, size)
    lower = np.minimum(positions.astype(int), grid.shape[0] - 2)
    frac = positions - lower
    rows = grid[lower] * (1 - frac)[:, None] + grid[lower + 1] * frac[:, None]
    return rows[:, lower] * (1 - frac) + rows[:, lower + 1] * frac


def _normalised(values):
    return (values - values.min()) / max(values.max() - values.min(), 1e-12)


def _smooth_noise(size, rng, cells=(4, 8, 16, 32), persistence=0.5):
    """(size, size) in [0, 1]: upsampled uniform grids, the k-th finer one weighted persistence**k."""
    total = np.zeros((size, size))
    for octave, count in enumerate(cells):
        total += persistence ** octave * _upsample_bilinear(rng.uniform(size=(count + 1, count + 1)), size)
    return _normalised(total)


def _clouds(size, rng):
    low = rng.uniform(0.6, 0.8)
    high = rng.uniform(max(low + 0.1, 0.9), 1.0)
    return low + (high - low) * _smooth_noise(size, rng, persistence=rng.uniform(0.35, 0.7))


def _ruled(size, rng):
    tone = rng.uniform(0.85, 1.0) - rng.uniform(0.0, 0.06) * _smooth_noise(size, rng, cells=(2, 4))
    spacing = int(rng.integers(7, 17))
    offset = int(rng.integers(spacing))
    line = rng.uniform(0.12, 0.3)  # how much darker a line is than the paper
    lines = np.zeros((size, size))
    lines[offset::spacing, :] = 1.0
    if rng.random() < 0.5:  # squared paper
        lines[:, int(rng.integers(spacing))::spacing] = 1.0
    return tone - line * lines


def _grain(size, rng):
    tone = rng.uniform(0.78, 0.95)
    fibre = int(rng.integers(3, 9))  # fibre length in pixels
    noise = rng.standard_normal((size + fibre, size))
    fibres = np.cumsum(noise, axis=0)
    fibres = (fibres[fibre:] - fibres[:-fibre]) / np.sqrt(fibre)  # a running mean along one axis
    if rng.random() < 0.5:
        fibres = fibres.T
    return tone + rng.uniform(0.02, 0.06) * fibres + 0.04 * (_smooth_noise(size, rng, cells=(4, 8)) - 0.5)


def _stains(size, rng):
    angle = rng.uniform(0, 2 * np.pi)
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1)
    ramp = rows * np.cos(angle) + cols * np.sin(angle)
    paper = rng.uniform(0.85, 1.0) - rng.uniform(0.05, 0.2) * _normalised(ramp)
    for _ in range(int(rng.integers(1, 5))):
        centre, radius = rng.uniform(0, 1, size=2), rng.uniform(0.08, 0.3)
        distance = np.hypot(rows - centre[0], cols - centre[1]) / radius
        paper -= rng.uniform(0.05, 0.2) * np.exp(-distance ** 4)  # a flat stain with a soft rim
    return paper


_DRAW = {"clouds": _clouds, "ruled": _ruled, "grain": _grain, "stains": _stains}
