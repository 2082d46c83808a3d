"""Learned alpha compositing (issue 25): the place op of both placements, alpha compositing, the
merge convolutions, the mask-size prior and the whole generator with them (float64 gradient
checks, train and eval), its parts, a training step with them, and their settings."""
import numpy as np
import pytest

from conftest import MNIST_DIR, requires_mnist
from tinygan.backend import to_host
from tinygan.data import load_digits
from tinygan.gradcheck import check_gradients, check_layer
from tinygan.layers import MergeConvs
from tinygan.losses import mask_size_prior
from tinygan.models import GANConfig, Generator, preset
from tinygan.models.compositing import AlphaCompositing
from tinygan.placement import FreePlacement, GridPlacement
from tinygan.settings import RunSettings
from tinygan.updater import Updater

F64 = np.float64
# tiny canvas 16x16, objects 8x8. Grid-sized boxes apart and overlapping; free boxes of any size, image 1
# with one empty slot, image 2 with none present, and two overlapping boxes in image 0
GRID_BOXES = {"apart": [[0, 0, 8, 8], [8, 6, 16, 14]], "overlapping": [[2, 2, 10, 10], [5, 6, 13, 14]]}
FREE_LABELS = [[3, 7], [-1, 1], [-1, -1]]
FREE_BOXES = [[[1, 1, 9, 12], [4, 5, 13, 11]], [[0, 0, 0, 0], [3, 0, 6, 16]], [[0, 0, 0, 0]] * 2]


def grid_case(name, batch=3):
    config = preset("tiny", compositing="alpha")
    labels = np.arange(batch * 2).reshape(batch, 2) % 10
    return config, labels, np.array([GRID_BOXES[name]] * batch, np.int64)


def free_case():
    config = preset("tiny", layout="random", combine="scores", compositing="alpha")
    return config, np.array(FREE_LABELS, np.int64), np.array(FREE_BOXES, np.int64)


CASES = {"grid apart": lambda: grid_case("apart"), "grid overlapping": lambda: grid_case("overlapping"),
         "free with empty slots": free_case}


def batch_of(name):
    config, labels, boxes = CASES[name]()
    return config, labels, boxes, config.placement.batch(config, labels, boxes)


def parameters_of(model):
    return [(name, layer.params[key], layer.grads[key]) for name, layer, key in model.named_parameters()]


# ------------------------------------------------------------ the place op
@pytest.mark.parametrize("name", CASES)
def test_place_gradients(xp, rng, name):
    _, _, _, layout = batch_of(name)
    maps = xp.asarray(rng.standard_normal((layout.count, 8, 8, 3)))
    check_gradients(layout.place, layout.place_backward, maps, [])


@pytest.mark.parametrize("name", ["grid apart", "free with empty slots"])
def test_place_puts_each_map_in_its_box_only(xp, name):
    _, labels, boxes, layout = batch_of(name)
    canvases, _ = layout.place(xp.ones((layout.count, 8, 8, 2)))
    expected = np.zeros((3, 16, 16, 2))
    for image, slot in zip(*np.nonzero(labels >= 0)):
        top, left, bottom, right = boxes[image, slot]
        expected[image, top:bottom, left:right] += 1  # each row of a resampling matrix sums to 1; overlaps add
    np.testing.assert_allclose(to_host(canvases), expected, atol=1e-12)


def test_the_free_placement_places_a_grid_layout_as_the_grid_does(rng):
    config, labels, boxes = grid_case("overlapping")
    maps = rng.standard_normal((labels.size, 8, 8, 3))
    grid, free = (p.batch(config, labels, boxes) for p in (GridPlacement(), FreePlacement()))
    np.testing.assert_allclose(free.place(maps)[0], grid.place(maps)[0], atol=1e-12)  # overlaps add up


# ------------------------------------------------------------ alpha compositing
def random_objects(xp, rng, count):
    """Values f and alphas a in (0.02, 0.98), away from the ceiling."""
    return xp.asarray(0.02 + 0.96 * rng.random((count, 8, 8, 2)))


