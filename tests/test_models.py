"""Whole-model gradient checks (tiny preset, float64) through the compositing and the
crops, compositing against plain loops and on host arrays, layout checks and the models'
input errors."""
import numpy as np
import pytest

from conftest import converge_spectral_norms
from tinygan import layout
from tinygan.backend import rng as backend_rng
from tinygan.backend import to_host
from tinygan.gradcheck import check_gradients
from tinygan.models import Discriminator, Generator, preset
from tinygan.layout import check_boxes, check_labels, crop_boxes, crop_boxes_backward, paste_min, paste_min_backward

F64 = np.float64
# tiny canvas 16x16, objects 8x8: two side by side, and (second case) overlapping
BOXES = {"apart": [[0, 0, 8, 8], [8, 6, 16, 14]], "overlapping": [[2, 2, 10, 10], [5, 6, 13, 14]]}


def inputs(xp, rng, config, batch=3, layout="apart"):
    boxes = xp.asarray(np.array([BOXES[layout]] * batch, dtype=np.int64))
    labels = xp.asarray(rng.integers(0, config.n_classes, (batch, config.n_objects)))
    return labels, boxes


def parameters_of(model):
    return [(name, layer.params[key], layer.grads[key]) for name, layer, key in model.named_parameters()]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("per_object_noise,layout,conditional_bn", [(False, "apart", False), (True, "overlapping", False),
                                                                    (True, "apart", True)])
