"""The placements (grid, free): what each answers, and that a training step leaves the checks to
where layouts enter."""
import numpy as np
import pytest

from conftest import MNIST_DIR, requires_mnist
from tinygan.backend import to_host
from tinygan.data import load_digits
from tinygan.models import Generator, preset
from tinygan.placement import LAYOUTS, PLACEMENTS, FreePlacement, GridPlacement, placement_of
from tinygan.settings import RunSettings
from tinygan.updater import Updater


def grid_layout(batch=3):
    config = preset("tiny")
    labels = np.arange(batch * config.n_objects).reshape(batch, config.n_objects) % 10
    return config, labels, config.canvas().boxes(batch)


def test_the_flag_names_each_placement_once():
    assert LAYOUTS == ("grid", "random") and isinstance(placement_of("random"), FreePlacement)
    assert all(placement.name == name for name, placement in PLACEMENTS.items())
    with pytest.raises(ValueError, match="layout must be one of"):
        placement_of("textured")


@pytest.mark.parametrize("placement", [GridPlacement(), FreePlacement()])
def test_a_batch_layout_moves_rows_between_slots_and_objects(xp, rng, placement):
    """objects_of and per_slot are inverse on present slots; sum_per_image is the gradient of
    objects_of_images (<objects_of_images(a), b> = <a, sum_per_image(b)>)."""
    config, labels, boxes = grid_layout()
    if not placement.fixed_count:
        labels[1, 0] = -1  # an empty slot
    layout = placement.batch(config, labels, boxes)
    assert layout.count == (labels >= 0).sum() and to_host(layout.labels).tolist() == labels[labels >= 0].tolist()
    rows = xp.asarray(rng.standard_normal((3, config.n_objects, 5)))
    objects = layout.objects_of(rows)
    np.testing.assert_array_equal(to_host(layout.per_slot(objects))[labels >= 0], to_host(rows)[labels >= 0])
    assert float(abs(layout.per_slot(objects)[xp.asarray(labels < 0)]).sum()) == 0
    per_image, per_object = xp.asarray(rng.standard_normal((3, 5))), xp.asarray(rng.standard_normal((layout.count, 5)))
    np.testing.assert_allclose(float((layout.objects_of_images(per_image) * per_object).sum()),
                               float((per_image * layout.sum_per_image(per_object)).sum()), rtol=1e-12)


def test_the_free_placement_pastes_a_grid_layout_as_the_grid_does(rng):
    """Boxes of object_size need no resampling: both placements paste and crop the same pixels."""
    config, labels, boxes = grid_layout()
    background = rng.random((3, 16, 16, 1))
    objects = rng.random((labels.size, 8, 8, 1))
    grid, free = (p.batch(config, labels, boxes) for p in (GridPlacement(), FreePlacement()))
    image = grid.paste(background, objects)[0]
    np.testing.assert_allclose(free.paste(background, objects)[0], image, atol=1e-12)
    np.testing.assert_allclose(free.crop(image, 8)[0], grid.crop(image, 8)[0], atol=1e-12)


@pytest.mark.parametrize("placement", [GridPlacement(), FreePlacement()])
def test_the_checks_name_the_problem(placement):
    config, labels, boxes = grid_layout()
    labels[2, 1] = 10
    with pytest.raises(ValueError, match=r"G: .*classes must be in 0..9.*got 10 \(object 1 of image 2\)"):
        placement.check(config, labels, boxes, 3, "G")


@requires_mnist
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_training_step_checks_no_layout(monkeypatch, layout):
    """Layouts are checked where they enter (data, command line, a model's forward); a training
    step reads none back from the device to check it again."""
    updater = Updater(RunSettings(preset="tiny", layout=layout, batch_size=4),
                      load_digits("train", data_dir=MNIST_DIR, log=lambda m: None))

    def refuse(*args):
        raise AssertionError("a training step checked a layout")

    for placement in PLACEMENTS.values():
        monkeypatch.setattr(type(placement), "check", refuse)
    losses = updater.update(0)
    assert all(np.isfinite(float(to_host(v))) for v in losses.values())
    with pytest.raises(AssertionError, match="checked a layout"):  # the public entry still checks
        Generator(updater.config).forward(*updater.draw(0)[5:6], *updater.draw(0)[1:3])