@pytest.mark.parametrize("ink_ceiling,floor", [(1.0, 0.0), (0.15, 0.0), (0.15, 0.3)])
@pytest.mark.parametrize("name", CASES)
def test_alpha_compositing_gradients(xp, rng, name, ink_ceiling, floor):
    """Image and cover, each with its upstream gradient, through objects and background."""
    _, _, _, layout = batch_of(name)
    compositing = AlphaCompositing(ink_ceiling, floor)
    background, objects = xp.asarray(rng.random((3, 16, 16, 1))), random_objects(xp, rng, layout.count)
    if floor:  # alphas on both sides of the floor, none within a finite difference's step of its kink
        alphas = objects[..., 1:]
        objects[..., 1:] = xp.where(abs(alphas - floor) < 0.02, alphas + 0.05, alphas)
        assert bool((objects[..., 1:] < floor).any()) and bool((objects[..., 1:] > floor).any())

    def forward(background, objects):
        image, cover, cache = compositing.forward(background, objects, layout)
        return xp.concatenate([image, cover], axis=-1), cache

    def backward(dboth, cache):
        return compositing.backward(dboth[..., :1], dboth[..., 1:], cache)

    check_gradients(lambda o: forward(background, o), lambda d, c: backward(d, c)[1], objects, [],
                    max_elementwise=1000)
    check_gradients(lambda b: forward(b, objects), lambda d, c: backward(d, c)[0], background, [],
                    max_elementwise=1000)


def test_an_alpha_floor_leaves_the_paper_exactly_where_alpha_is_below_it(xp, rng):
    """Below the floor the mask is 0: image equals background there, no veil over the box; above
    it the mask is lighter than the pathway's alpha, so less ink darkens the paper."""
    _, _, _, layout = batch_of("grid apart")
    background = xp.asarray(0.5 + 0.5 * rng.random((3, 16, 16, 1)))  # paper, lighter than the ink (<= 0.15)
    objects = random_objects(xp, rng, layout.count)
    alphas = objects[..., 1:].copy()
    objects[..., 1:] = 0.1 * alphas  # every alpha below 0.1
    image, cover, _ = AlphaCompositing(0.15, 0.1).forward(background, objects, layout)
    assert float(abs(cover).max()) == 0 and bool((image == background).all())
    objects[..., 1:] = 0.1 + 0.9 * alphas  # above: the mask rises from 0 to 1
    veiled, _, _ = AlphaCompositing(0.15, 0.1).forward(background, objects, layout)
    plain, _, _ = AlphaCompositing(0.15).forward(background, objects, layout)
    assert bool((veiled >= plain - 1e-12).all()) and float(abs(veiled - background).max()) > 0.1


def test_alpha_compositing_is_over_compositing_where_boxes_do_not_overlap(xp, rng):
    config, labels, boxes, layout = batch_of("grid apart")
    background, objects = rng.random((3, 16, 16, 1)), rng.random((6, 8, 8, 2))
    image, cover, _ = AlphaCompositing().forward(xp.asarray(background), xp.asarray(objects), layout)
    expected, alpha = background.copy(), np.zeros_like(background)
    for index, (top, left, bottom, right) in enumerate(boxes.reshape(-1, 4)):
        f, a = objects[index, ..., :1], objects[index, ..., 1:]
        image_index = index // 2
        expected[image_index, top:bottom, left:right] = f * a + background[image_index, top:bottom, left:right] * (1 - a)
        alpha[image_index, top:bottom, left:right] = a
    np.testing.assert_allclose(to_host(image), expected, atol=1e-12)
    np.testing.assert_allclose(to_host(cover), alpha, atol=1e-12)


def test_an_ink_ceiling_makes_every_object_ink(xp, rng):
    """With the ceiling, an object is its alpha times an ink no lighter than the ceiling: where its
    alpha is 1 the image is at most the ceiling, whatever the value and the paper."""
    _, _, _, layout = batch_of("grid apart")
    background, objects = rng.random((3, 16, 16, 1)), rng.random((6, 8, 8, 2))
    objects[..., 1] = 1 - 1e-9
    image, _, _ = AlphaCompositing(0.15).forward(xp.asarray(background), xp.asarray(objects), layout)
    inside = to_host(layout.place(xp.ones((6, 8, 8, 1)))[0]) > 0
    assert float(to_host(image)[inside].max()) <= 0.15
    np.testing.assert_array_equal(to_host(image)[~inside], background[~inside])  # the paper, untouched
    plain, _, _ = AlphaCompositing().forward(xp.asarray(background), xp.asarray(objects), layout)
    np.testing.assert_allclose(to_host(image)[inside], 0.15 * to_host(plain)[inside], atol=2e-6)


