"""Where a model's objects go on the canvas: its placement, grid or free, one object each.

A placement owns everything in which the two differ: the checks of a layout (labels (B, N),
boxes (B, N, 4)), how the models paste objects into their boxes and crop them out (with the
gradients), the layouts that training draws, the fixed layouts of the sample grids and the
groups it is evaluated on. Models, the training step, the extensions and the commands ask it
and never branch on its name; a new placement is one class here and its tests.

Users name it with ``--layout grid|random`` and checkpoints keep it as ``GANConfig.layout``;
'random' is that flag's word for the free placement.

    placement = placement_of(config.layout)
    layout = placement.batch(config, labels, boxes)   # once per batch, unchecked
"""
from .base import SAMPLE_ROWS, BatchLayout, Placement
from .free import FreePlacement
from .grid import GridPlacement

PLACEMENTS = {placement.name: placement for placement in (GridPlacement(), FreePlacement())}
LAYOUTS = tuple(PLACEMENTS)  # the values of --layout and GANConfig.layout


def placement_of(name):
    """The placement that ``--layout name`` (GANConfig.layout) names; a ValueError for another name."""
    if name not in PLACEMENTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {name!r}")
    return PLACEMENTS[name]


__all__ = ["LAYOUTS", "PLACEMENTS", "SAMPLE_ROWS", "BatchLayout", "FreePlacement", "GridPlacement", "Placement",
           "placement_of"]
