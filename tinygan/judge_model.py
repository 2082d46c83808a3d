"""The digit judge: a small CNN that says which digit a 28x28 image shows.

The evaluation of a generator (as in the original code's ``test.py``) classifies the
digits it draws with a classifier trained on MNIST. The judge is that classifier,
built from tinygan's own layers and trained on MNIST's training set *in canvas
colours*: black digit on white, ``1 - x / 255``, NHWC float32 (N, 28, 28, 1).

Architecture (``ARCH_VERSION``), PReLU after every conv and the hidden dense layer:
conv 3x3 32 (28x28) -> conv 3x3 32 stride 2 (14x14) -> conv 3x3 64 (14x14)
-> conv 3x3 64 stride 2 (7x7) -> flatten (3136) -> dense 128 -> dropout 0.3 -> dense 10.
The dense-128 activations (after PReLU, eval mode) are the judge's features.

A judge trained with seed 0 ships with tinygan (:data:`SHIPPED_JUDGE`, checksum
:data:`SHIPPED_SHA256`), so a first run evaluates without training one. ``python -m
tinygan.judge --train`` (:mod:`.judge`) trains another into :func:`judge_path`, which is then
used instead. Training: 4 epochs of Adam 1e-3 halved each epoch, batch 64, random shifts of up
to 2 px (its measured accuracy and time: the README).

The judge of digits on paper (issue 25) is the same architecture trained with each shifted digit
also laid as ink over paper (:func:`tinygan.data.digits_on_paper.digits_on_paper`; ``--background
textured``), kept in the cache beside the white one (:func:`judge_path`); its file records its
accuracy on white and on each family's paper (:func:`family_accuracies`). One trained with seed 0
ships too (:data:`SHIPPED_PAPER_JUDGE`, checksum :data:`SHIPPED_PAPER_SHA256`).
"""
import hashlib
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from .backend import get_xp, rng as backend_rng, synchronize, to_device, to_host
from .data import default_cache_dir, load_mnist
from .data.digits import N_CLASSES, canvas_colours
from .data.digits_on_paper import digits_on_paper
from .data.textures import families_of
from .layers import Conv2D, Dense, Dropout, Flatten, PReLU, Sequential
from .losses import softmax_cross_entropy
from .optim import Adam
from .serialize import load_model_state, load_npz, model_state, save_npz_atomic

ARCH_VERSION = "judge-1 conv32,conv32/2,conv64,conv64/2,dense128,dropout0.3,dense10 prelu canvas"
TRAIN_COMMAND = "python -m tinygan.judge --train"
IMAGE_SHAPE = (28, 28, 1)
FEATURE_LAYER = "dense1_prelu"  # the judge's features are this layer's output
DEFAULT_EPOCHS = 4
SHIPPED_JUDGE = Path(__file__).with_name("judge_weights.npz")  # package data, written by
# python -m tinygan.judge --train --seed 0 --float16 --out tinygan/judge_weights.npz (the README: its accuracy)
SHIPPED_SHA256 = "8b587f85dedd17ac93997144698378ea9968028954acbae34fc0299294f5d2df"
SHIPPED_PAPER_JUDGE = Path(__file__).with_name("judge_textured_weights.npz")  # the judge of digits on paper:
# python -m tinygan.judge --train --background textured --seed 0 --float16 --out tinygan/judge_textured_weights.npz
SHIPPED_PAPER_SHA256 = "efc0e14da148d1da07599922ea45bfb29c1f2217b904bfb04abe175186075316"


def judge_path(background="white"):
    """Where the trained judge is kept: ``<tinygan cache folder>/judge.npz``; the one trained on
    another background (``--background``, :data:`tinygan.data.textures.BACKGROUNDS`) in
    ``judge-<background>.npz`` beside it.

    The cache folder is the parent of :func:`tinygan.data.default_cache_dir` (so
    ``$TINYGAN_CACHE``, else ``$XDG_CACHE_HOME/tinygan``, else ``~/.cache/tinygan``)."""
    return default_cache_dir().parent / ("judge.npz" if background == "white" else f"judge-{background}.npz")


def judge_background(settings):
    """The judge a run's canvases need (``settings``: its RunSettings): 'white' for white paper,
    else 'textured', the judge of digits on every paper family."""
    return "white" if settings.background == "white" else "textured"


def train_command(background="white"):
    """The command that trains the judge for ``background`` into the cache."""
    return TRAIN_COMMAND if background == "white" else f"{TRAIN_COMMAND} --background {background}"