def test_alpha_compositing_of_overlaps_is_order_independent_and_an_image(xp, rng):
    config, labels, boxes = grid_case("overlapping")
    swapped = config.placement.batch(config, labels[:, ::-1], boxes[:, ::-1])
    layout = config.placement.batch(config, labels, boxes)
    background, objects = xp.asarray(rng.random((3, 16, 16, 1))), xp.asarray(rng.random((6, 8, 8, 2)))
    objects_swapped = objects.reshape(3, 2, 8, 8, 2)[:, ::-1].reshape(6, 8, 8, 2)
    image, cover, _ = AlphaCompositing().forward(background, objects, layout)
    image_swapped, cover_swapped, _ = AlphaCompositing().forward(background, objects_swapped, swapped)
    np.testing.assert_allclose(to_host(image_swapped), to_host(image), atol=1e-12)
    np.testing.assert_allclose(to_host(cover_swapped), to_host(cover), atol=1e-12)
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    # where both boxes cover a pixel: T = (1 - a0)(1 - a1)
    a = to_host(objects).reshape(3, 2, 8, 8, 2)[..., 1]
    np.testing.assert_allclose(to_host(cover)[:, 5, 6, 0], 1 - (1 - a[:, 0, 3, 4]) * (1 - a[:, 1, 0, 0]), atol=1e-12)


def test_alpha_compositing_leaves_the_background_where_alpha_is_zero_or_no_box(xp, rng):
    _, _, _, layout = batch_of("free with empty slots")
    background = xp.asarray(rng.random((3, 16, 16, 1)))
    objects = xp.concatenate([xp.asarray(rng.random((layout.count, 8, 8, 1))), xp.zeros((layout.count, 8, 8, 1))],
                             axis=-1)
    image, cover, cache = AlphaCompositing().forward(background, objects, layout)
    np.testing.assert_array_equal(to_host(image), to_host(background))
    assert float(abs(cover).max()) == 0
    dbackground, dobjects = AlphaCompositing().backward(xp.ones_like(image), None, cache)
    assert np.isfinite(to_host(dobjects)).all() and np.allclose(to_host(dbackground), 1)


def test_saturated_alphas_stay_finite(xp, rng):
    _, _, _, layout = batch_of("grid overlapping")
    objects = xp.ones((6, 8, 8, 2))  # a = 1 exactly: clipped below the ceiling for the log
    image, cover, cache = AlphaCompositing().forward(xp.asarray(rng.random((3, 16, 16, 1))), objects, layout)
    dbackground, dobjects = AlphaCompositing().backward(xp.ones_like(image), xp.ones_like(cover), cache)
    assert all(np.isfinite(to_host(a)).all() for a in (image, cover, dbackground, dobjects))
    assert float(image.max()) <= 1 + 1e-12


# ------------------------------------------------------------ the merge convolutions
def merge_convs(xp, rng, in_channels=3, depth=2):
    merge = MergeConvs(in_channels, depth, 3, rng, F64, prelu_init=0.2)
    last = merge.convs.layers[-1]
    assert float(abs(last.params["w"]).max()) == 0  # starts as the plain composite
    last.params["w"][...] = xp.asarray(rng.standard_normal(last.params["w"].shape) * 0.3)
    last.params["b"][...] = xp.asarray(rng.standard_normal(1) * 0.3)
    return merge


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_merge_convs_gradients(xp, rng, training, depth):
    merge = merge_convs(xp, rng, depth=depth).train(training)
    x = xp.asarray(0.02 + 0.96 * rng.random((2, 6, 6, 3)))
    check_layer(merge, x, max_elementwise=100, directions=3)


def test_merge_convs_start_as_the_composite(xp, rng):
    merge = MergeConvs(3, 2, 4, rng, F64)
    x = xp.asarray(rng.random((2, 6, 6, 3)))
    np.testing.assert_allclose(to_host(merge.forward(x)[0]), to_host(x[..., :1]), atol=1e-12)


