"""Paper families as a condition (issue 25): the global generator draws the family its noise
names, the discriminator scores the whole image as paper of the family it is told. Float64
gradient checks of both models with it (train and eval; with the other choices for paper: the
global generator's bilinear upsampling and BatchNorms conditioned on the family, the
discriminator's global pooling and full-resolution stem), the family of the noise, the inputs'
errors, the settings, and a training step that gives the discriminator the real canvases'
families and the generated ones'."""
import numpy as np
import pytest

from conftest import MNIST_DIR, converge_spectral_norms, requires_mnist, run_train
from tinygan import sample
from tinygan.backend import rng as backend_rng
from tinygan.backend import to_host
from tinygan.data import load_digits
from tinygan.gradcheck import check_gradients
from tinygan.layers import ConditionalBatchNorm, PixelNoise, PReLU
from tinygan.layers.waves import PERIODS
from tinygan.models import Discriminator, GANConfig, Generator, preset
from tinygan.models.generator import WavyPathway
from tinygan.settings import RunSettings
from tinygan.updater import Updater

F64 = np.float64
FAMILIES = 3
LABELS = np.array([[3, 7], [-1, 1], [-1, -1]], np.int64)
BOXES = np.array([[[1, 1, 9, 12], [4, 5, 13, 11]], [[0, 0, 0, 0], [3, 0, 6, 16]], [[0, 0, 0, 0]] * 2], np.int64)


def config_with(**values):
    return preset("tiny", layout="random", combine="scores", compositing="alpha", ink_ceiling=0.15,
                  paper_families=FAMILIES, **values)


def parameters_of(model):
    return [(name, layer.params[key], layer.grads[key]) for name, layer, key in model.named_parameters()]


def nearest_kink(model, run):
    """The smallest |input| any PReLU of ``model`` sees while ``run()`` runs: a finite difference
    of step eps crosses a kink where it is below eps."""
    seen, layers = [], [layer for _, layer in model.walk() if isinstance(layer, PReLU)]
    for layer in layers:
        layer.forward = lambda x, plain=layer.forward: (seen.append(float(abs(to_host(x)).min())), plain(x))[1]
    run()
    for layer in layers:
        del layer.forward
    return min(seen)


def fixed_pixel_noise(generator):
    """The generator, its per-pixel noise (config.global_noise) reseeded: the same at every call."""
    generator.set_rng(backend_rng(5))
    return generator


def generator_clear_of_kinks(xp, config, training):
    """A generator of ``config`` with settled running statistics, and noise (3 images, 2 slots)
    naming families 2, 0 and 1, from the first seed whose PReLU inputs all lie 1e-4 or more
    from the kink (100 times the gradient check's step)."""
    for seed in range(100):
        rng = np.random.default_rng(seed)
        generator = Generator(config, rng, F64).train(training)
        for _, layer in generator.walk():  # non-trivial running statistics for eval mode
            if hasattr(layer, "running_var"):
                layer.running_mean[...] = xp.asarray(rng.standard_normal(layer.running_mean.shape) * 0.1)
                layer.running_var[...] = xp.asarray(0.5 + rng.random(layer.running_var.shape))
            if isinstance(layer, PixelNoise):  # weights away from their initial 0, so that the noise counts
                layer.params["weight"][...] = xp.asarray(rng.standard_normal(layer.params["weight"].shape) * 0.5)
            if isinstance(layer, WavyPathway):  # the waves' strengths away from their initial 0
                weights = layer.waves.layers[0].params["w"]
                weights[...] = xp.asarray(rng.standard_normal(weights.shape) * 0.3)
        noise = generator.sample_noise(rng, 3, 2).astype(F64)
        global_rows = noise[:, 0] if config.per_object_noise else noise
        global_rows[:, :FAMILIES] *= 0.1
        global_rows[[0, 1, 2], [2, 0, 1]] += 1  # the three images name families 2, 0 and 1, clearly (no ties)
        noise = xp.asarray(noise)
        if nearest_kink(generator, lambda: fixed_pixel_noise(generator).forward(noise, xp.asarray(LABELS),
                                                                              xp.asarray(BOXES))) > 1e-4:
            return generator, noise
    raise AssertionError("no seed of 100 keeps every PReLU input clear of the kink")


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("per_object_noise,upsampling,paper_norm,pixel_noise",
                         [(False, "nearest", False, False), (True, "bilinear", False, False),
                          (True, "bilinear", True, False), (False, "nearest", False, True),
                          (True, "bilinear", True, True)])