def find_judge(path=None, background="white"):
    """The judge file to use and where it comes from: ``path`` when given, else the one trained
    into the cache (:func:`judge_path`) when there is one, else the one shipped with tinygan for
    white paper or for textured paper ('textured' only: one family's judge is never shipped).
    Returns (Path, source), source 'given', 'trained into the cache' or 'shipped with tinygan'."""
    if path is not None:
        return Path(path), "given"
    shipped = {"white": SHIPPED_JUDGE, "textured": SHIPPED_PAPER_JUDGE}.get(background)
    if judge_path(background).is_file() or shipped is None:
        return judge_path(background), "trained into the cache"
    return shipped, "shipped with tinygan"


def file_sha256(path):
    """The hex SHA-256 of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------------ model

def build_judge(seed=0):
    """A freshly initialised judge (Glorot weights from ``seed``), in training mode.
    Input (N, 28, 28, 1) float32 in canvas colours -> logits (N, 10)."""
    init = np.random.default_rng(seed)

    def conv(name, in_ch, out_ch, stride):
        return [Conv2D(in_ch, out_ch, 3, stride, rng=init, name=name), PReLU((out_ch,), name=f"{name}_prelu")]

    return Sequential(
        conv("conv1", 1, 32, 1) + conv("conv2", 32, 32, 2)
        + conv("conv3", 32, 64, 1) + conv("conv4", 64, 64, 2)
        + [Flatten(name="flatten"),
           Dense(7 * 7 * 64, 128, rng=init, name="dense1"), PReLU((128,), name=FEATURE_LAYER),
           Dropout(0.3, rng=backend_rng(seed), name="dropout"),
           Dense(128, N_CLASSES, rng=init, name="logits")],
        name="judge")


def _check_images(x):
    """Validate judge input: floating (N, 28, 28) or (N, 28, 28, 1) in canvas colours.
    Returns it shaped (N, 28, 28, 1); raises ValueError otherwise."""
    shape = tuple(getattr(x, "shape", ()))
    if getattr(x, "dtype", np.dtype(object)).kind != "f":
        raise ValueError(f"judge: expected floating images in canvas colours (black digit on white, "
                         f"[0, 1]); got dtype {getattr(x, 'dtype', type(x).__name__)}. "
                         f"Convert MNIST digits with canvas_colours()")
    if shape[1:] == IMAGE_SHAPE[:2]:
        x = x.reshape(shape + (1,))
    if tuple(x.shape[1:]) != IMAGE_SHAPE:
        raise ValueError(f"judge: expected images of shape (N, 28, 28, 1) or (N, 28, 28), got {shape}")
    return x


def _eval_outputs(model, x, stop, batch_size):
    """Run ``model.layers[:stop]`` in eval mode over ``x`` in batches of ``batch_size``;
    returns the concatenated outputs as a host float32 array. Restores the model's mode."""
    x = _check_images(x)
    if len(x) == 0:
        raise ValueError("judge: no images given (N = 0)")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"judge: batch_size must be a positive integer, got {batch_size!r}")
    outputs = []
    with model.evaluating():
        for start in range(0, len(x), batch_size):
            h = to_device(x[start:start + batch_size], dtype=np.float32)
            for layer in model.layers[:stop]:
                h, _ = layer.forward(h)
            outputs.append(to_host(h))
    return np.concatenate(outputs)


def judge_logits(model, x, batch_size=500):
    """Logits of the judge in eval mode. x: (N, 28, 28[, 1]) canvas colours -> (N, 10) host float32."""
    return _eval_outputs(model, x, len(model.layers), batch_size)


def judge_features(model, x, batch_size=500):
    """Penultimate features: the dense-128 activations (after PReLU) in eval mode.
    x: (N, 28, 28[, 1]) canvas colours -> (N, 128) host float32."""
    stop = 1 + [layer.name for layer in model.layers].index(FEATURE_LAYER)
    return _eval_outputs(model, x, stop, batch_size)


def classify(model, x, batch_size=500):
    """Judge's verdict on each image, in eval mode.
    x: (N, 28, 28[, 1]) canvas colours -> (labels int64 (N,), probabilities float32 (N, 10))."""
    logits = judge_logits(model, x, batch_size)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    return logits.argmax(axis=1).astype(np.int64), probabilities.astype(np.float32)


def accuracy(model, x, labels, batch_size=500):
    """Fraction of ``x`` (canvas colours) that the judge labels as ``labels`` (N,)."""
    predicted, _ = classify(model, x, batch_size)
    return float(np.mean(predicted == np.asarray(labels)))


# --------------------------------------------------------------------------- training