# ------------------------------------------------------------ the mask-size prior
def test_mask_size_prior_gradients(xp, rng):
    """Shares below, inside and above the bounds (0.2, 0.4)."""
    alphas = xp.asarray(np.stack([rng.uniform(low, low + 0.1, (4, 4, 1)) for low in (0.0, 0.25, 0.6)]))
    check_gradients(lambda a: mask_size_prior(a, (0.2, 0.4), 0.7), lambda d, dalphas: d * dalphas, alphas, [])


def test_mask_size_prior_values(xp):
    alphas = xp.asarray(np.stack([np.full((4, 4, 1), share) for share in (0.1, 0.3, 0.9)]))
    loss, dalphas = mask_size_prior(alphas, (0.2, 0.4), 2.0)
    np.testing.assert_allclose(float(loss), 2.0 * (0.1 + 0 + 0.5) / 3)
    np.testing.assert_allclose(to_host(dalphas)[:, 0, 0, 0], np.array([-1, 0, 1]) * 2.0 / 3 / 16)
    loss, dalphas = mask_size_prior(xp.zeros((0, 4, 4, 1)), (0.2, 0.4), 2.0)  # no object in the batch
    assert float(loss) == 0 and dalphas.shape == (0, 4, 4, 1)


def test_the_prior_bounds_hold_real_digits():
    """Each placement's bounds around the ink of MNIST-like digits: its own numbers, ordered."""
    for placement in (GridPlacement(), FreePlacement()):
        low, high = placement.ink_share
        assert 0 < low < high < 1
    assert GridPlacement().ink_share[1] < FreePlacement().ink_share[1]  # a tight box holds more ink


# ------------------------------------------------------------ the generator
def settle_statistics(model, xp, rng):
    for _, layer in model.walk():  # non-trivial running statistics, class-dependent scales
        if hasattr(layer, "running_var"):
            layer.running_mean[...] = xp.asarray(rng.standard_normal(layer.running_mean.shape) * 0.1)
            layer.running_var[...] = xp.asarray(0.5 + rng.random(layer.running_var.shape))
        if "gamma" in layer.params and layer.params["gamma"].ndim == 2:
            layer.params["gamma"][...] = xp.asarray(0.5 + rng.random(layer.params["gamma"].shape))
    if model.merge is not None:  # its zero-initialised last conv would hide the earlier ones' gradients
        last = model.merge.convs.layers[-1]
        last.params["w"][...] = xp.asarray(rng.standard_normal(last.params["w"].shape) * 0.3)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name,merge,ink_ceiling,floor", [("grid apart", 0, 1.0, 0.0),
                                                          ("grid overlapping", 2, 1.0, 0.0),
                                                          ("free with empty slots", 2, 1.0, 0.0),
                                                          ("free with empty slots", 0, 0.15, 0.0),
                                                          ("free with empty slots", 0, 0.15, 0.1)])
def test_alpha_generator_gradients(xp, rng, training, name, merge, ink_ceiling, floor):
    """Through the merge, the compositing, both pathways, and a loss on the objects' alphas."""
    config, labels, boxes = CASES[name]()
    config = preset("tiny", **{**config.to_dict(), "merge_convs": merge, "conditional_bn": True,
                               "per_object_noise": True, "noise": "normal", "ink_ceiling": ink_ceiling,
                               "alpha_floor": floor})
    generator = Generator(config, rng, F64).train(training)
    settle_statistics(generator, xp, rng)
    labels, boxes = xp.asarray(labels), xp.asarray(boxes)
    noise = xp.asarray(generator.sample_noise(rng, 3, 2).astype(F64))
    count = int((labels >= 0).sum())

    def forward(z):  # the image and the objects' alphas, flat
        image, cache = generator.forward(z, labels, boxes)
        return xp.concatenate([image.reshape(-1), generator.object_alphas(cache).reshape(-1)]), cache

    def backward(dflat, cache):
        split = 3 * 16 * 16
        return generator.backward(dflat[:split].reshape(3, 16, 16, 1),
                                  cache._replace(dalphas=dflat[split:].reshape(count, 8, 8, 1)))

    check_gradients(forward, backward, noise, parameters_of(generator), max_elementwise=40, directions=2)


