"""The recipe's new parts: spectral normalisation, the projection discriminator's class
term, class-conditional BatchNorm and the hinge losses: gradient checks (float64, central
differences, random upstream gradient) in training and eval mode, and known values."""
import numpy as np
import pytest

from conftest import converge_spectral_norms
from reference import loss_as_layer
from tinygan.backend import to_host
from tinygan.gradcheck import check_gradients, check_layer
from tinygan.layers import ClassProjection, ConditionalBatchNorm, Conv2D, Dense, Sequential
from tinygan.losses import generator_hinge_loss, hinge_loss, mode_seeking_loss

F64 = np.float64


def largest_singular_value(w):
    return np.linalg.svd(to_host(w).reshape(-1, w.shape[-1]), compute_uv=False)[0]


@pytest.mark.parametrize("make", [lambda rng: Dense(5, 4, rng=rng, dtype=F64, spectral_norm=True),
                                  lambda rng: Conv2D(2, 3, 3, 2, rng=rng, dtype=F64, spectral_norm=True)])
@pytest.mark.parametrize("training", [True, False])
def test_spectral_norm_gradients(xp, rng, make, training):
    """Eval holds u fixed; training first takes a power-iteration step, through which no
    gradient flows. From a converged u that step leaves u where it is (to first order), so
    the exact derivative and the backward pass agree there too."""
    layer = make(rng).train(training)
    restore_u = converge_spectral_norms(layer)
    shape = (3, 5) if isinstance(layer, Dense) else (2, 5, 6, 2)
    check_layer(layer, xp.asarray(rng.standard_normal(shape)), before_forward=restore_u)


def test_spectral_norm_divides_by_the_largest_singular_value(xp, rng):
    layer = Conv2D(3, 4, 3, rng=rng, dtype=F64, spectral_norm=True)
    x = xp.asarray(rng.standard_normal((2, 5, 5, 3)))
    for _ in range(100):  # each training forward is one power-iteration step
        y, _ = layer.forward(x)
    sigma = largest_singular_value(layer.params["w"])
    plain = Conv2D(3, 4, 3, rng=rng, dtype=F64)
    plain.params["w"][...] = layer.params["w"] / sigma
    plain.params["b"][...] = layer.params["b"]
    np.testing.assert_allclose(to_host(y), to_host(plain.forward(x)[0]), rtol=1e-8, atol=1e-10)
    u_before = to_host(layer.spectral.u).copy()
    layer.eval().forward(x)
    np.testing.assert_array_equal(to_host(layer.spectral.u), u_before)  # eval never moves u
    assert "sn_u" in layer.buffers()


@pytest.mark.parametrize("training", [True, False])
def test_class_projection_gradients(xp, rng, training):
    layer = ClassProjection(4, 6, rng=rng, dtype=F64).train(training)
    labels = xp.asarray(np.array([0, 3, 3, 1, 2]))
    check_gradients(lambda h: layer.forward(h, labels), layer.backward, xp.asarray(rng.standard_normal((5, 6))),
                    [("embed", layer.params["embed"], layer.grads["embed"])])