def random_shifts(images, generator, max_shift=2):
    """Shift each image by its own random offset in [-max_shift, max_shift] pixels on
    each axis, filling with white (1.0, the canvas background).
    images: host float32 (N, H, W, C) -> same shape; ``generator``: a NumPy Generator."""
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (max_shift, max_shift), (max_shift, max_shift), (0, 0)),
                    constant_values=1.0)
    top = generator.integers(0, 2 * max_shift + 1, n)
    left = generator.integers(0, 2 * max_shift + 1, n)
    rows = top[:, None] + np.arange(height)  # (N, H)
    cols = left[:, None] + np.arange(width)  # (N, W)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def train_epoch(model, optimizer, digits, labels, generator, batch_size=64, max_shift=2, augment=None):
    """One pass over ``digits`` (uint8 MNIST (N, 28, 28)) and ``labels`` (N,) in a random
    order, each batch in canvas colours and randomly shifted, then passed through
    ``augment(x, generator)`` when given. Returns (mean loss, train accuracy), both measured on
    the augmented batches in training mode."""
    xp = get_xp()
    targets = np.eye(N_CLASSES, dtype=np.float32)
    order = generator.permutation(len(digits))
    total_loss, correct = 0.0, 0
    model.train()
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        x = random_shifts(canvas_colours(digits[batch])[..., None], generator, max_shift)
        if augment is not None:
            x = augment(x, generator)
        model.zero_grad()
        logits, cache = model.forward(to_device(x))
        loss, dlogits = softmax_cross_entropy(logits, to_device(targets[labels[batch]]))
        model.backward(dlogits, cache)
        optimizer.step()
        total_loss += float(loss) * len(batch)
        correct += int(xp.sum(xp.argmax(logits, axis=1) == to_device(labels[batch].astype(np.int64))))
    return total_loss / len(order), correct / len(order)


def fit_judge(model, digits, labels, epochs=DEFAULT_EPOCHS, seed=0, lr=1e-3, lr_decay=0.5,
              batch_size=64, log=print, augment=None):
    """Train ``model`` with Adam on MNIST ``digits`` uint8 (N, 28, 28) and ``labels`` (N,).
    The learning rate is ``lr * lr_decay ** epoch``. Batch order, shifts and ``augment``'s draws
    (:func:`train_epoch`) come from ``seed``; logs one line per epoch. Returns the model (trained in place)."""
    generator = np.random.default_rng(seed)
    optimizer = Adam(model, lr)
    labels = np.asarray(labels)
    for epoch in range(epochs):
        optimizer.lr = lr * lr_decay ** epoch
        started = time.perf_counter()
        loss, train_accuracy = train_epoch(model, optimizer, digits, labels, generator, batch_size, augment=augment)
        synchronize()
        log(f"judge epoch {epoch + 1}/{epochs}: lr {optimizer.lr:.2e}, loss {loss:.4f}, "
            f"train accuracy {train_accuracy:.4f}, {time.perf_counter() - started:.1f} s")
    return model


def family_accuracies(model, digits, labels, families, seed=0, chunk=1000):
    """{family: the judge's accuracy} on MNIST ``digits`` uint8 (N, 28, 28) with ``labels`` (N,),
    each laid as ink over paper of that family alone (:func:`digits_on_paper`, none left white),
    the draws from ``seed``, ``chunk`` digits at a time."""
    x, labels = canvas_colours(digits)[..., None], np.asarray(labels)
    results = {}
    for family in families:
        rng = np.random.default_rng(seed)
        correct = sum(int(np.sum(classify(model, digits_on_paper(x[start:start + chunk], rng, (family,), 0.0))[0]
                                 == labels[start:start + chunk])) for start in range(0, len(x), chunk))
        results[family] = correct / len(x)
    return results


def train_judge(data_dir=None, epochs=DEFAULT_EPOCHS, seed=0, log=print, background="white", limit=None):
    """Build and train a judge on MNIST's training set (its first ``limit`` digits when given),
    then measure it on the test set (its first ``limit`` too). Deterministic for a given seed (on
    a given backend and BLAS). A non-white ``background`` lays the training digits over paper of
    its families too (:func:`digits_on_paper`) and measures the judge on each family's paper.
    Returns (model in eval mode, test accuracy as a fraction, {family: accuracy}, empty on white)."""
    train_digits, train_labels = load_mnist("train", data_dir=data_dir, log=log)
    test_digits, test_labels = load_mnist("test", data_dir=data_dir, log=log)
    train_digits, train_labels, test_digits, test_labels = (a[:limit] for a in (train_digits, train_labels,
                                                                                 test_digits, test_labels))
    families = families_of(background)
    augment = partial(digits_on_paper, families=families) if families else None
    started = time.perf_counter()
    model = fit_judge(build_judge(seed), train_digits, train_labels, epochs=epochs, seed=seed, log=log,
                      augment=augment)
    test_accuracy = accuracy(model, canvas_colours(test_digits), test_labels)
    on_paper = family_accuracies(model, test_digits, test_labels, families, seed)
    log(f"judge: test accuracy {test_accuracy:.4f} on {len(test_labels)} MNIST test digits"
        + "".join(f", {100 * value:.2f}% on {family}" for family, value in on_paper.items())
        + f" after {epochs} epochs, {time.perf_counter() - started:.0f} s")
    return model.eval(), test_accuracy, on_paper


