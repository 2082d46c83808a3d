"""Free layouts: the resampler against Pillow, its gradients, compositing and crops of
boxes of any size, the models with any count of objects (gradchecks in float64, train and
eval), layout checks, and the random-layout data."""
import numpy as np
import pytest
from PIL import Image

from conftest import converge_spectral_norms
from tinygan.backend import rng as backend_rng
from tinygan.backend import to_host
from tinygan.data import DigitSet
from tinygan.data.layouts import LayoutDataset, LayoutRules, box_iou, ink_boxes, parse_region, touches
from tinygan.gradcheck import check_gradients
from tinygan.layout import (MIN_SIDE, check_layout, crop_resampled, crop_resampled_backward, layout_map,
                            paste_min_resampled, paste_min_resampled_backward, present_objects)
from tinygan.models import Discriminator, Generator, preset
from tinygan.resample import interval_weights, resample, resample_backward

F64 = np.float64
# tiny canvas 16x16: image 0 has two objects of different sizes and aspects, image 1 one
# (in slot 1), image 2 none; the second case overlaps
LABELS = [[3, 7], [-1, 1], [-1, -1]]
BOXES = {"apart": [[[0, 0, 5, 9], [7, 6, 16, 10]], [[0, 0, 0, 0], [2, 3, 14, 15]], [[0, 0, 0, 0]] * 2],
         "overlapping": [[[1, 1, 9, 12], [4, 5, 13, 11]], [[0, 0, 0, 0], [3, 0, 6, 16]], [[0, 0, 0, 0]] * 2]}


def tiny_free(**overrides):
    return preset("tiny", layout="random", combine="scores", **overrides)


def layout(xp, name="apart"):
    return xp.asarray(np.array(LABELS, np.int64)), xp.asarray(np.array(BOXES[name], np.int64))


def parameters_of(model):
    return [(name, layer.params[key], layer.grads[key]) for name, layer, key in model.named_parameters()]


@pytest.mark.parametrize("out_size,source", [((50, 20), (0, 0, 28, 28)), ((10, 7), (0, 0, 28, 28)),
                                             ((13, 40), (3, 5, 21, 26)), ((3, 2), (0, 1, 27, 28))])
def test_resize_matrices_are_pillows_bilinear_resize(rng, out_size, source):
    """Enlarging, shrinking (anti-aliased) and from a source box, as Pillow computes them."""
    image = rng.random((28, 28)).astype(np.float32)
    (height, width), (top, left, bottom, right) = out_size, source
    pillow = np.asarray(Image.fromarray(image, "F").resize((width, height), Image.BILINEAR,
                                                           box=(left, top, right, bottom)))
    rows = interval_weights(height, 0, height, 28, top, bottom)
    cols = interval_weights(width, 0, width, 28, left, right)
    ours = resample(image[None].astype(F64), rows, cols)[0]
    np.testing.assert_allclose(ours, pillow, atol=1e-6)


def test_resize_matrices_write_only_their_output_interval():
    rows = interval_weights(20, [3, 0], [11, 20], 8, 0, 8)
    assert np.all(rows[0, :3] == 0) and np.all(rows[0, 11:] == 0)
    np.testing.assert_allclose(rows[0, 3:11].sum(axis=1), 1)
    np.testing.assert_allclose(rows[0, 3:11], np.eye(8))  # same size: a copy
    np.testing.assert_allclose(rows[1].sum(axis=1), 1)


def test_resample_gradients(xp, rng):
    rows = xp.asarray(interval_weights(12, [1, 0], [9, 12], 5, 0, 5))
    cols = xp.asarray(interval_weights(7, [2, 0], [5, 7], 5, 0, 5))
    x = xp.asarray(rng.random((2, 5, 5)))
    check_gradients(lambda v: (resample(v, rows, cols), None), lambda dy, _: resample_backward(dy, rows, cols), x, [])