def test_class_projection_value(xp, rng):
    layer = ClassProjection(3, 2, rng=rng, dtype=F64)
    layer.params["embed"][...] = xp.asarray([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    scores, _ = layer.forward(xp.asarray([[3.0, 4.0], [3.0, 4.0]]), xp.asarray(np.array([1, 2])))
    np.testing.assert_allclose(to_host(scores), [[8.0], [7.0]])


@pytest.mark.parametrize("shape", [(6, 3), (6, 4, 5, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_conditional_batchnorm_gradients(xp, rng, shape, training):
    layer = ConditionalBatchNorm(3, 4, dtype=F64)
    layer.params["gamma"][...] = xp.asarray(1 + rng.random((4, 3)))
    layer.params["beta"][...] = xp.asarray(rng.standard_normal((4, 3)))
    layer.norm.running_mean[...] = xp.asarray(rng.standard_normal(3))
    layer.norm.running_var[...] = xp.asarray(0.5 + rng.random(3))
    labels = xp.asarray(np.array([0, 2, 2, 1, 3, 0]))
    parameters = [(name, owner.params[key], owner.grads[key]) for name, owner, key in layer.named_parameters()]
    layer.train(training)
    check_gradients(lambda x: layer.forward(x, labels), layer.backward,
                    xp.asarray(rng.standard_normal(shape) * 2 + 1), parameters)


def test_conditional_batchnorm_picks_each_class_scale_and_shift(xp, rng):
    layer = ConditionalBatchNorm(2, 3, dtype=F64)
    layer.params["gamma"][...] = xp.asarray([[1.0, 1.0], [2.0, 3.0], [1.0, 1.0]])
    layer.params["beta"][...] = xp.asarray([[0.0, 0.0], [5.0, -5.0], [0.0, 0.0]])
    x = rng.standard_normal((4, 3, 3, 2))
    labels = np.array([0, 1, 2, 1])
    y = to_host(layer.forward(xp.asarray(x), xp.asarray(labels))[0])
    rows = x.reshape(-1, 2)
    x_hat = ((x - rows.mean(0)) / np.sqrt(rows.var(0) + 1e-3))
    np.testing.assert_allclose(y[0], x_hat[0], rtol=1e-12)
    np.testing.assert_allclose(y[1], x_hat[1] * [2.0, 3.0] + [5.0, -5.0], rtol=1e-12)


def test_sequential_hands_labels_to_conditional_layers(xp, rng):
    model = Sequential([Dense(3, 2, rng=rng, dtype=F64), ConditionalBatchNorm(2, 5, dtype=F64)])
    y, cache = model.forward(xp.asarray(rng.standard_normal((4, 3))), xp.asarray(np.array([0, 1, 4, 4])))
    assert y.shape == (4, 2)
    with pytest.raises(ValueError, match=r"ConditionalBatchNorm: expected integer labels of shape \(4,\)"):
        model.forward(xp.asarray(rng.standard_normal((4, 3))))


@pytest.mark.parametrize("loss_fn", [lambda s: hinge_loss(s, real=True), lambda s: hinge_loss(s, real=False),
                                     generator_hinge_loss, lambda s: hinge_loss(s, False, [0.5, 0.2, 0.3]),
                                     lambda s: generator_hinge_loss(s, [0.5, 0.2, 0.3])])
def test_hinge_loss_gradients(xp, rng, loss_fn):
    scores = rng.standard_normal((6, 3)) * 2
    scores[np.abs(np.abs(scores) - 1) < 0.05] += 0.2  # keep the hinge's kink out of the differences
    forward, backward = loss_as_layer(loss_fn)
    check_gradients(forward, backward, xp.asarray(scores), [])


def test_hinge_loss_values(xp):
    scores = xp.asarray([[2.0, 0.5, -3.0]])
    assert float(hinge_loss(scores, real=True)[0]) == pytest.approx((0 + 0.5 + 4) / 3)
    assert float(hinge_loss(scores, real=False)[0]) == pytest.approx((3 + 1.5 + 0) / 3)
    assert float(generator_hinge_loss(scores)[0]) == pytest.approx(0.5 / 3)
    assert float(hinge_loss(scores, real=True, weights=[0.5, 0.25, 0.25])[0]) == pytest.approx(0.5 * 0 + 0.25 * 4.5)


def test_mode_seeking_loss_gradients(xp, rng):
    images = rng.random((4, 3, 3, 1))
    images[2:] = images[:2] + np.sign(rng.standard_normal((2, 3, 3, 1))) * (0.05 + rng.random((2, 3, 3, 1)))
    noise = xp.asarray(rng.standard_normal((4, 5)))
    forward, backward = loss_as_layer(lambda x: mode_seeking_loss(x, noise, 0.7))
    check_gradients(forward, backward, xp.asarray(images), [])


def test_mode_seeking_loss_value(xp):
    images = xp.asarray([[0.0, 0.0], [1.0, 3.0]])  # image gap 2 on average
    noise = xp.asarray([[0.0], [4.0]])  # noise gap 4
    loss, _ = mode_seeking_loss(images, noise, 2.0, eps=0.0)
    assert float(loss) == pytest.approx(2.0 / 0.5)
    with pytest.raises(ValueError, match="even batch"):
        mode_seeking_loss(xp.zeros((3, 2)), xp.zeros((3, 1)), 1.0)
