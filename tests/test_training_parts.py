"""Losses (gradient checks, stability, known values), the optimiser, backend choice and
saving/loading parameters."""
import numpy as np
import pytest

from reference import loss_as_layer
from tinygan import backend
from tinygan.backend import to_host
from tinygan.gradcheck import check_gradients
from tinygan.layers import BatchNorm, Conv2D, Dense, Layer, Sequential
from tinygan.losses import softmax_cross_entropy
from tinygan.optim import Adam
from tinygan.serialize import load_model_state, load_npz, model_state, save_npz_atomic


def test_loss_gradients(xp, rng):
    logits = xp.asarray(rng.standard_normal((5, 3)) * 3)
    targets = xp.asarray(rng.random((5, 3)))  # soft, not normalised: like the paper's noisy targets
    forward, backward = loss_as_layer(lambda x: softmax_cross_entropy(x, targets))
    check_gradients(forward, backward, logits, [])


def test_losses_known_values(xp):
    logits = xp.asarray([[0.0, np.log(3.0)]])
    loss, _ = softmax_cross_entropy(logits, xp.asarray([[0.0, 1.0]]))
    assert float(loss) == pytest.approx(-np.log(0.75))


def test_losses_are_stable_for_huge_logits(xp):
    logits = xp.asarray([[1e4, -1e4], [-1e4, 1e4]], dtype=np.float32)
    targets = xp.asarray([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    loss, dlogits = softmax_cross_entropy(logits, targets)
    assert np.isfinite(float(loss)) and float(loss) > 1e3
    assert np.all(np.isfinite(to_host(dlogits)))


def test_loss_shape_mismatch_is_named():
    with pytest.raises(ValueError, match=r"softmax_cross_entropy: logits shape \(2, 3\) and targets shape \(2, 2\)"):
        softmax_cross_entropy(np.zeros((2, 3)), np.zeros((2, 2)))


def test_adam_matches_formula(xp, rng):
    layer = Dense(3, 2, rng=rng, dtype=np.float64)
    w0 = to_host(layer.params["w"]).copy()
    grads = [rng.standard_normal((3, 2)) for _ in range(3)]
    opt = Adam(layer, lr=0.01, beta1=0.8, beta2=0.9, eps=1e-8)
    m = v = 0
    w = w0.copy()
    for t, g in enumerate(grads, start=1):
        layer.grads["w"][...] = xp.asarray(g)
        opt.step()
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        m_hat, v_hat = m / (1 - 0.8 ** t), v / (1 - 0.9 ** t)
        w = w - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8 / np.sqrt(1 - 0.9 ** t))
    np.testing.assert_allclose(to_host(layer.params["w"]), w, rtol=1e-10)


def test_adam_kernel_matches_the_formula(xp, rng):
    """kernels.adam (one CUDA kernel on CuPy, its NumPy twin here) against Adam's formula in float64."""
    from tinygan.fast import kernels
    param, grad, m, v = (rng.standard_normal((50, 7)) for _ in range(4))
    v = abs(v)  # v >= 0
    arrays = [xp.array(a, copy=True) for a in (param, grad, m, v)]
    kernels.adam(*arrays, 0.5, 0.99, 1e-3, 1e-7)
    m_new = 0.5 * m + 0.5 * grad
    v_new = 0.99 * v + 0.01 * grad * grad
    expected = (param - 1e-3 * m_new / (np.sqrt(v_new) + 1e-7), grad, m_new, v_new)
    for name, got, want in zip(("param", "grad", "m", "v"), arrays, expected):
        np.testing.assert_allclose(to_host(got), want, rtol=1e-12, atol=1e-15, err_msg=name)


def test_adam_rejects_bad_arguments(rng):
    layer = Dense(3, 2, rng=rng)
    with pytest.raises(ValueError, match="Adam: learning rate must be positive, got 0"):
        Adam(layer, lr=0)

    class Twice(Layer):  # two children of one name: their parameters' names clash
        def children(self):
            return {"a": layer, "b": layer}

    with pytest.raises(ValueError, match="Adam: duplicate parameter names"):
        Adam(Twice("twice"))


def test_adam_over_a_model_of_several_layers_moves_each_parameter_by_the_formula(xp, rng):
    model = Sequential([Dense(3, 4, rng=np.random.default_rng(0), dtype=np.float64),
                        Dense(4, 2, rng=np.random.default_rng(1), dtype=np.float64)], name="m")
    opt = Adam(model, lr=0.01)
    assert model.flat[0].size == 3 * 4 + 4 + 4 * 2 + 2
    expected = {name: [to_host(layer.params[key]).copy(), 0, 0] for name, layer, key in model.named_parameters()}
    for t in range(1, 4):
        for name, layer, key in model.named_parameters():
            g = rng.standard_normal(layer.grads[key].shape)
            layer.grads[key][...] = xp.asarray(g)
            w, m, v = expected[name]
            m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
            step = 0.01 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
            expected[name] = [w - step * m / (np.sqrt(v) + 1e-7), m, v]
        opt.step()
    state = opt.state_dict()
    for name, layer, key in model.named_parameters():
        w, m, v = expected[name]
        np.testing.assert_allclose(to_host(layer.params[key]), w, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(state[f"m:{name}"], m, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(state[f"v:{name}"], v, rtol=1e-12, err_msg=name)


def test_optimizer_state_roundtrip(xp, rng, tmp_path):
    def run(steps, state=None):
        layer = Dense(3, 2, rng=np.random.default_rng(0), dtype=np.float64)
        opt = Adam(layer, lr=0.1)
        if state is not None:
            load_model_state(layer, state["model"])
            opt.load_state_dict(state["opt"])
        for g in steps:
            layer.grads["w"][...] = xp.asarray(g)
            layer.grads["b"][...] = 0
            opt.step()
        return layer, opt

    grads = [rng.standard_normal((3, 2)) for _ in range(4)]
    straight, _ = run(grads)
    half, opt = run(grads[:2])
    save_npz_atomic(tmp_path / "s.npz", {**model_state(half), **{f"opt/{k}": v for k, v in opt.state_dict().items()}})
    saved = load_npz(tmp_path / "s.npz")
    state = {"model": saved, "opt": {k[4:]: v for k, v in saved.items() if k.startswith("opt/")}}
    resumed, _ = run(grads[2:], state)
    np.testing.assert_array_equal(to_host(resumed.params["w"]), to_host(straight.params["w"]))


def test_model_state_roundtrip_includes_batchnorm_buffers(xp, rng):
    model = Sequential([Conv2D(1, 2, rng=rng), BatchNorm(2)], name="m")
    model.layers[1].running_mean[...] = 3.0
    state = model_state(model)
    assert set(state) == {"m/Conv2D.w", "m/Conv2D.b", "m/BatchNorm.gamma", "m/BatchNorm.beta",
                          "m/BatchNorm.running_mean", "m/BatchNorm.running_var"}
    other = Sequential([Conv2D(1, 2, rng=np.random.default_rng(9)), BatchNorm(2)], name="m")
    load_model_state(other, state)
    np.testing.assert_array_equal(to_host(other.layers[0].params["w"]), state["m/Conv2D.w"])
    np.testing.assert_array_equal(to_host(other.layers[1].running_mean), 3.0)


def test_mismatched_state_is_a_clear_error(rng):
    model = Sequential([Dense(4, 3, rng=rng)], name="m")
    state = model_state(Sequential([Dense(5, 3, rng=rng)], name="m"))
    with pytest.raises(ValueError, match=r"ckpt.npz: parameter m/Dense.w has shape \(5, 3\), the model expects \(4, 3\)"):
        load_model_state(model, state, source="ckpt.npz")
    del state["m/Dense.b"]
    with pytest.raises(ValueError, match="no entry for parameter m/Dense.b"):
        load_model_state(model, {"m/Dense.w": np.zeros((4, 3))})


def test_atomic_save_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "ckpt.npz"
    save_npz_atomic(path, {"a": np.arange(3)})

    class Exploding:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        save_npz_atomic(path, {"a": np.arange(5), "b": Exploding()})
    np.testing.assert_array_equal(load_npz(path)["a"], np.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]


def test_load_npz_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.npz: no such checkpoint file"):
        load_npz(tmp_path / "missing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz checkpoint"):
        load_npz(tmp_path / "bad.npz")


def test_backend_selection(monkeypatch):
    assert backend.set_backend("numpy") is np
    with pytest.raises(ValueError, match="backend must be"):
        backend.set_backend("torch")
    if backend.cupy_status()[0] is None:
        with pytest.raises(RuntimeError, match="backend 'cupy' was requested but"):
            backend.set_backend("cupy")
    monkeypatch.setenv("TINYGAN_BACKEND", "numpy")
    assert backend.set_backend() is np
    assert isinstance(backend.to_host(backend.to_device([1, 2])), np.ndarray)