# ------------------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class JudgeInfo:
    """What a judge checkpoint says about itself."""

    path: Path
    arch_version: str
    test_accuracy: float
    seed: int
    epochs: int
    source: str  # 'given', 'trained into the cache' or 'shipped with tinygan' (find_judge)
    on_paper: dict = field(default_factory=dict)  # {family: accuracy} of a judge trained on paper too

    def describe(self):
        """One line for logs: which judge, from where, and its MNIST test accuracy."""
        families = "".join(f", {100 * value:.2f}% on {family}" for family, value in self.on_paper.items())
        return f"judge {self.path} ({self.source}; {100 * self.test_accuracy:.2f}% on MNIST's test set{families})"


def save_judge(model, path, test_accuracy, seed, epochs, dtype=np.float32, on_paper=None):
    """Write the judge's weights, as ``dtype``, and metadata to ``path`` (.npz, atomically). Weights are
    read back as float32; float16 halves the file (the shipped judge's: none of its 10,000 MNIST test
    predictions changes), and ``test_accuracy`` stays the one measured before the rounding.
    ``on_paper``: {family: accuracy} of a judge trained on paper too, kept as ``meta/on_paper/<family>``."""
    arrays = {name: value.astype(dtype) for name, value in model_state(model).items()}
    arrays.update({"meta/arch_version": ARCH_VERSION, "meta/test_accuracy": float(test_accuracy),
                   "meta/seed": int(seed), "meta/epochs": int(epochs)})
    arrays.update({f"meta/on_paper/{family}": float(value) for family, value in (on_paper or {}).items()})
    save_npz_atomic(path, arrays)


def load_judge(path=None, train_if_missing=False, data_dir=None, log=print, background="white"):
    """Load a judge in eval mode: ``path`` when given, else the one for ``background`` trained into
    the cache when there is one, else (white and textured) the one shipped with tinygan (:func:`find_judge`).

    With ``train_if_missing``, a missing ``path`` (with none given: a missing cache judge) is
    trained and saved there first; otherwise a missing ``path`` is a ValueError naming the
    command that trains it. A file made for another architecture version, or whose tensors
    do not fit this architecture, is a ValueError saying to retrain. Returns (model, JudgeInfo)."""
    if train_if_missing:
        target = Path(path) if path is not None else judge_path(background)
        if not target.is_file():
            log(f"judge: no trained judge at {target}; training one")
            model, test_accuracy, on_paper = train_judge(data_dir=data_dir, log=log, background=background)
            save_judge(model, target, test_accuracy, seed=0, epochs=DEFAULT_EPOCHS, on_paper=on_paper)
    path, source = find_judge(path, background)
    default = path in (SHIPPED_JUDGE, SHIPPED_PAPER_JUDGE, judge_path(background))  # the cache's replaces a shipped one
    retrain = train_command(background) + ("" if default else f" --out {path}")
    if not path.is_file():
        raise ValueError(f"no trained judge at {path}; train one with: {retrain}")
    state = load_npz(path)
    saved_version = str(state.pop("meta/arch_version", "(none)"))
    if saved_version != ARCH_VERSION:
        raise ValueError(f"{path}: judge was trained for architecture {saved_version!r}, this tinygan "
                         f"builds {ARCH_VERSION!r}; retrain it with: {retrain}")
    on_paper = {name.split("/")[-1]: float(state.pop(name)) for name in list(state) if name.startswith("meta/on_paper/")}
    info = JudgeInfo(path, saved_version, float(state.pop("meta/test_accuracy")),
                     int(state.pop("meta/seed")), int(state.pop("meta/epochs")), source, on_paper)
    model = build_judge(info.seed)
    try:
        load_model_state(model, state, source=str(path))
    except ValueError as err:
        raise ValueError(f"{err}; the checkpoint does not fit the judge: retrain it with: {retrain}") from err
    return model.eval(), info