def test_generator_gradients_with_paper_families(xp, training, per_object_noise, upsampling, paper_norm, pixel_noise):
    config = config_with(per_object_noise=per_object_noise, noise="normal", global_upsampling=upsampling,
                         paper_norm=paper_norm, global_noise=pixel_noise, alpha_floor=0.05 * pixel_noise)
    generator, noise = generator_clear_of_kinks(xp, config, training)
    np.testing.assert_array_equal(to_host(generator.papers_of_noise(noise)), [2, 0, 1])
    global_layers = [layer for _, layer in generator.global_pathway.walk()]
    assert paper_norm == any(isinstance(layer, ConditionalBatchNorm) for layer in global_layers)
    assert [layer.params["weight"].shape for layer in global_layers if isinstance(layer, PixelNoise)] == \
        [(FAMILIES if paper_norm else 1, width) for width in config.global_channels[2:] if pixel_noise]
    labels, boxes = xp.asarray(LABELS), xp.asarray(BOXES)
    check_gradients(lambda z: fixed_pixel_noise(generator).forward(z, labels, boxes), generator.backward, noise,
                    parameters_of(generator), max_elementwise=40, directions=2)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("paper_norm", [False, True])
def test_generator_gradients_with_waves(xp, training, paper_norm):
    config = config_with(per_object_noise=True, noise="normal", global_upsampling="bilinear", paper_norm=paper_norm,
                         global_waves=True)
    generator, noise = generator_clear_of_kinks(xp, config, training)
    assert isinstance(generator.global_pathway, WavyPathway)
    fresh = Generator(config, np.random.default_rng(0), F64).global_pathway.waves.layers[0].params["w"]
    assert float(abs(fresh[:, :fresh.shape[1] // 2]).max()) == 0 < float(abs(fresh[:, fresh.shape[1] // 2:]).max())
    assert [layer.params["w"].shape for _, layer in generator.global_pathway.waves.walk() if "w" in layer.params] == \
        [(config.noise_dim + FAMILIES, 4 * len(PERIODS))]
    labels, boxes = xp.asarray(LABELS), xp.asarray(BOXES)
    check_gradients(lambda z: generator.forward(z, labels, boxes), generator.backward, noise,
                    parameters_of(generator), max_elementwise=40, directions=2)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("global_pool,stem", [(False, 0), (True, 0), (False, 2)])
def test_discriminator_gradients_with_paper_families(xp, rng, training, global_pool, stem):
    config = config_with(spectral_norm=True, projection=True, global_pool=global_pool, disc_stem=stem)
    discriminator = Discriminator(config, rng, F64).train(training)
    labels, boxes, papers = xp.asarray(LABELS), xp.asarray(BOXES), xp.asarray(np.array([2, 0, 2]))
    image = xp.asarray(rng.random((3, 16, 16, 1)))
    restore_u = converge_spectral_norms(discriminator)

    def forward(x):
        discriminator.set_rng(backend_rng(5))  # the same dropout masks every call
        restore_u()
        return discriminator.forward(x, labels, boxes, papers)

    parameters = parameters_of(discriminator)
    assert any(name.endswith("paper_projection.embed") for name, _, _ in parameters)
    assert len(discriminator.global_pathway.layers) == len(discriminator.local_convs.layers) + 3 * bool(stem) + 3
    check_gradients(forward, discriminator.backward, image, parameters, max_elementwise=60, directions=3)


def test_the_noise_names_every_family_equally_often_and_the_background_follows_it(rng):
    for noise_kind in ("uniform", "normal"):
        generator = Generator(config_with(noise=noise_kind), rng)
        papers = generator.papers_of_noise(generator.sample_noise(np.random.default_rng(1), 6000, 2))
        shares = np.bincount(papers, minlength=FAMILIES) / len(papers)
        np.testing.assert_allclose(shares, 1 / FAMILIES, atol=0.03)
    noise = generator.sample_noise(np.random.default_rng(2), 3, 2)
    other = noise.copy()
    other[:, :FAMILIES] = noise[:, :FAMILIES][:, ::-1]  # the same values, another family named...
    named = generator.papers_of_noise(noise)
    assert np.all(generator.papers_of_noise(other) == FAMILIES - 1 - named)
    same = noise.copy()
    same[np.arange(3), named] += 0.5  # ... or the same family, more clearly
    with generator.evaluating():
        papers = [to_host(generator.forward(z, LABELS, BOXES)[1].background) for z in (noise, same, other)]
    # the background reads the family and the noise: the other family changes it more than the same one
    assert np.abs(papers[2] - papers[0]).max() > 0 and np.abs(papers[1] - papers[0]).max() > 0
    np.testing.assert_array_equal(generator.papers_of_noise(same), named)


# The tiny preset's models from seed 0 as commit 82c4cdd (before the paper families, pooling and bilinear
# upsampling; the paper norms and the stem came later and draw nothing when off) built them: parameter count,
# sum of |w| and sum of w^2 over every parameter.
MODELS_BEFORE = {Generator: (1280, 268.4478342080729, 126.17276471320285),
                 Discriminator: (521, 112.7143133047939, 37.26991262481936)}


@pytest.mark.parametrize("model", [Generator, Discriminator])
def test_without_paper_families_the_models_are_those_of_before(model):
    """Neither the new heads nor the new layers draw from the seed when they are off."""
    built = model(preset("tiny"), np.random.default_rng(0))
    values = np.concatenate([to_host(w).ravel().astype(F64) for _, w, _ in parameters_of(built)])
    count, absolute, squares = MODELS_BEFORE[model]
    assert values.size == count
    np.testing.assert_allclose([np.abs(values).sum(), (values ** 2).sum()], [absolute, squares], rtol=1e-12)
    assert "paper_projection" not in built.children()


def test_configs_saved_before_the_paper_families_load_without_them():
    saved = preset("small").to_dict()
    for name in ("paper_families", "paper_norm", "global_pool", "disc_stem", "global_upsampling"):  # saved before them
        del saved[name]
    assert GANConfig.from_dict(saved) == preset("small")


@pytest.mark.parametrize("papers", [None, np.array([0, 1]), np.array([0, 1, 3]), np.array([0.0, 1.0, 2.0])])
def test_the_discriminator_needs_each_images_family(rng, papers):
    discriminator = Discriminator(config_with(), rng)
    with pytest.raises(ValueError, match=r"judges paper of 3 families: expected papers of shape \(3,\), each "
                                         r"image's family in 0..2, got"):
        discriminator.forward(np.ones((3, 16, 16, 1), np.float32), LABELS, BOXES, papers)
    with pytest.raises(ValueError, match="papers given, but this discriminator has no paper families"):
        Discriminator(preset("tiny"), rng).forward(np.ones((2, 16, 16, 1), np.float32), np.zeros((2, 2), int),
                                                   np.array([[[0, 0, 8, 8], [8, 8, 16, 16]]] * 2), np.zeros(2, int))


@pytest.mark.parametrize("values,message", [
    ({"paper_families": 7}, r"paper_families must be an integer in \[0, noise_dim=6\]"),
    ({"paper_families": 2}, "paper_families adds a paper term .* needs combine='scores'"),
    ({"paper_norm": True}, "paper_norm conditions .* needs paper_families > 0 and no layout_map"),
    ({"paper_norm": True, "paper_families": 2, "combine": "scores", "layout": "random", "layout_map": True},
     "paper_norm conditions .* no layout_map, got paper_families=2 and layout_map=True")])
def test_config_checks(values, message):
    with pytest.raises(ValueError, match=message):
        preset("tiny", **values)


def test_settings_give_the_model_one_family_per_paper_and_name_the_flag():
    settings = RunSettings(preset="tiny", layout="random", background="textured", paper_conditioned=True)
    assert settings.model_config().paper_families == 4
    assert RunSettings(preset="tiny", layout="random", background="textured",
                       paper_conditioned=False).model_config().paper_families == 0
    for given in ({"background": "clouds"}, {"background": "white"}, {"background": "textured", "recipe": "paper"}):
        with pytest.raises(ValueError, match="--paper-conditioned needs several paper families"):
            RunSettings(preset="tiny", paper_conditioned=True, **given)
    saved = settings.to_dict()
    del saved["paper_conditioned"], saved["paper_norm"]  # settings saved before them
    assert RunSettings.from_dict(saved).paper_conditioned is False
    assert RunSettings.from_dict(saved).paper_norm is False


def test_settings_condition_the_global_norms_on_the_paper_only_with_paper_families():
    assert RunSettings(preset="tiny", layout="random", background="textured",
                       paper_norm=True).model_config().paper_norm is True
    with pytest.raises(ValueError, match="--paper-norm .* needs --paper-conditioned"):
        RunSettings(preset="tiny", layout="random", background="clouds", paper_norm=True)


@requires_mnist
def test_a_training_step_tells_the_discriminator_each_images_family():
    settings = RunSettings(preset="tiny", layout="random", background="textured", paper_conditioned=True,
                           batch_size=6)
    updater = Updater(settings, load_digits("train", data_dir=MNIST_DIR, log=lambda m: None))
    real, labels, boxes, _, _, noise, real_papers, fake_papers, *_ = updater.draw(3)
    canvases, *_ = updater.dataset.sample_canvases(6, np.random.default_rng([settings.seed, 3]))
    np.testing.assert_array_equal(real, canvases.images)
    np.testing.assert_array_equal(real_papers, canvases.families)
    np.testing.assert_array_equal(fake_papers, updater.generator.papers_of_noise(noise))
    before = to_host(updater.discriminator.heads["paper_projection"].params["embed"]).copy()
    losses = updater.update(3)
    assert all(np.isfinite(float(to_host(v))) for v in losses.values())
    assert not np.array_equal(before, to_host(updater.discriminator.heads["paper_projection"].params["embed"]))


def test_naming_a_paper_swaps_two_values_of_each_background_row(rng):
    for per_object_noise in (False, True):
        generator = Generator(config_with(per_object_noise=per_object_noise), rng)
        noise = generator.sample_noise(np.random.default_rng(3), 50, 2)
        for family in range(FAMILIES):
            named = generator.naming_paper(noise, family)
            assert np.all(generator.papers_of_noise(named) == family)
            np.testing.assert_array_equal(np.sort(named, axis=-1), np.sort(noise, axis=-1))
            if per_object_noise:  # the objects' rows are untouched
                np.testing.assert_array_equal(named[:, 1:], noise[:, 1:])


def test_sample_draws_the_paper_named_and_refuses_it_for_a_model_without_families(tmp_path, capsys):
    flags = ["--steps", "1", "--layout", "random", "--max-objects", "2", "--background"]
    assert run_train(tmp_path / "on", *flags, "textured", "--paper-conditioned", "--paper-norm") == 0
    assert run_train(tmp_path / "off", *flags, "textured", "--no-paper-conditioned") == 0
    drawing = ["--labels", "1", "9", "--boxes", "0", "0", "8", "6", "6", "8", "16", "14", "--n", "2"]
    out = tmp_path / "s.png"
    assert sample.main(["--checkpoint", str(tmp_path / "on/checkpoint.npz"), *drawing, "--paper", "grain", "--real",
                        "--out", str(out)]) == 0 and out.exists()
    with pytest.raises(SystemExit) as stop:
        sample.main(["--checkpoint", str(tmp_path / "off/checkpoint.npz"), *drawing, "--paper", "grain"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and "was not trained with --paper-conditioned" in err
