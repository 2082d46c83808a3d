"""Synthetic MNIST-like digits drawn with Pillow, for when MNIST is not available.

Each digit is the glyph of Pillow's default font, thickened by a random amount, bent by
a random affine map (rotation, anisotropic scale, shear), then normalised as MNIST was:
scaled to fit a 20x20 box keeping its aspect ratio (with anti-aliasing) and placed in a
28x28 image so that its centre of mass sits at the centre, then shifted by at most
`MAX_SHIFT` pixels. White digit on black, uint8, like MNIST.
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DIGIT_SIZE = 28    # output image side, as MNIST
FIT_SIZE = 20      # MNIST fits each digit into a 20x20 box
GLYPH_CANVAS = 96  # side of the large image each glyph is drawn on before shrinking
FONT_SIZE = 48     # font size (in pixels) of the glyphs on that canvas
BITMAP_FONT_ZOOM = 4.0  # enlargement of the small bitmap font, if that is all there is
THICKEN_SIZES = (1, 3, 5)  # MaxFilter sizes: 0, 2 or 4 px thicker at glyph scale
MAX_ROTATION_DEG = 15.0
SCALE_RANGE = (0.85, 1.15)  # per-axis scale before fitting: changes the aspect ratio
MAX_SHEAR = 0.3
MAX_SHIFT = 1


def synthetic_digits(n, seed=0):
    """Render `n` digits with balanced labels, deterministically from `seed`.

    Returns: images uint8 (n, 28, 28), white digit (255) on black (0), and
             labels uint8 (n,), each class 0..9 appearing n // 10 or n // 10 + 1 times.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    thickness = rng.integers(len(THICKEN_SIZES), size=n)
    affines = _random_affines(n, rng)
    shifts = rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=(n, 2))
    glyphs = _glyphs()
    images = np.zeros((n, DIGIT_SIZE, DIGIT_SIZE), np.uint8)
    for i in range(n):
        glyph = glyphs[labels[i]][thickness[i]]
        digit = glyph.transform(glyph.size, Image.AFFINE, affines[i], Image.BILINEAR)
        images[i] = _place_like_mnist(_fit_box(digit), shifts[i])
    return images, labels


def _glyphs():
    """glyphs[digit][k]: 'L' image (GLYPH_CANVAS square), the digit in white, centred,
    thickened with THICKEN_SIZES[k]."""
    font, zoom = _font()
    side = round(GLYPH_CANVAS / zoom)
    glyphs = []
    for digit in range(10):
        canvas = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(canvas)
        left, top, right, bottom = draw.textbbox((0, 0), str(digit), font=font)
        draw.text(((side - left - right) / 2, (side - top - bottom) / 2), str(digit),
                  fill=255, font=font)
        canvas = canvas.resize((GLYPH_CANVAS, GLYPH_CANVAS), Image.BILINEAR)
        glyphs.append([canvas.filter(ImageFilter.MaxFilter(size)) if size > 1 else canvas
                       for size in THICKEN_SIZES])
    return glyphs


def _font():
    """Pillow's default font, and the zoom its drawing needs to reach FONT_SIZE.

    A scalable font (Pillow >= 10.1 with FreeType) is drawn at FONT_SIZE directly;
    the small bitmap font of older Pillows is drawn small and enlarged.
    """
    try:
        return ImageFont.load_default(size=FONT_SIZE), 1.0
    except (TypeError, ImportError):  # old Pillow, or Pillow without FreeType
        return ImageFont.load_default(), BITMAP_FONT_ZOOM


def _random_affines(n, rng):
    """(n, 6) coefficients for PIL's AFFINE transform of a glyph canvas: each rotates,
    shears and scales (per axis) about the canvas centre by random amounts."""
    angle = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, size=n))
    shear = rng.uniform(-MAX_SHEAR, MAX_SHEAR, size=n)
    scale = rng.uniform(*SCALE_RANGE, size=(n, 2))
    cos, sin, zeros, ones = np.cos(angle), np.sin(angle), np.zeros(n), np.ones(n)
    rotations = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    shears = np.stack([np.stack([ones, shear], -1), np.stack([zeros, ones], -1)], -2)
    forward = rotations @ shears @ (scale[:, :, None] * np.eye(2))  # (n, 2, 2)
    # PIL maps each output pixel back into the input, so it needs the inverse map.
    inverse = np.linalg.inv(forward)
    centre = np.full(2, GLYPH_CANVAS / 2)
    translation = centre - inverse @ centre  # keeps the centre fixed
    return np.concatenate([inverse[:, 0], translation[:, :1],
                           inverse[:, 1], translation[:, 1:]], axis=1)


def _fit_box(digit):
    """Crop `digit` to its ink and shrink it to fit FIT_SIZE x FIT_SIZE, keeping its
    aspect ratio. Returns a uint8 array (h, w) with max(h, w) == FIT_SIZE."""
    digit = digit.crop(digit.getbbox())
    zoom = FIT_SIZE / max(digit.size)
    size = (max(1, round(digit.width * zoom)), max(1, round(digit.height * zoom)))
    return np.asarray(digit.resize(size, Image.LANCZOS))


def _place_like_mnist(digit, shift):
    """Place `digit` (h, w) in a DIGIT_SIZE square with its centre of mass at the centre,
    moved by `shift` (rows, cols) and clamped so no ink is cut off. Returns uint8."""
    height, width = digit.shape
    mass = digit.sum()
    centre_row = digit.sum(axis=1) @ np.arange(height) / mass
    centre_col = digit.sum(axis=0) @ np.arange(width) / mass
    # Pixel centres are at index + 0.5, so the image centre is at index DIGIT_SIZE/2 - 0.5.
    top = round(DIGIT_SIZE / 2 - 0.5 - centre_row) + shift[0]
    left = round(DIGIT_SIZE / 2 - 0.5 - centre_col) + shift[1]
    top = min(max(top, 0), DIGIT_SIZE - height)
    left = min(max(left, 0), DIGIT_SIZE - width)
    image = np.zeros((DIGIT_SIZE, DIGIT_SIZE), np.uint8)
    image[top:top + height, left:left + width] = digit
    return image