def test_draw_gives_the_parts(rng):
    config, labels, boxes = free_case()
    generator = Generator(preset("tiny", **{**config.to_dict(), "merge_convs": 2}), rng)
    images, alphas, papers = generator.draw(labels, boxes, np.random.default_rng(0), batch_size=2, parts=True)
    assert images.shape == alphas.shape == papers.shape == (3, 16, 16, 1)
    np.testing.assert_array_equal(generator.draw(labels, boxes, np.random.default_rng(0), batch_size=2), images)
    assert float(abs(alphas[2]).max()) == 0 and float(alphas[0].max()) > 0  # image 2 holds no object
    plain = Generator(preset("tiny"), rng)
    config, labels, boxes = grid_case("apart")
    images, alphas, papers = plain.draw(labels, boxes, np.random.default_rng(0), parts=True)
    assert alphas is None and papers.shape == images.shape == (3, 16, 16, 1)


def test_min_compositing_builds_the_models_of_before(rng):
    """The defaults: one channel per object, no merge, the same parameters."""
    generator = Generator(preset("tiny"), rng)
    assert "merge" not in generator.children() and generator.local_pathway.layers[-2].out_channels == 1
    alpha = Generator(preset("tiny", compositing="alpha", merge_convs=2), rng)
    assert alpha.local_pathway.layers[-2].out_channels == 2 and "merge" in alpha.children()


def test_configs_saved_before_compositing_load_as_min():
    saved = preset("small").to_dict()
    for name in ("compositing", "merge_convs", "merge_channels", "ink_ceiling", "alpha_floor"):
        del saved[name]
    assert GANConfig.from_dict(saved) == preset("small")
    assert RunSettings(preset="tiny", merge_convs=1).model_config().merge_channels == 3  # the preset's width
    assert RunSettings(preset="tiny", merge_channels=5).model_config().merge_channels == 5


@pytest.mark.parametrize("values,message", [({"compositing": "over"}, "compositing must be one of"),
                                            ({"merge_convs": -1}, "merge_convs must be an integer >= 0"),
                                            ({"merge_channels": 0}, "merge_channels must be a positive integer"),
                                            ({"compositing": "alpha", "ink_ceiling": 0.0}, "ink_ceiling must be in"),
                                            ({"ink_ceiling": 0.15}, "ink_ceiling .* needs compositing='alpha'"),
                                            ({"alpha_floor": 0.1}, "alpha_floor .* needs compositing='alpha'"),
                                            ({"compositing": "alpha", "alpha_floor": 0.5}, "alpha_floor must be in")])
def test_config_checks(values, message):
    with pytest.raises(ValueError, match=message):
        preset("tiny", **values)


@pytest.mark.parametrize("values,message", [({"mask_prior": 0.1}, "--mask-prior .* needs --compositing alpha"),
                                            ({"mask_prior": -1.0, "compositing": "alpha"}, "--mask-prior must be >= 0"),
                                            ({"merge_convs": -2}, "merge_convs must be an integer >= 0"),
                                            ({"ink_ceiling": 0.15}, "--ink-ceiling .* needs --compositing alpha"),
                                            ({"ink_ceiling": 1.5, "compositing": "alpha"},
                                             r"--ink-ceiling must be in \(0, 1\]"),
                                            ({"alpha_floor": 0.1}, "--alpha-floor .* needs --compositing alpha"),
                                            ({"alpha_floor": -0.1, "compositing": "alpha"},
                                             r"--alpha-floor must be in \[0, 0.5\)")])
def test_settings_checks(values, message):
    with pytest.raises(ValueError, match=message):
        RunSettings(preset="tiny", **values)


# ------------------------------------------------------------ training
@requires_mnist
@pytest.mark.parametrize("layout", ["grid", "random"])
def test_a_training_step_with_alpha_merge_and_prior(layout):
    settings = RunSettings(preset="tiny", layout=layout, batch_size=4, compositing="alpha", merge_convs=2,
                           mask_prior=0.1)
    updater = Updater(settings, load_digits("train", data_dir=MNIST_DIR, log=lambda m: None))
    before = to_host(updater.generator.flat[0]).copy()
    losses = updater.update(0)
    assert all(np.isfinite(float(to_host(v))) for v in losses.values())
    after = to_host(updater.generator.flat[0])
    merge_last = updater.generator.merge.convs.layers[-1].params["w"]
    assert not np.array_equal(before, after) and float(abs(merge_last).max()) > 0


