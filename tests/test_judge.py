"""Tests of tinygan.judge: shapes, batching, a short training run, checkpoints, the CLI, the
judge shipped with tinygan.

No test trains the full judge. Real MNIST is conftest's MNIST_DIR ($TINYGAN_DATA,
../shared/data/mnist or the tinygan cache); tests that need it are skipped when there is
none. Every test keeps its cache (and so its judge.npz) in tmp_path.
"""
from pathlib import Path

import numpy as np
import pytest

from conftest import MNIST_DIR, requires_mnist
from tinygan import judge, judge_model
from tinygan.data import canvas_colours, load_mnist
from tinygan.data.digits_on_paper import digits_on_paper, ink_box_only
from tinygan.data.textures import BACKGROUND_LOW, FAMILIES, INK_HIGH
from tinygan.serialize import load_npz, model_state, save_npz_atomic

pytestmark = pytest.mark.usefixtures("offline_data")
REPOSITORY = Path(__file__).resolve().parents[1]


def random_images(n, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def mnist_subsets():
    """(train digits, train labels, test digits, test labels): 2000 and 1000 digits."""
    train_digits, train_labels = load_mnist("train", data_dir=MNIST_DIR, download=False)
    test_digits, test_labels = load_mnist("test", data_dir=MNIST_DIR, download=False)
    return train_digits[:2000], train_labels[:2000], test_digits[:1000], test_labels[:1000]


@pytest.fixture
def small_judge(quick_judge):
    """conftest's judge, trained for one epoch on 3000 MNIST digits."""
    return quick_judge[0]


def test_judge_path_follows_tinygan_cache(tmp_path):
    assert judge_model.judge_path() == tmp_path / "cache" / "judge.npz"


def test_forward_shapes_through_the_architecture():
    model = judge_model.build_judge(seed=0)
    h = random_images(3)
    shapes = {}
    for layer in model.layers:
        h, _ = layer.forward(h)
        shapes[layer.name] = h.shape
    assert shapes["conv1"] == (3, 28, 28, 32)
    assert shapes["conv2"] == (3, 14, 14, 32)
    assert shapes["conv3"] == (3, 14, 14, 64)
    assert shapes["conv4"] == (3, 7, 7, 64)
    assert shapes["flatten"] == (3, 7 * 7 * 64)
    assert shapes[judge_model.FEATURE_LAYER] == (3, 128)
    assert shapes["logits"] == (3, 10)


def test_build_is_deterministic_for_a_seed():
    first, second, other = (model_state(judge_model.build_judge(seed)) for seed in (0, 0, 1))
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first["judge/conv1.w"], other["judge/conv1.w"])


def test_classify_and_features_shapes_and_batching_do_not_change_results():
    model = judge_model.build_judge(seed=0)
    x = random_images(23)
    labels, probabilities = judge_model.classify(model, x, batch_size=500)
    labels_7, probabilities_7 = judge_model.classify(model, x[..., 0], batch_size=7)  # (N, 28, 28) too
    assert labels.shape == (23,) and labels.dtype == np.int64
    assert probabilities.shape == (23, 10) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(labels, probabilities.argmax(axis=1))
    np.testing.assert_array_equal(labels, labels_7)
    np.testing.assert_allclose(probabilities, probabilities_7, rtol=1e-5, atol=1e-7)
    features = judge_model.judge_features(model, x, batch_size=500)
    assert features.shape == (23, 128)
    np.testing.assert_allclose(judge_model.judge_features(model, x, batch_size=7), features, rtol=1e-5, atol=1e-6)


def test_evaluation_runs_in_eval_mode_and_restores_the_mode():
    model = judge_model.build_judge(seed=0)  # training mode: dropout active
    x = random_images(8)
    first = judge_model.judge_logits(model, x)
    assert model.training
    np.testing.assert_array_equal(judge_model.judge_logits(model, x), first)  # no dropout noise


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 28, 28, 1), np.uint8), "floating"),
    (np.zeros((2, 32, 32, 1), np.float32), "shape"),
    (np.zeros((0, 28, 28, 1), np.float32), "no images"),
])
def test_bad_inputs_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        judge_model.classify(judge_model.build_judge(seed=0), bad)


