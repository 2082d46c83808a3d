"""The discriminator's paper pathway (``--paper-weight``, issue 25): strided convs whose features
are averaged over the places whose window touches no box, scored with the paper family, and its
classifier of the family (``--family-weight``). Which places see paper alone (against a
pixel-by-pixel count), float64 gradient checks of the discriminator with them (train and eval,
with and without families), that the pathway reads the paper between the boxes only, the
settings, and the training step's classifier loss."""
import numpy as np
import pytest

from conftest import converge_spectral_norms
from tinygan.backend import rng as backend_rng
from tinygan.backend import to_host
from tinygan.data.digits import DigitSet
from tinygan.data.synthetic import synthetic_digits
from tinygan.gradcheck import check_gradients
from tinygan.metrics.ink import box_distances
from tinygan.models import Discriminator, preset
from tinygan.placement.free import FreeBatch, clear_cells
from tinygan.settings import RunSettings
from tinygan.updater import Updater

F64 = np.float64
CANVAS = 32  # a 4 x 4 map of places, each seeing 15 x 15 pixels
LABELS = np.array([[3, 7], [-1, 1], [-1, -1]], np.int64)
BOXES = np.array([[[1, 1, 7, 7], [2, 9, 7, 15]], [[0, 0, 0, 0], [6, 0, 12, 32]], [[0, 0, 0, 0]] * 2], np.int64)


def config_with(families, **values):
    return preset("tiny", canvas_size=CANVAS, layout="random", combine="scores", spectral_norm=True, projection=True,
                  paper_families=families, paper_pathway=True, **values)


def clear_by_pixels(labels, boxes, canvas, cells, stride):
    """clear_cells by its definition: place (i, j) is clear when no pixel of its window (the
    pixels within stride - 1 of (stride i, stride j), on the canvas) lies in a box."""
    inside = box_distances(labels, boxes, canvas, canvas).min(axis=1, initial=1) == 0  # (B, H, W)
    clear = np.zeros((len(labels), cells, cells), bool)
    for i in range(cells):
        for j in range(cells):
            rows = slice(max(stride * i - stride + 1, 0), stride * i + stride)
            cols = slice(max(stride * j - stride + 1, 0), stride * j + stride)
            clear[:, i, j] = ~inside[:, rows, cols].any(axis=(1, 2))
    return clear


def test_clear_cells_are_the_places_whose_window_touches_no_box(rng):
    labels = rng.integers(-1, 10, (40, 4))
    tops, lefts = rng.integers(0, 100, (2, 40, 4))
    boxes = np.stack([tops, lefts, tops + rng.integers(4, 28, (40, 4)), lefts + rng.integers(4, 28, (40, 4))], -1)
    expected = clear_by_pixels(labels, boxes, 128, 16, 8)
    np.testing.assert_array_equal(clear_cells(labels, boxes, 16, 8), expected)
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(clear_cells(LABELS, BOXES, 4, 8), clear_by_pixels(LABELS, BOXES, CANVAS, 4, 8))


def test_paper_weights_average_over_the_clear_places(xp):
    weights, seen = FreeBatch(LABELS, BOXES, CANVAS).paper_weights(4, 8, F64)
    weights, seen = to_host(weights), to_host(seen)
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1.0)
    assert (weights[0] > 0).sum() == clear_cells(LABELS, BOXES, 4, 8)[0].sum() == 10  # the bottom two rows, the right column
    np.testing.assert_allclose(weights[2], 1 / 16)  # no box: every place
    covered = FreeBatch(np.array([[1]]), np.array([[[0, 0, CANVAS, CANVAS]]]), CANVAS).paper_weights(4, 8, F64)
    assert to_host(covered[0]).sum() == 0 and to_host(covered[1])[0] == 0  # a box over everything: nothing seen
    np.testing.assert_array_equal(seen, 1.0)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("families,classifier", [(3, False), (0, False), (3, True)])
def test_discriminator_gradients_with_the_paper_pathway(xp, rng, training, families, classifier):
    discriminator = Discriminator(config_with(families, paper_classifier=classifier), rng, F64).train(training)
    labels, boxes = xp.asarray(LABELS), xp.asarray(BOXES)
    papers = xp.asarray(np.array([2, 0, 1])) if families else None
    image = xp.asarray(rng.random((3, CANVAS, CANVAS, 1)))
    restore_u = converge_spectral_norms(discriminator)

    def forward(x):
        discriminator.set_rng(backend_rng(5))
        restore_u()
        return discriminator.forward(x, labels, boxes, papers)

    parameters = [(name, layer.params[key], layer.grads[key]) for name, layer, key in discriminator.named_parameters()]
    names = [name for name, _, _ in parameters]
    assert any("paper_decision" in name for name in names) and any(name.startswith("D/paper/") for name in names)
    assert any("paper_family" in name for name in names) == bool(families)
    assert any("paper_classes" in name for name in names) == classifier
    assert forward(image)[0].shape == (3, 1 + 2 + 1 + 3 * classifier)
    check_gradients(forward, discriminator.backward, image, parameters, max_elementwise=60, directions=3)