@pytest.mark.parametrize("name", ["apart", "overlapping"])
def test_paste_and_crop_gradients(xp, rng, name):
    labels, boxes = (to_host(a) for a in layout(xp, name))
    where = present_objects(labels)
    background = xp.asarray(0.5 + 0.5 * rng.random((3, 16, 16, 1)))
    objects = xp.asarray(rng.random((len(where[0]), 6, 6, 1)))

    def paste(v):
        return paste_min_resampled(background, v, where, boxes[where], 2)

    def paste_background(v):
        return paste_min_resampled(v, objects, where, boxes[where], 2)

    check_gradients(paste, lambda d, c: paste_min_resampled_backward(d, c)[1], objects, [])
    check_gradients(paste_background, lambda d, c: paste_min_resampled_backward(d, c)[0], background, [])
    image = xp.asarray(rng.random((3, 16, 16, 1)))
    check_gradients(lambda v: crop_resampled(v, where, boxes[where], 6), crop_resampled_backward, image, [])


def test_paste_writes_each_object_into_its_box_only(xp, rng):
    labels, boxes = (to_host(a) for a in layout(xp))
    where = present_objects(labels)
    objects = xp.zeros((len(where[0]), 6, 6, 1))  # all ink
    image, _ = paste_min_resampled(xp.ones((3, 16, 16, 1)), objects, where, boxes[where], 2)
    expected = np.ones((3, 16, 16))
    for image_index, slot in zip(*where):
        top, left, bottom, right = boxes[image_index, slot]
        expected[image_index, top:bottom, left:right] = 0
    np.testing.assert_allclose(to_host(image)[..., 0], expected, atol=1e-12)


def test_crops_are_pillows_resize_of_each_box(xp, rng):
    labels, boxes = (to_host(a) for a in layout(xp))
    where = present_objects(labels)
    image = rng.random((3, 16, 16, 1)).astype(np.float32)
    crops, _ = crop_resampled(xp.asarray(image), where, boxes[where], 6)
    for crop, image_index, slot in zip(to_host(crops), *where):
        top, left, bottom, right = boxes[image_index, slot]
        pillow = Image.fromarray(image[image_index, ..., 0], "F").resize((6, 6), Image.BILINEAR,
                                                                         box=(left, top, right, bottom))
        np.testing.assert_allclose(crop[..., 0], np.asarray(pillow), atol=1e-6)


def settle_statistics(model, xp, rng):
    for _, layer in model.walk():  # non-trivial running statistics and class-dependent scales
        if hasattr(layer, "running_var"):
            layer.running_mean[...] = xp.asarray(rng.standard_normal(layer.running_mean.shape) * 0.1)
            layer.running_var[...] = xp.asarray(0.5 + rng.random(layer.running_var.shape))
        if "gamma" in layer.params and layer.params["gamma"].ndim == 2:
            layer.params["gamma"][...] = xp.asarray(0.5 + rng.random(layer.params["gamma"].shape))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("per_object_noise,name,layout_map_on", [(False, "apart", False), (True, "overlapping", True),
                                                                 (True, "apart", False)])