def test_random_shifts_move_digits_and_fill_with_white():
    image = np.ones((1, 28, 28, 1), np.float32)
    image[0, 10:18, 10:18] = 0.0
    shifted = judge_model.random_shifts(np.repeat(image, 50, axis=0), np.random.default_rng(0), max_shift=2)
    assert shifted.shape == (50, 28, 28, 1)
    assert all(np.sum(s == 0.0) == 64 for s in shifted)  # the black square stays whole
    assert np.all(shifted[:, :2, :2] == 1.0) and np.all(shifted[:, -2:, -2:] == 1.0)
    assert len({np.argwhere(s[..., 0] == 0.0)[0].tobytes() for s in shifted}) > 5


@requires_mnist
def test_short_training_run_is_clearly_above_chance(mnist_subsets, small_judge):
    _, _, test_digits, test_labels = mnist_subsets
    assert judge_model.accuracy(small_judge, canvas_colours(test_digits), test_labels) > 0.6


@requires_mnist
def test_training_is_deterministic_for_a_seed(mnist_subsets):
    train_digits, train_labels, _, _ = mnist_subsets

    def weights(seed):
        model = judge_model.fit_judge(judge_model.build_judge(seed), train_digits[:128], train_labels[:128],
                                epochs=1, seed=seed, log=lambda line: None)
        return model_state(model)

    first, second = weights(0), weights(0)
    assert all(np.array_equal(first[k], second[k]) for k in first)


@requires_mnist
def test_save_load_roundtrip_gives_identical_predictions(mnist_subsets, small_judge, tmp_path):
    test_images = canvas_colours(mnist_subsets[2][:200])
    path = tmp_path / "judge.npz"
    judge_model.save_judge(small_judge, path, test_accuracy=0.75, seed=0, epochs=1)
    loaded, info = judge_model.load_judge(path)
    assert not loaded.training
    assert (info.test_accuracy, info.seed, info.epochs, info.arch_version) == (0.75, 0, 1, judge_model.ARCH_VERSION)
    expected_labels, expected_probabilities = judge_model.classify(small_judge, test_images)
    labels, probabilities = judge_model.classify(loaded, test_images)
    np.testing.assert_array_equal(labels, expected_labels)
    np.testing.assert_array_equal(probabilities, expected_probabilities)


def saved_judge(path):
    judge_model.save_judge(judge_model.build_judge(seed=0), path, test_accuracy=0.5, seed=0, epochs=1)
    return load_npz(path)


def test_checkpoint_of_another_architecture_version_is_refused(tmp_path):
    path = tmp_path / "judge.npz"
    state = saved_judge(path)
    state["meta/arch_version"] = np.asarray("judge-0 something else")
    save_npz_atomic(path, state)
    with pytest.raises(ValueError, match="retrain it with: python -m tinygan.judge --train"):
        judge_model.load_judge(path)


def test_checkpoint_with_a_misshapen_tensor_is_refused(tmp_path):
    path = tmp_path / "judge.npz"
    state = saved_judge(path)
    state["judge/dense1.w"] = np.zeros((100, 128), np.float32)
    save_npz_atomic(path, state)
    with pytest.raises(ValueError, match=r"judge/dense1\.w.*retrain it with"):
        judge_model.load_judge(path)


def test_missing_checkpoint_names_the_training_command(tmp_path):
    with pytest.raises(ValueError, match=r"no trained judge at .*missing\.npz; train one with: "
                                         r"python -m tinygan\.judge --train --out .*missing\.npz"):
        judge_model.load_judge(tmp_path / "missing.npz")