def test_generator_gradients(xp, rng, training, per_object_noise, layout, conditional_bn):
    config = preset("tiny", per_object_noise=per_object_noise, conditional_bn=conditional_bn, noise="normal")
    generator = Generator(config, rng, F64).train(training)
    for _, layer in generator.walk():  # non-trivial running statistics for eval mode
        if hasattr(layer, "running_var"):
            layer.running_mean[...] = xp.asarray(rng.standard_normal(layer.running_mean.shape) * 0.1)
            layer.running_var[...] = xp.asarray(0.5 + rng.random(layer.running_var.shape))
        if "gamma" in layer.params and layer.params["gamma"].ndim == 2:  # class-conditional: classes differ
            layer.params["gamma"][...] = xp.asarray(0.5 + rng.random(layer.params["gamma"].shape))
            layer.params["beta"][...] = xp.asarray(rng.standard_normal(layer.params["beta"].shape) * 0.1)
    labels, boxes = inputs(xp, rng, config, layout=layout)
    noise = xp.asarray(generator.sample_noise(rng, 3).astype(F64))
    check_gradients(lambda z: generator.forward(z, labels, boxes), generator.backward, noise,
                    parameters_of(generator), max_elementwise=60, directions=3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("combine,layout,minibatch_std,recipe", [("decisions", "apart", False, False),
                                                                 ("features", "overlapping", False, False),
                                                                 ("decisions", "overlapping", True, False),
                                                                 ("scores", "apart", False, False),
                                                                 ("scores", "overlapping", False, True)])
def test_discriminator_gradients(xp, rng, training, combine, layout, minibatch_std, recipe):
    """``recipe``: spectral norm and the projection head (u converged, then held fixed)."""
    config = preset("tiny", combine=combine, minibatch_std=minibatch_std, spectral_norm=recipe, projection=recipe)
    discriminator = Discriminator(config, rng, F64).train(training)
    labels, boxes = inputs(xp, rng, config, layout=layout)
    image = xp.asarray(rng.random((3, 16, 16, 1)))
    restore_u = converge_spectral_norms(discriminator)
    assert len(restore_u.saved) == (10 if recipe else 0)  # 6 convs, 2 dense layers, 2 heads

    def forward(x):
        discriminator.set_rng(backend_rng(5))  # the same dropout masks every call
        restore_u()  # and the same power-iteration start
        return discriminator.forward(x, labels, boxes)

    check_gradients(forward, discriminator.backward, image, parameters_of(discriminator),
                    max_elementwise=60, directions=3)


# every image's boxes at the same places (the grid: one slice over the batch per box), or not (a slice per box)
SAME_OR_NOT = [[BOXES["overlapping"]] * 2, [BOXES["overlapping"], [[6, 8, 14, 16], [2, 2, 10, 10]]]]


@pytest.mark.parametrize("boxes", SAME_OR_NOT)
def test_paste_min_and_crop_match_loops(xp, rng, boxes):
    background = rng.random((2, 16, 16, 1))
    objects = rng.random((2, 2, 8, 8, 1))
    boxes = np.array(boxes)
    image, _ = paste_min(xp.asarray(background), xp.asarray(objects), xp.asarray(boxes))
    expected = background.copy()
    for b in range(2):
        for k, (top, left, bottom, right) in enumerate(boxes[b]):
            expected[b, top:bottom, left:right] = np.minimum(expected[b, top:bottom, left:right], objects[b, k])
    np.testing.assert_array_equal(to_host(image), expected)
    crops = crop_boxes(xp.asarray(expected), xp.asarray(boxes), 8)
    for b, k in np.ndindex(2, 2):
        top, left = boxes[b, k, :2]
        np.testing.assert_array_equal(to_host(crops[b, k]), expected[b, top:top + 8, left:left + 8])


@pytest.mark.parametrize("boxes", SAME_OR_NOT)
def test_layout_slices_on_host_equal_gathers(xp, rng, monkeypatch, boxes):
    """Host NumPy arrays take a slice per box whatever the backend; the gathers through index
    arrays (the device's way: on CuPy its arrays, on NumPy the same arrays with slicing off)
    give the same numbers. Plain loops check the numbers themselves: see above."""
    background, objects = rng.random((2, 16, 16, 1)), rng.random((2, 2, 8, 8, 1))
    boxes = np.array(boxes)
    dimage, dcrops = rng.standard_normal((2, 16, 16, 1)), rng.standard_normal((2, 2, 8, 8, 1))
    host = paste_min(background, objects, boxes)
    host_results = [host[0], *paste_min_backward(dimage, host[1]), crop_boxes(host[0], boxes, 8),
                    crop_boxes_backward(dcrops, boxes, dimage.shape)]
    if xp is np:
        monkeypatch.setattr(layout, "_box_corners", lambda array, boxes: None)
    device = paste_min(xp.asarray(background), xp.asarray(objects), xp.asarray(boxes))
    device_results = [device[0], *paste_min_backward(xp.asarray(dimage), device[1]),
                      crop_boxes(device[0], xp.asarray(boxes), 8),
                      crop_boxes_backward(xp.asarray(dcrops), xp.asarray(boxes), dimage.shape)]
    for name, on_host, on_device in zip(["image", "dbackground", "dobjects", "crops", "dimage"],
                                        host_results, device_results):
        assert type(on_host) is np.ndarray, name
        np.testing.assert_array_equal(on_host, to_host(on_device), err_msg=name)


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("labels,message", [
    ([[1, 2], [3, 4]], None),
    ([[1, 2]], r"L: expected shape \(2, 2\), got \(1, 2\)"),
    ([[1.0, 2.0], [3.0, 4.0]], "L: expected integer classes, got dtype float64"),
    ([[1, 2], [3, 10]], r"L: classes must be in 0..9, got 10 \(object 1 of image 1\)"),
    ([[1, -1], [3, 4]], r"L: classes must be in 0..9, got -1 \(object 1 of image 0\)"),
])
def test_check_labels(xp, on_device, labels, message):
    labels = (xp.asarray if on_device else np.asarray)(labels)
    if message is None:
        assert check_labels(labels, 2, 2, 10, "L") is None
    else:
        with pytest.raises(ValueError, match=message):
            check_labels(labels, 2, 2, 10, "L")


@pytest.mark.parametrize("on_device", [False, True])
@pytest.mark.parametrize("boxes,message", [
    (BOXES["apart"], None),
    ([[0, 0, 8, 8]], r"B: expected shape \(1, 2, 4\) as \(top, left, bottom, right\), got \(1, 1, 4\)"),
    ([[0.0, 0, 8, 8], [0, 0, 8, 8]], "B: expected integer pixel coordinates, got dtype float64"),
    ([[0, 0, 8, 8], [1, 1, 10, 9]], r"B: box 1 is 9x8 pixels, not the object size 8x8"),
    ([[9, 9, 17, 17], [0, 0, 8, 8]], r"B: box 0, \(9, 9, 17, 17\), reaches outside the 16x16 canvas"),
    ([[0, 0, 8, 8], [-1, 0, 7, 8]], r"B: box 1, \(-1, 0, 7, 8\), reaches outside the 16x16 canvas"),
])
def test_check_boxes(xp, on_device, boxes, message):
    boxes = (xp.asarray if on_device else np.asarray)([boxes])
    if message is None:
        assert check_boxes(boxes, 1, 2, 8, 16, "B") is None
    else:
        with pytest.raises(ValueError, match=message):
            check_boxes(boxes, 1, 2, 8, 16, "B")


def test_generator_output_is_an_image_with_objects_in_boxes(xp, rng):
    config = preset("tiny")
    generator = Generator(config, rng).eval()
    labels, boxes = inputs(xp, rng, config)
    image, _ = generator.forward(xp.asarray(rng.random((3, config.noise_dim), dtype=np.float32)), labels, boxes)
    assert image.shape == (3, 16, 16, 1) and image.dtype == np.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1


@pytest.mark.parametrize("change,message", [
    (lambda z, l, b: (z[:, :3], l, b), r"G: expected noise of shape \('B', 6\)"),
    (lambda z, l, b: (z, l * 0 + 10, b), r"G: labels: classes must be in 0..9, got 10 \(object 0 of image 0\)"),
    (lambda z, l, b: (z, l[:, :1], b), r"G: labels: expected shape \(3, 2\), got \(3, 1\)"),
    (lambda z, l, b: (z, l, b + 9), r"G: boxes: box 0 of image 0, \(9, 9, 17, 17\), reaches outside the 16x16 canvas"),
    (lambda z, l, b: (z, l, b + [0, 0, 1, 0]), "G: boxes: box 0 of image 0 is 9x8 pixels, not the object size 8x8"),
    (lambda z, l, b: (z, l, b[..., :3]), r"G: boxes: expected shape \(3, 2, 4\)"),
])
def test_generator_bad_inputs(rng, change, message):
    config = preset("tiny")
    labels, boxes = inputs(np, rng, config)
    noise = rng.random((3, config.noise_dim)).astype(np.float32)
    with pytest.raises(ValueError, match=message):
        Generator(config, rng).forward(*change(noise, labels, boxes))


def test_discriminator_bad_image_shape(rng):
    config = preset("tiny")
    labels, boxes = inputs(np, rng, config)
    with pytest.raises(ValueError, match=r"D: expected images of shape \(B, 16, 16, 1\), got \(3, 16, 16\)"):
        Discriminator(config, rng).forward(np.zeros((3, 16, 16), np.float32), labels, boxes)


def test_config_validation():
    with pytest.raises(ValueError, match="combine must be one of"):
        preset("tiny", combine="average")
    with pytest.raises(ValueError, match="canvas_size must be divisible by 4"):
        preset("tiny", canvas_size=18)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset("huge")


def test_discriminator_skips_only_what_is_not_needed(xp, rng):
    config = preset("tiny", combine="scores", spectral_norm=True, projection=True)
    discriminator = Discriminator(config, rng, F64).eval()
    labels, boxes = inputs(xp, rng, config)
    out, cache = discriminator.forward(xp.asarray(rng.random((3, 16, 16, 1))), labels, boxes)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dimage = to_host(discriminator.backward(dout, cache))
    grads = {name: to_host(g).copy() for name, _, g in parameters_of(discriminator)}
    discriminator.zero_grad()
    assert discriminator.backward(dout, cache, need_dx=False) is None
    for name, _, grad in parameters_of(discriminator):
        np.testing.assert_allclose(to_host(grad), grads[name], rtol=1e-12, atol=1e-14, err_msg=name)
    discriminator.zero_grad()
    np.testing.assert_array_equal(to_host(discriminator.freeze().backward(dout, cache)), dimage)
    assert all(float(abs(g).sum()) == 0 for _, _, g in parameters_of(discriminator))


def test_generator_skips_only_what_is_not_needed(xp, rng):
    config = preset("tiny", per_object_noise=True)
    generator = Generator(config, rng, F64).eval()
    labels, boxes = inputs(xp, rng, config)
    noise = xp.asarray(generator.sample_noise(rng, 3).astype(F64))
    image, cache = generator.forward(noise, labels, boxes)
    dimage = xp.asarray(rng.standard_normal(image.shape))
    assert generator.backward(dimage, cache).shape == noise.shape
    grads = {name: to_host(g).copy() for name, _, g in parameters_of(generator)}
    generator.zero_grad()
    assert generator.backward(dimage, cache, need_dx=False) is None
    for name, _, grad in parameters_of(generator):
        np.testing.assert_array_equal(to_host(grad), grads[name], err_msg=name)