@requires_mnist
def test_the_prior_adds_its_loss_and_gradient():
    """The same step with and without the prior: G's loss differs by the prior's value, D's not."""
    digits = load_digits("train", data_dir=MNIST_DIR, log=lambda m: None)
    steps = {}
    for weight in (0.0, 50.0):
        settings = RunSettings(preset="tiny", batch_size=4, compositing="alpha", mask_prior=weight)
        updater = Updater(settings, digits, dtype=F64)
        _, _, _, labels, boxes, noise, *_ = updater.draw(0)
        _, cache = updater.generator.forward_layout(noise, updater.placement.batch(updater.config, labels, boxes))
        alphas = updater.generator.object_alphas(cache)
        steps[weight] = {k: float(to_host(v)) for k, v in updater.update(0).items()}, to_host(updater.generator.flat[0])
    prior = float(to_host(mask_size_prior(alphas, GridPlacement().ink_share, 50.0)[0]))
    assert prior > 0  # untrained alphas are near 0.5, above the grid's bounds
    np.testing.assert_allclose(steps[50.0][0]["g"] - steps[0.0][0]["g"], prior, rtol=1e-9)
    assert steps[50.0][0]["d_real"] == steps[0.0][0]["d_real"]
    assert not np.array_equal(steps[50.0][1], steps[0.0][1])


def test_the_defaults_on_paper_and_on_white():
    """Textured paper: alpha, the mask prior, the ink ceiling and floor, no merge convs, (free layouts) no layout
    map, bilinear upsampling and, for every family with the hinge loss, the families as a condition (in
    the global generator's BatchNorms too) with half the loss on the whole image; white: today's model.
    Settings saved before the ink ceiling keep objects of any grey; those saved before the paper
    families keep nearest upsampling, no families and no paper norms, and those before the floor none."""
    settings = RunSettings(preset="tiny", layout="random", background="textured")
    paper = settings.model_config()
    assert (paper.compositing, paper.merge_convs, paper.ink_ceiling, paper.layout_map) == ("alpha", 0, 0.15, False)
    assert paper.alpha_floor == 0.05 and not paper.global_noise
    assert (paper.global_upsampling, paper.paper_families, settings.global_weight) == ("bilinear", 4, 0.5)
    assert paper.paper_norm and not RunSettings(preset="tiny", layout="random", background="textured",
                                                layout_map=True).model_config().paper_norm
    assert RunSettings(preset="tiny", background="textured").mask_prior == 1.0
    one_family = RunSettings(preset="tiny", layout="random", background="grain")
    assert (one_family.paper_conditioned, one_family.global_weight, one_family.global_upsampling) == (False, 0.2,
                                                                                                     "bilinear")
    paper_recipe = RunSettings(preset="tiny", background="textured", recipe="paper")  # decisions: no paper term
    assert (paper_recipe.paper_conditioned, paper_recipe.global_weight) == (False, 0.0)
    assert RunSettings(preset="tiny", layout="random", background="textured", global_weight=0.3).global_weight == 0.3
    white_settings = RunSettings(preset="tiny", layout="random")
    white = white_settings.model_config()
    assert (white.compositing, white.merge_convs, white.ink_ceiling, white.layout_map) == ("min", 0, 1.0, True)
    assert (white.global_upsampling, white.paper_families, white_settings.global_weight) == ("nearest", 0, 0.2)
    assert white.alpha_floor == 0 and RunSettings(preset="tiny", compositing="alpha").alpha_floor == 0
    assert RunSettings(preset="tiny", background="textured", compositing="min").alpha_floor == 0
    saved = settings.to_dict()
    for name in ("paper_conditioned", "global_upsampling", "paper_norm", "alpha_floor"):
        del saved[name]
    before = RunSettings.from_dict(saved)
    assert (before.paper_conditioned, before.global_upsampling, before.global_weight) == (False, "nearest", 0.5)
    assert before.paper_norm is False and before.alpha_floor == 0
    assert RunSettings(preset="tiny", compositing="alpha").ink_ceiling == 1.0  # alpha on white: any grey
    saved = RunSettings(preset="tiny", background="clouds", merge_convs=2, ink_ceiling=1.0).to_dict()
    del saved["ink_ceiling"]
    old = RunSettings.from_dict(saved)
    assert (old.ink_ceiling, old.merge_convs) == (1.0, 2)