def test_the_judge_used_is_the_given_one_else_the_caches_else_the_shipped_one(tmp_path):
    assert judge_model.find_judge() == (judge_model.SHIPPED_JUDGE, "shipped with tinygan")
    saved_judge(judge_model.judge_path())
    assert judge_model.find_judge() == (judge_model.judge_path(), "trained into the cache")
    assert judge_model.find_judge(tmp_path / "mine.npz") == (tmp_path / "mine.npz", "given")
    assert judge_model.load_judge()[1].source == "trained into the cache"


def test_missing_checkpoint_is_trained_when_allowed(monkeypatch):
    def quick_train(data_dir=None, log=print, background="white"):
        return judge_model.build_judge(seed=0).eval(), 0.5, {}

    monkeypatch.setattr(judge_model, "train_judge", quick_train)
    model, info = judge_model.load_judge(train_if_missing=True, log=lambda line: None)
    assert info.test_accuracy == 0.5 and judge_model.judge_path().is_file()
    assert judge_model.load_judge()[1] == info


@pytest.mark.parametrize("argv", [["--bogus"], ["--train", "--epochs", "0"], ["--epochs", "2"],
                                  ["--train", "--seed", "x"]])
def test_cli_rejects_bad_flags(argv):
    with pytest.raises(SystemExit) as exit_info:
        judge.parse_args(argv)
    assert exit_info.value.code == 2


def test_cli_on_a_missing_judge_exits_with_the_training_command(tmp_path):
    with pytest.raises(SystemExit, match="python -m tinygan.judge --train"):
        judge.main(["--path", str(tmp_path / "missing.npz")])


@requires_mnist
def test_cli_reports_stored_and_measured_accuracy(mnist_subsets, small_judge, capsys, tmp_path,
                                                  monkeypatch):
    _, _, test_digits, test_labels = mnist_subsets
    monkeypatch.setattr(judge, "load_mnist", lambda split, data_dir=None: (test_digits, test_labels))
    path = tmp_path / "judge.npz"
    judge_model.save_judge(small_judge, path, test_accuracy=0.75, seed=0, epochs=1)
    judge.main(["--path", str(path)])
    out = capsys.readouterr().out
    assert "stored test accuracy 0.7500" in out
    measured = float(out.split("re-evaluated test accuracy ")[1].split()[0])
    assert measured > 0.6


# ------------------------------------------------------------------------ the shipped judge

def test_the_shipped_judge_is_small_matches_its_checksum_and_the_readme(capsys):
    path = judge_model.SHIPPED_JUDGE
    assert path.is_file() and path.stat().st_size <= 1_000_000  # float16 weights: 0.94 MB
    assert judge_model.file_sha256(path) == judge_model.SHIPPED_SHA256
    model, info = judge_model.load_judge()  # no judge in the cache: the shipped one
    assert (info.path, info.source, info.seed, info.epochs) == (path, "shipped with tinygan", 0, 4)
    readme = (REPOSITORY / "README.md").read_text()
    assert judge_model.SHIPPED_SHA256 in readme and f"{100 * info.test_accuracy:.2f}%" in readme
    assert '"judge_weights.npz"' in (REPOSITORY / "pyproject.toml").read_text()  # in the wheel too
    assert not model.training and 0.98 < info.test_accuracy < 1


@requires_mnist
def test_the_shipped_judge_measures_as_recorded(mnist_subsets, monkeypatch, capsys):
    _, _, test_digits, test_labels = mnist_subsets
    monkeypatch.setattr(judge, "load_mnist", lambda split, data_dir=None: (test_digits, test_labels))
    judge.main([])
    out = capsys.readouterr().out
    assert "(shipped with tinygan)" in out and judge_model.SHIPPED_SHA256 in out
    stored = float(out.split("stored test accuracy ")[1].split()[0])
    measured = float(out.split("re-evaluated test accuracy ")[1].split()[0])
    assert measured > stored - 0.02  # the first 1000 test digits, against all 10000


# ------------------------------------------------------------------- the judge of digits on paper

