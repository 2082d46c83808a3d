"""Image grids as PNG files (Pillow)."""
import os

import numpy as np
from PIL import Image, ImageDraw


def grid_image(images, columns, gap=2, captions=None):
    """Tile images (N, H, W, 1) in [0, 1] row by row into one grayscale PIL image.
    ``captions`` (one string per row) are written in a strip left of each row."""
    images = np.asarray(images)
    n, height, width = images.shape[:3]
    rows = -(-n // columns)
    margin = 0 if captions is None else 8 * max(len(c) for c in captions) + 8
    canvas = np.full((rows * (height + gap) + gap, margin + columns * (width + gap) + gap), 128, np.uint8)
    pixels = (np.clip(images[..., 0], 0, 1) * 255 + 0.5).astype(np.uint8)
    for index in range(n):
        r, c = divmod(index, columns)
        top, left = gap + r * (height + gap), margin + gap + c * (width + gap)
        canvas[top:top + height, left:left + width] = pixels[index]
    picture = Image.fromarray(canvas, mode="L")
    if captions is not None:
        draw = ImageDraw.Draw(picture)
        for r, caption in enumerate(captions):
            draw.text((4, gap + r * (height + gap) + height // 2 - 5), caption, fill=255)
    return picture


def save_png(picture, path):
    """Write a PIL image as PNG atomically (temporary file, then rename), making its folder."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    picture.save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def save_grid_png(path, images, columns, captions=None):
    """Write a grid PNG atomically."""
    save_png(grid_image(images, columns, captions=captions), path)
