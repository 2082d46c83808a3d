"""Tests of tinygan.data: MNIST finding and verification, synthetic digits, canvases.

Real MNIST is conftest's MNIST_DIR ($TINYGAN_DATA, ../shared/data/mnist or the tinygan
cache); tests that need it are skipped when there is none. No test touches the network:
an autouse fixture replaces the downloader and points the cache at tmp_path.
"""

import gzip
import urllib.error
from pathlib import Path

import numpy as np
import pytest

from conftest import MNIST_DIR, MNIST_GZ_NAMES, requires_mnist
from tinygan.data import (CanvasConfig, CanvasDataset, DigitSet, LabelOrderHoldout,
                          MnistError, blank_canvas, canvas_colours, find_mnist, load_digits,
                          load_mnist, read_idx, synthetic_digits)
from tinygan.data import mnist, synthetic
from tinygan.layout import check_boxes, paste_min

DEFAULT_BOXES = [[18, 18, 46, 46], [18, 82, 46, 110], [82, 18, 110, 46], [82, 82, 110, 110]]


@pytest.fixture(autouse=True)
def offline_environment(tmp_path, monkeypatch):
    """No TINYGAN_DATA, a fresh empty cache, and a network that always fails."""
    monkeypatch.delenv("TINYGAN_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("TINYGAN_CACHE", str(tmp_path / "cache"))

    def no_network(url, timeout):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(mnist, "_open_url", no_network)


def serve_from_mnist_dir(url, timeout):
    """A stand-in downloader that serves the test MNIST files."""
    return open(MNIST_DIR / url.rsplit("/", 1)[1], "rb")


def link_mnist(directory, names=MNIST_GZ_NAMES):
    """A folder holding (symlinks to) the test MNIST .gz files in `names`."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).symlink_to(MNIST_DIR / name)
    return directory


def raw_copy(directory, spec, n_bytes=None):
    """Write the uncompressed IDX file of `spec` (first n_bytes only, if given)."""
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(MNIST_DIR / spec.gz_name) as stream:
        content = stream.read()
    path = directory / spec.raw_name
    path.write_bytes(content[:n_bytes])
    return path


# ------------------------------------------------------------------------------ MNIST

@requires_mnist
def test_load_mnist_test_split_shapes_dtypes_and_labels(monkeypatch):
    monkeypatch.setenv("TINYGAN_DATA", str(MNIST_DIR))
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert images.max() == 255 and images[:, 0, 0].max() == 0  # white digit on black
    assert list(labels[:5]) == [7, 2, 1, 0, 4]  # the original order


@requires_mnist
def test_raw_idx_files_read_like_gz(tmp_path):
    raw_dir = tmp_path / "raw"
    for spec in mnist.MNIST_FILES:
        raw_copy(raw_dir, spec)
    assert find_mnist(raw_dir) == raw_dir
    raw_images, raw_labels = load_mnist("test", data_dir=raw_dir)
    gz_images, gz_labels = load_mnist("test", data_dir=MNIST_DIR)
    assert np.array_equal(raw_images, gz_images) and np.array_equal(raw_labels, gz_labels)


@requires_mnist
def test_corrupted_gz_is_caught_by_checksum(tmp_path):
    data_dir = link_mnist(tmp_path / "data", MNIST_GZ_NAMES[:3])
    name = mnist.TEST_LABELS.gz_name
    content = bytearray((MNIST_DIR / name).read_bytes())
    content[len(content) // 2] ^= 0xFF
    (data_dir / name).write_bytes(content)
    with pytest.raises(MnistError) as error:
        find_mnist(data_dir)
    message = str(error.value)
    assert name in message and "checksum" in message
    assert mnist.TEST_LABELS.sha256 in message  # the expected checksum
    assert mnist.sha256_of(data_dir / name) in message  # the actual one


@requires_mnist
def test_truncated_or_mislabelled_raw_files_are_errors(tmp_path):
    path = raw_copy(tmp_path, mnist.TEST_IMAGES, n_bytes=5000)
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte.*truncated"):
        read_idx(path)
    with pytest.raises(MnistError, match="t10k-images-idx3-ubyte"):
        mnist.verify_raw(path, mnist.TEST_IMAGES)
    labels_as_images = tmp_path / "labels"
    labels_as_images.write_bytes(raw_copy(tmp_path, mnist.TEST_LABELS).read_bytes())
    with pytest.raises(MnistError, match="not a valid t10k-images"):
        mnist.verify_raw(labels_as_images, mnist.TEST_IMAGES)


def test_bad_magic_and_short_header_are_errors(tmp_path):
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x00\x00\x08\x02" + b"\x00" * 20)
    with pytest.raises(MnistError, match="bad-magic.*magic"):
        read_idx(bad_magic)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00\x08")
    with pytest.raises(MnistError, match="short.*truncated"):
        read_idx(short)


def test_small_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = b"".join(int(n).to_bytes(4, "big") for n in (0x803, 2, 3, 4))
    path = tmp_path / "tiny-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + images.tobytes()))
    assert np.array_equal(read_idx(path), images)
    path.write_bytes(gzip.compress(header + images.tobytes() + b"\x00"))
    with pytest.raises(MnistError, match="too long"):
        read_idx(path)


@requires_mnist
def test_explicit_folder_lacking_a_file_is_an_error(tmp_path, monkeypatch):
    partial = link_mnist(tmp_path / "partial", MNIST_GZ_NAMES[:3])
    with pytest.raises(MnistError, match=f"lacks {MNIST_GZ_NAMES[3]}"):
        find_mnist(partial)
    monkeypatch.setenv("TINYGAN_DATA", str(partial))
    with pytest.raises(MnistError, match="TINYGAN_DATA"):
        find_mnist()
    with pytest.raises(MnistError, match="does not exist"):
        find_mnist(tmp_path / "nowhere")


@requires_mnist
def test_search_order_flag_then_env_then_cache(tmp_path, monkeypatch):
    flag_dir = link_mnist(tmp_path / "flag")
    env_dir = link_mnist(tmp_path / "env")
    cache_dir = link_mnist(mnist.default_cache_dir())
    assert cache_dir == tmp_path / "cache" / "mnist"
    monkeypatch.setenv("TINYGAN_DATA", str(env_dir))
    assert find_mnist(flag_dir) == flag_dir
    assert find_mnist() == env_dir
    monkeypatch.delenv("TINYGAN_DATA")
    assert find_mnist() == cache_dir
    # An explicit folder is used alone: a bad flag is an error, not a fall-back.
    monkeypatch.setenv("TINYGAN_DATA", str(env_dir))
    with pytest.raises(MnistError):
        find_mnist(tmp_path / "empty-flag")


def test_cache_folder_follows_environment(monkeypatch, tmp_path):
    assert mnist.default_cache_dir() == tmp_path / "cache" / "mnist"
    monkeypatch.delenv("TINYGAN_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist.default_cache_dir() == tmp_path / "xdg" / "tinygan" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnist.default_cache_dir() == Path.home() / ".cache" / "tinygan" / "mnist"


@requires_mnist
def test_download_fills_the_cache_and_rejects_corrupt_mirrors(monkeypatch):
    def corrupt_first_mirror(url, timeout):
        if url.startswith(mnist.MIRRORS[0]):
            return open(__file__, "rb")  # wrong bytes: must fail the checksum
        return serve_from_mnist_dir(url, timeout)

    monkeypatch.setattr(mnist, "_open_url", corrupt_first_mirror)
    cache = find_mnist(log=lambda message: None)
    assert cache == mnist.default_cache_dir()
    assert sorted(p.name for p in cache.iterdir()) == sorted(MNIST_GZ_NAMES)  # no temp files left
    assert all(mnist.sha256_of(cache / s.gz_name) == s.sha256 for s in mnist.MNIST_FILES)


def test_no_files_and_no_network_gives_none_with_one_line():
    messages = []
    assert find_mnist(log=messages.append) is None
    assert "could not download" in messages[-1] and "\n" not in messages[-1]
    assert find_mnist(download=False, log=messages.append) is None
    with pytest.raises(MnistError, match="--data-dir"):
        load_mnist("test", log=lambda message: None)


def test_missing_mnist_falls_back_to_announced_synthetic_digits():
    messages = []
    digits = load_digits("test", log=messages.append, n_synthetic=50)
    assert digits.source == "synthetic" and len(digits) == 50
    announcement = messages[-1]
    assert "SYNTHETIC" in announcement and announcement.count("\n") >= 2
    assert "--data-dir" in announcement and "TINYGAN_DATA" in announcement
    assert str(mnist.default_cache_dir()) in announcement
    with pytest.raises(MnistError, match="not found"):
        load_digits("test", allow_synthetic=False, log=lambda message: None)


def test_bad_explicit_folder_is_not_replaced_by_synthetic_digits(tmp_path):
    with pytest.raises(MnistError):
        load_digits("test", data_dir=tmp_path, log=lambda message: None)


@requires_mnist
def test_load_digits_reads_mnist():
    digits = load_digits("test", data_dir=MNIST_DIR)
    assert digits.source == "mnist" and digits.images.shape == (10000, 28, 28)


# -------------------------------------------------------------------- synthetic digits

def test_synthetic_digits_are_deterministic_balanced_and_mnist_like():
    images, labels = synthetic_digits(200, seed=3)
    again, labels_again = synthetic_digits(200, seed=3)
    other, _ = synthetic_digits(200, seed=4)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert not np.array_equal(images, other)
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.uint8 and np.bincount(labels, minlength=10).tolist() == [20] * 10
    # White on black, ink inside the image, centre of mass near the centre.
    assert images[:, [0, -1]][:, :, [0, -1]].max() == 0
    assert (images.max(axis=(1, 2)) > 200).all()
    mass = images.sum(axis=(1, 2)).astype(float)
    centre_rows = (images.sum(axis=2) @ np.arange(28)) / mass
    assert np.all(np.abs(centre_rows - 13.5) <= 2)


def test_synthetic_digits_with_bitmap_font(monkeypatch):
    from PIL import ImageFont
    monkeypatch.setattr(synthetic, "_font", lambda: (ImageFont.load_default_imagefont(),
                                                     synthetic.BITMAP_FONT_ZOOM))
    images, labels = synthetic_digits(20, seed=0)
    assert (images.max(axis=(1, 2)) > 200).all() and np.bincount(labels).tolist() == [2] * 10


# ---------------------------------------------------------------------------- canvases

@pytest.fixture(scope="module")
def digit_set():
    return DigitSet(*synthetic_digits(300, seed=0), source="synthetic")


def test_default_boxes():
    boxes = CanvasConfig().boxes()
    assert boxes.dtype == np.int64 and boxes.tolist() == DEFAULT_BOXES
    assert CanvasConfig(n_objects=2).boxes().tolist() == DEFAULT_BOXES[:2]


def test_default_boxes_for_a_batch():
    boxes = CanvasConfig(n_objects=3).boxes(5)
    assert boxes.shape == (5, 3, 4) and boxes.dtype == np.int64
    assert all(image_boxes.tolist() == DEFAULT_BOXES[:3] for image_boxes in boxes)
    boxes[0, 0] = 0  # a writable copy: the other images keep their boxes
    assert boxes[1, 0].tolist() == DEFAULT_BOXES[0]
    assert CanvasConfig().boxes(0).shape == (0, 4, 4)


def test_canvas_colours():
    digits = np.array([[[0, 255], [51, 102]]], np.uint8)
    colours = canvas_colours(digits)
    assert colours.dtype == np.float32 and colours.shape == (1, 2, 2)
    np.testing.assert_allclose(colours, [[[1.0, 0.0], [0.8, 0.6]]], rtol=1e-6)


def test_blank_canvas_pixels():
    canvas = blank_canvas(CanvasConfig())
    assert canvas.shape == (128, 128) and canvas.dtype == np.float32
    assert canvas[[0, 0, -1, -1], [0, -1, 0, -1]].tolist() == [1.0] * 4  # white corners
    assert (canvas[63:65, :] == 0).all() and (canvas[:, 63:65] == 0).all()  # black lines
    assert (canvas[[62, 65], :10] == 1).all() and (canvas[:10, [62, 65]] == 1).all()
    assert (canvas == 0).sum() == 2 * 2 * 128 - 4  # nothing else is black
    assert (blank_canvas(CanvasConfig(border=0)) == 1).all()


def test_min_compositing_on_host_keeps_borders():
    background = np.broadcast_to(blank_canvas(CanvasConfig())[..., None], (2, 128, 128, 1))
    digits = np.full((2, 4, 28, 28, 1), 0.5, np.float32)
    digits[1, 0] = 1.0  # an all-white digit changes nothing
    boxes = CanvasConfig().boxes(2)
    boxes[1, 3] = [50, 50, 78, 78]  # straddles both black lines
    check_boxes(boxes, 2, 4, 28, 128)
    canvases, _ = paste_min(background, digits, boxes)
    assert type(canvases) is np.ndarray and canvases.shape == (2, 128, 128, 1) and canvases.dtype == np.float32
    assert (canvases[0, 18:46, 18:46, 0] == 0.5).all()
    assert (canvases[1, 18:46, 18:46, 0] == 1.0).all()
    assert (canvases[1, 63:65, :, 0] == 0).all() and (canvases[1, :, 63:65, 0] == 0).all()
    assert (canvases[1, 50:63, 50:63, 0] == 0.5).all()
    outside = np.ones((128, 128), bool)
    for top, left, bottom, right in boxes[0]:
        outside[top:bottom, left:right] = False
    assert np.array_equal(canvases[0, ..., 0][outside], background[0, ..., 0][outside])


def test_dataset_sample_pixels(digit_set):
    dataset = CanvasDataset(digit_set)
    images, labels, boxes = dataset.sample(8, np.random.default_rng(0), orders="any")
    assert images.shape == (8, 128, 128, 1) and images.dtype == np.float32
    assert labels.shape == (8, 4) and labels.dtype == np.int64
    assert boxes.shape == (8, 4, 4) and boxes.dtype == np.int64
    assert (boxes == np.array(DEFAULT_BOXES)).all()
    assert images.min() >= 0 and images.max() <= 1
    blank = blank_canvas(CanvasConfig())
    for image, image_boxes in zip(images[..., 0], boxes):
        outside = np.ones_like(blank, bool)
        for top, left, bottom, right in image_boxes:
            assert image[top:bottom, left:right].min() < 0.2  # a dark digit is there
            assert image[top, left] == 1.0  # digit corners are background (white)
            outside[top:bottom, left:right] = False
        assert np.array_equal(image[outside], blank[outside])


def test_render_shows_the_requested_digits(digit_set):
    dataset = CanvasDataset(digit_set)
    labels = np.array([[1, 9, 8, 6], [3, 2, 5, 8]])
    images, boxes = dataset.render(labels, np.random.default_rng(0))
    inverted = dataset.inverted_digits
    for image, image_labels, image_boxes in zip(images[..., 0], labels, boxes):
        for label, (top, left, bottom, right) in zip(image_labels, image_boxes):
            crop = image[top:bottom, left:right]
            matches = np.flatnonzero((inverted == crop).all(axis=(1, 2)))
            assert len(matches) and (digit_set.labels[matches] == label).all()


def test_render_checks_the_labels(digit_set):
    dataset = CanvasDataset(digit_set)
    with pytest.raises(ValueError, match=r"CanvasDataset.render: labels: classes must be in 0..9, got 10 \(object 3\)"):
        dataset.render([[1, 9, 8, 10]], np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"CanvasDataset.render: labels: expected shape \(4, 4\), got \(4,\)"):
        dataset.render([1, 9, 8, 6], np.random.default_rng(0))


def test_sampling_is_deterministic(digit_set):
    dataset = CanvasDataset(digit_set, background="textured")
    first = dataset.sample(4, np.random.default_rng(7))
    second = dataset.sample(4, np.random.default_rng(7))
    third = dataset.sample(4, np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not np.array_equal(first[0], third[0])


def test_holdout_seen_and_unseen_orders(digit_set):
    holdout = LabelOrderHoldout.from_fraction(0.5, 4, seed=0)
    dataset = CanvasDataset(digit_set, holdout=holdout)
    rng = np.random.default_rng(0)
    seen = dataset.sample_labels(4000, rng, "seen")
    unseen = dataset.sample_labels(500, rng, "unseen")
    assert not holdout.contains(seen).any()
    assert holdout.contains(unseen).all()
    assert len(np.unique(unseen, axis=0)) > 400  # spread over the held-out orders
    images, labels, _ = dataset.sample(16, rng, orders="unseen")
    assert holdout.contains(labels).all() and images.shape[0] == 16
    with pytest.raises(ValueError, match="holdout"):
        CanvasDataset(digit_set).sample(2, rng, orders="unseen")
    with pytest.raises(ValueError, match="orders must be one of"):
        dataset.sample(2, rng, orders="new")


def test_holdout_construction_and_round_trip(tmp_path):
    holdout = LabelOrderHoldout.from_orders([(1, 9, 8, 6), "3258", [5, 2, 7, 4], "1986"])
    assert len(holdout) == 3 and holdout.n_objects == 4
    assert holdout.contains([[1, 9, 8, 6], [6, 8, 9, 1], [5, 2, 7, 4]]).tolist() == [
        True, False, True]
    np.savez(tmp_path / "holdout.npz", holdout=holdout.to_array())
    restored = LabelOrderHoldout.from_array(np.load(tmp_path / "holdout.npz")["holdout"])
    assert np.array_equal(restored.orders, holdout.orders)
    empty = LabelOrderHoldout.from_array(LabelOrderHoldout.from_orders([], 4).to_array())
    assert len(empty) == 0 and empty.n_objects == 4 and not empty.contains([[1, 2, 3, 4]]).any()


def test_holdout_from_fraction_is_reproducible():
    first = LabelOrderHoldout.from_fraction(0.1, 4, seed=1)
    assert len(first) == 1000
    assert np.array_equal(first.orders, LabelOrderHoldout.from_fraction(0.1, 4, seed=1).orders)
    assert not np.array_equal(first.orders, LabelOrderHoldout.from_fraction(0.1, 4, seed=2).orders)
    assert len(LabelOrderHoldout.from_fraction(0.0, 4, seed=1)) == 0


def test_holdout_validation(digit_set):
    with pytest.raises(ValueError, match="same length"):
        LabelOrderHoldout.from_orders(["123", "1234"])
    with pytest.raises(ValueError, match="4 digits"):
        LabelOrderHoldout.from_orders(["123"], n_objects=4)
    with pytest.raises(ValueError, match="0..9"):
        LabelOrderHoldout([[1, 2, 3, 10]], 4)
    with pytest.raises(ValueError, match="fraction"):
        LabelOrderHoldout.from_fraction(1.0, 4, seed=0)
    with pytest.raises(ValueError, match="shape"):
        LabelOrderHoldout.from_orders(["1234"]).contains([[1, 2, 3]])
    with pytest.raises(ValueError, match="n_objects"):
        CanvasDataset(digit_set, CanvasConfig(n_objects=3),
                      holdout=LabelOrderHoldout.from_orders(["1234"]))


@pytest.mark.parametrize("fields, named", [
    (dict(canvas_size=100), "canvas_size"),
    (dict(padding=10), "canvas_size"),
    (dict(n_objects=5), "n_objects"),
    (dict(n_objects=0), "n_objects"),
    (dict(grid=0), "grid"),
    (dict(border=-1), "border"),
    (dict(canvas_size=4, grid=2, digit_size=2, padding=0, border=2), "border"),
    (dict(digit_size=28.0), "digit_size"),
])
def test_config_validation(fields, named):
    with pytest.raises(ValueError, match=named):
        CanvasConfig(**fields)


def test_other_grid_geometry():
    config = CanvasConfig(canvas_size=60, grid=3, digit_size=10, padding=5, n_objects=9)
    assert config.boxes()[4].tolist() == [25, 25, 35, 35]
    canvas = blank_canvas(config)
    assert (canvas[[19, 20, 39, 40], :] == 0).all() and (canvas[[18, 21, 38, 41], 0] == 1).all()


def test_dataset_rejects_mismatched_digits():
    digits = DigitSet(np.zeros((10, 20, 20), np.uint8), np.arange(10, dtype=np.uint8), "test")
    with pytest.raises(ValueError, match="digit_size"):
        CanvasDataset(digits)
    digits = DigitSet(np.zeros((9, 28, 28), np.uint8), np.arange(9, dtype=np.uint8), "test")
    with pytest.raises(ValueError, match=r"classes \[9\]"):
        CanvasDataset(digits)