def test_digits_on_paper_lay_the_ink_over_paper_and_keep_some_white():
    x = np.ones((200, 28, 28, 1), np.float32)
    x[:, 10:18, 12:16] = 0.0  # a black bar: alpha 1 there, 0 around it
    out = digits_on_paper(x, np.random.default_rng(0))
    white = (out == 1.0).all(axis=(1, 2, 3)) | np.all(out == x, axis=(1, 2, 3))
    assert 0.1 < white.mean() < 0.3  # WHITE_SHARE of them left as they were
    papered = out[~white, ..., 0]
    assert papered[:, 10:18, 12:16].max() <= INK_HIGH + 1e-6  # the ink stays ink
    boxed = (papered[:, :10] == 1.0).all(axis=(1, 2))  # paper under the bar's bounding box only
    assert 0.3 < boxed.mean() < 0.7 and (papered[boxed, 10:18, 16:] == 1.0).all()
    assert (papered[~boxed, :10] < 1.0).any(axis=(1, 2)).all()
    assert papered.min() >= 0 and papered[:, :10].min() >= BACKGROUND_LOW - 1e-6


def test_ink_box_only_whitens_outside_the_inks_bounding_box():
    alpha = np.zeros((1, 6, 6), np.float32)
    alpha[0, 1, 2], alpha[0, 4, 3] = 1.0, 0.5  # the bounding box spans rows 1..4, columns 2..3
    out = ink_box_only(np.full((1, 6, 6), 0.7, np.float32), alpha)[0]
    expected = np.ones((6, 6), np.float32)
    expected[1:5, 2:4] = 0.7
    np.testing.assert_array_equal(out, expected)


@requires_mnist
def test_a_small_textured_judge_run_keeps_its_own_file_and_reports_each_family(capsys):
    judge.main(["--train", "--background", "textured", "--limit", "200", "--epochs", "1"])
    path = judge_model.judge_path("textured")
    assert path.name == "judge-textured.npz" and path.is_file() and not judge_model.judge_path().is_file()
    model, info = judge_model.load_judge(background="textured")
    assert info.source == "trained into the cache" and set(info.on_paper) == set(FAMILIES)
    assert judge_model.find_judge()[0] == judge_model.SHIPPED_JUDGE  # the white judge is untouched
    judge.main(["--background", "textured", "--limit", "100"])
    out = capsys.readouterr().out
    assert all(f"; {family} " in out.split("re-evaluated")[1] for family in FAMILIES)


def test_a_missing_family_judge_names_its_training_command():
    with pytest.raises(ValueError, match=r"train one with: python -m tinygan\.judge --train --background clouds$"):
        judge_model.load_judge(background="clouds")  # one family's judge never ships


def test_the_shipped_judge_of_digits_on_paper_is_small_matches_its_checksum_and_the_docs():
    path = judge_model.SHIPPED_PAPER_JUDGE
    assert path.is_file() and path.stat().st_size <= 1_000_000
    assert judge_model.file_sha256(path) == judge_model.SHIPPED_PAPER_SHA256
    model, info = judge_model.load_judge(background="textured")  # no judge in the cache: the shipped one
    assert (info.path, info.source, info.seed, info.epochs) == (path, "shipped with tinygan", 0, 4)
    assert set(info.on_paper) == set(FAMILIES) and min(info.on_paper.values()) > 0.98
    docs = (REPOSITORY / "docs" / "textures.md").read_text()
    assert judge_model.SHIPPED_PAPER_SHA256 in docs and f"{100 * info.test_accuracy:.2f}%" in docs
    assert all(f"{100 * value:.2f}% on {family}" in docs for family, value in info.on_paper.items())
    assert '"judge_textured_weights.npz"' in (REPOSITORY / "pyproject.toml").read_text()
    assert not model.training


@pytest.mark.parametrize("argv", [["--background", "plaid"], ["--train", "--limit", "0"]])
def test_cli_rejects_bad_background_and_limit(argv):
    with pytest.raises(SystemExit) as exit_info:
        judge.parse_args(argv)
    assert exit_info.value.code == 2