def test_the_paper_score_reads_the_paper_between_the_boxes_only(rng):
    discriminator = Discriminator(config_with(3), rng, F64).eval()
    papers = np.array([2, 0, 1])
    image = rng.random((3, CANVAS, CANVAS, 1))
    score = discriminator.forward(image, LABELS, BOXES, papers)[0][:, -1]
    inside = image.copy()
    inside[0, 1:7, 1:7] = 0.0  # inside the first image's first box
    np.testing.assert_allclose(discriminator.forward(inside, LABELS, BOXES, papers)[0][:, -1], score, atol=1e-12)
    clear = clear_cells(LABELS, BOXES, 4, 8)[0]
    i, j = np.argwhere(clear)[0]
    between = image.copy()
    between[0, 8 * i, 8 * j] += 1.0  # the centre of a clear place
    assert abs(discriminator.forward(between, LABELS, BOXES, papers)[0][0, -1] - score[0]) > 1e-6
    covered = np.array([[[0, 0, CANVAS, CANVAS], [0, 0, 0, 0]]] * 3)
    alone = np.array([[1, -1]] * 3)  # one box over the whole canvas: no paper to score
    np.testing.assert_array_equal(discriminator.forward(image, alone, covered, papers)[0][:, -1], 0.0)
    classifier = Discriminator(config_with(3, paper_classifier=True), rng, F64).eval()
    logits = classifier.forward(image, LABELS, BOXES, papers)[0][:, -3:]
    np.testing.assert_allclose(classifier.forward(inside, LABELS, BOXES, papers)[0][:, -3:], logits, atol=1e-12)
    assert np.abs(classifier.forward(between, LABELS, BOXES, papers)[0][0, -3:] - logits[0]).max() > 1e-6


def test_paper_weight_settings():
    settings = RunSettings(preset="tiny", layout="random", background="textured", paper_weight=0.5)
    assert settings.model_config().paper_pathway and not RunSettings(preset="tiny").model_config().paper_pathway
    for bad in (dict(layout="grid", paper_weight=0.5), dict(layout="random", paper_weight=-1.0)):
        with pytest.raises(ValueError, match="--paper-weight must be >= 0 and, above 0, needs --loss hinge and "
                                             "--layout random"):
            RunSettings(preset="tiny", **bad)
    saved = settings.to_dict()
    del saved["paper_weight"]  # saved before the paper pathway
    assert RunSettings.from_dict(saved).paper_weight == 0.0
    with pytest.raises(ValueError, match="GANConfig: paper_pathway scores the paper between the boxes"):
        preset("tiny", paper_pathway=True)
    assert settings.family_weight == 0 and not settings.model_config().paper_classifier
    classified = RunSettings(preset="tiny", layout="random", background="textured", paper_weight=0.5, family_weight=1)
    assert classified.model_config().paper_classifier
    for bad in (dict(paper_weight=0.0, family_weight=1.0), dict(paper_weight=0.5, family_weight=-1.0),
                dict(paper_weight=0.5, family_weight=1.0, paper_conditioned=False)):
        with pytest.raises(ValueError, match="--family-weight must be >= 0 and, above 0, needs --paper-weight"):
            RunSettings(preset="tiny", layout="random", background="textured", **bad)
    with pytest.raises(ValueError, match="GANConfig: paper_classifier reads the paper pathway's features"):
        config_with(0, paper_classifier=True)


class Recorder:
    """Stands in for the discriminator's backward: keeps the gradients of D's output it is handed."""

    def __init__(self, backward):
        self.backward, self.seen = backward, []

    def __call__(self, dout, cache, need_dx=True):
        self.seen.append(to_host(dout).copy())
        return self.backward(dout, cache, need_dx)


@pytest.mark.parametrize("joint", [True, False])
def test_the_classifier_learns_real_families_and_tells_the_generator_the_named_ones(monkeypatch, joint):
    """D's classifier gets the cross-entropy against the real canvases' families (its logits'
    gradient zero on the fake ones); G's update, the cross-entropy against the families its noise named."""
    settings = RunSettings(preset="tiny", layout="random", background="textured", batch_size=4, paper_weight=0.5,
                           family_weight=2.0, dropout=0.1 * (not joint))
    updater = Updater(settings, DigitSet(*synthetic_digits(60), source="synthetic"), dtype=F64)
    assert updater.config.joint_discriminator_pass == joint
    drawn = updater.draw(0)
    real_papers, fake_papers = drawn[6], drawn[7]
    recorder = Recorder(updater.discriminator.backward)
    monkeypatch.setattr(updater.discriminator, "backward", recorder)
    updater.update(0)
    *d_passes, g_pass = recorder.seen
    families, n = updater.config.paper_families, 4
    d_logits = np.concatenate([d[:, -families:] for d in d_passes])
    g_logits = g_pass[:, -families:]
    np.testing.assert_array_equal(d_logits[n:], 0.0)  # nothing from the fake images
    for dlogits, papers in ((d_logits[:n], real_papers), (g_logits, fake_papers)):
        # the cross-entropy's gradient: (softmax - one-hot) * weight / B, negative at the family only
        assert np.all(np.argmin(dlogits, axis=1) == papers) and np.all(dlogits[np.arange(n), papers] < 0)
        np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-12)
        assert np.all(dlogits[np.arange(n), papers] > -2.0 / n)