def test_free_generator_gradients(xp, rng, training, per_object_noise, name, layout_map_on):
    config = tiny_free(per_object_noise=per_object_noise, conditional_bn=True, noise="normal",
                       layout_map=layout_map_on)
    generator = Generator(config, rng, F64).train(training)
    settle_statistics(generator, xp, rng)
    labels, boxes = layout(xp, name)
    noise = xp.asarray(generator.sample_noise(rng, 3, n_objects=2).astype(F64))
    check_gradients(lambda z: generator.forward(z, labels, boxes), generator.backward, noise,
                    parameters_of(generator), max_elementwise=60, directions=3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name,layout_map_on,recipe", [("apart", False, False), ("overlapping", True, True)])
def test_free_discriminator_gradients(xp, rng, training, name, layout_map_on, recipe):
    config = tiny_free(layout_map=layout_map_on, spectral_norm=recipe, projection=recipe, minibatch_std=recipe)
    discriminator = Discriminator(config, rng, F64).train(training)
    labels, boxes = layout(xp, name)
    image = xp.asarray(rng.random((3, 16, 16, 1)))
    restore_u = converge_spectral_norms(discriminator)

    def forward(x):
        discriminator.set_rng(backend_rng(5))
        restore_u()
        return discriminator.forward(x, labels, boxes)

    scores, _ = forward(image)
    assert scores.shape == (3, 3) and to_host(scores)[[1, 2, 2], [1, 1, 2]].tolist() == [0, 0, 0]  # empty slots
    check_gradients(forward, discriminator.backward, image, parameters_of(discriminator),
                    max_elementwise=60, directions=3)


def test_free_generator_takes_any_count_and_empty_slots_change_nothing(xp, rng):
    generator = Generator(tiny_free(per_object_noise=True), rng).eval()
    labels, boxes = layout(xp)
    noise = generator.sample_noise(rng, 3, n_objects=2)
    image, _ = generator.forward(xp.asarray(noise), labels, boxes)
    wider = np.concatenate([noise, rng.random((3, 3, noise.shape[2]), dtype=np.float32)], axis=1)
    more_labels = xp.concatenate([labels, xp.full((3, 3), -1)], axis=1)
    more_boxes = xp.concatenate([boxes, xp.asarray(rng.integers(0, 9, (3, 3, 4)))], axis=1)  # ignored: empty
    image_wider, _ = generator.forward(xp.asarray(wider), more_labels, more_boxes)
    np.testing.assert_allclose(to_host(image_wider), to_host(image), atol=1e-6)


def test_free_generator_takes_host_noise_and_layouts_on_any_backend(xp, rng):
    """forward as other tools call it: sample_noise's host noise, host labels and boxes."""
    generator = Generator(tiny_free(per_object_noise=True), rng).eval()
    labels, boxes = layout(xp)
    noise = generator.sample_noise(rng, 3, n_objects=2)
    on_device, _ = generator.forward(xp.asarray(noise), labels, boxes)
    from_host, _ = generator.forward(noise, to_host(labels), to_host(boxes))
    np.testing.assert_array_equal(to_host(from_host), to_host(on_device))


@pytest.mark.parametrize("labels,boxes,message", [
    ([[1, 10]], [[[0, 0, 4, 4], [4, 4, 8, 8]]], "classes must be in 0..9 (or -1 for no object), got 10 (object 1)"),
    ([[1, 2]], [[[0, 0, 4, 4], [4, 4, 4, 8]]], "box 1, (4, 4, 4, 8) = 0x4 pixels, is empty"),
    ([[1, 2]], [[[0, 0, 4, 4], [10, 4, 17, 8]]], "reaches outside the 16x16 canvas"),
    ([[1, 2]], [[[0, 0, 1, 4], [4, 4, 8, 8]]], f"has a side outside the {MIN_SIDE} to 16 pixels"),
    ([[1, 2]], [[[0, 0, 4, 4]]], "boxes: expected shape (1, 2, 4)"),
])
def test_check_layout_names_the_problem(labels, boxes, message):
    with pytest.raises(ValueError) as err:
        check_layout(np.array(labels), np.array(boxes), 10, 16, (MIN_SIDE, 16), "G")
    assert message in str(err.value)


def test_check_layout_ignores_empty_slots():
    labels, boxes = check_layout(np.array([[-1, 2]]), np.array([[[-5, 0, 99, 0], [0, 0, 3, 3]]]), 10, 16, (2, 16))
    assert labels.tolist() == [[-1, 2]]


def test_layout_map_marks_each_box_in_its_class_channel():
    labels, boxes = np.array([[3, -1, 3]]), np.array([[[0, 0, 4, 8], [0, 0, 16, 16], [8, 8, 16, 12]]])
    plane = layout_map(labels, boxes, 10, 16)
    assert plane.shape == (1, 16, 16, 10) and plane[..., [0, 1, 2, 4, 5, 6, 7, 8, 9]].sum() == 0
    assert plane[0, :4, :8, 3].min() == 1 and plane[..., 3].sum() == 32 + 32
    small = layout_map(labels, boxes, 10, 16, 4)  # block averages: the share of each block inside a box
    np.testing.assert_allclose(small[0, 0, :, 3], [1, 1, 0, 0])
    np.testing.assert_allclose(small[0, 2:, 2, 3], [1, 1])


def digit_set(rng, n=200):
    images = np.zeros((n, 28, 28), np.uint8)
    for index in range(n):  # an ink rectangle of random shape
        top, left = rng.integers(2, 8, 2)
        images[index, top:top + rng.integers(10, 18), left:left + rng.integers(3, 16)] = 255
    return DigitSet(images=images, labels=np.arange(n) % 10, source="synthetic")


def test_ink_boxes(rng):
    images = np.zeros((2, 28, 28), np.uint8)
    images[0, 4:20, 9:15] = 200
    images[0, 3, 9] = 30  # too faint to count
    assert ink_boxes(images).tolist() == [[4, 9, 20, 15], [0, 0, 28, 28]]


def test_random_layouts_keep_their_rules(rng):
    digits = digit_set(rng)
    rules = LayoutRules(counts=(1, 6), heights=(16, 64), avoid=(80, 80, 128, 128))
    dataset = LayoutDataset(digits, rules)
    images, labels, boxes = dataset.sample(64, rng)
    assert images.shape == (64, 128, 128, 1) and labels.shape == (64, 6) and boxes.shape == (64, 6, 4)
    counts = (labels >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() == 6
    for image in range(64):
        present = boxes[image][labels[image] >= 0]
        heights = present[:, 2] - present[:, 0]
        assert heights.max() <= 64 and np.all(present[:, :2] >= 0) and np.all(present[:, 2:] <= 128)
        assert not any(touches(box, rules.avoid) for box in present)
        iou = box_iou(present[:, None], present[None])
        assert np.all(iou[~np.eye(len(present), dtype=bool)] == 0)
        ink = images[image, ..., 0] < 0.5  # the real digit fills its box: ink only inside boxes
        inside = np.zeros((128, 128), bool)
        for top, left, bottom, right in present:
            inside[top:bottom, left:right] = True
            assert ink[top:bottom, left:right].mean() > 0.5  # rectangles of ink fill their boxes
        assert not ink[~inside].any()


def test_overlapping_pairs_and_a_region(rng):
    digits = digit_set(rng)
    pairs = LayoutDataset(digits, LayoutRules(counts=(2, 2), heights=(20, 40), pairs=(0.2, 0.4)))
    labels, boxes = pairs.sample_layout(50, rng)
    both = (labels >= 0).all(axis=1)
    assert both.mean() > 0.8
    iou = box_iou(boxes[both, 0], boxes[both, 1])
    assert iou.min() >= 0.2 and iou.max() <= 0.4
    region = (80, 80, 128, 128)
    inside = LayoutDataset(digits, LayoutRules(counts=(1, 2), heights=(16, 40), inside=region))
    labels, boxes = inside.sample_layout(50, rng)
    present = boxes[labels >= 0]
    assert len(present) >= 50 and np.all(present[:, :2] >= 80) and np.all(present[:, 2:] <= 128)


def test_parse_region():
    assert parse_region("80,80,128,128", 128) == (80, 80, 128, 128) and parse_region("none", 128) is None
    with pytest.raises(ValueError, match="--holdout-region: expected four integers"):
        parse_region("1,2,3", 128)
    with pytest.raises(ValueError, match="not a non-empty region"):
        parse_region("10,10,5,20", 128)


def test_a_batch_without_objects_is_all_background(xp, rng):
    """No object anywhere: the local pathways do not run (BatchNorm needs a sample); the
    gradients are still exact."""
    config = tiny_free(per_object_noise=True, layout_map=True)
    generator, discriminator = Generator(config, rng, F64), Discriminator(config, rng, F64)
    labels, boxes = xp.full((2, 3), -1), xp.zeros((2, 3, 4), dtype=xp.int64)
    noise = xp.asarray(generator.sample_noise(rng, 2, 3).astype(F64))
    image, _ = generator.forward(noise, labels, boxes)
    background, _ = generator.global_pathway.forward(noise[:, 0], xp.zeros((2, 4, 4, 10)))
    np.testing.assert_allclose(to_host(image), to_host(background))
    check_gradients(lambda z: generator.forward(z, labels, boxes), generator.backward, noise,
                    parameters_of(generator), max_elementwise=60, directions=3)

    def judge(x):
        discriminator.set_rng(backend_rng(5))  # the same dropout masks every call
        return discriminator.forward(x, labels, boxes)

    scores, _ = judge(image)
    assert to_host(scores)[:, 1:].tolist() == [[0, 0, 0]] * 2
    check_gradients(judge, discriminator.backward, image, parameters_of(discriminator), max_elementwise=60,
                    directions=3)
