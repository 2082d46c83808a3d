"""What a generator draws, measured: one home for every measure.

- :mod:`.statistics`: proportions with Wilson intervals, the Fréchet distance, the spread;
- :mod:`.frames`: what the digit judge sees of a canvas (each object in a 28x28 frame);
- :mod:`.ink`: where the ink lies against the boxes;
- :mod:`.judged`: a set of canvases and the judge's verdicts, which every measure reads;
- :mod:`.measures`: the list of measures: the training log's columns and plot panels, the
  evaluate command's report and tables;
- :mod:`.evaluation`: the evaluations during training; :mod:`.report`: the evaluate command's.

Host NumPy throughout. Only the light modules are imported here (the placements use
:mod:`.frames`, and :mod:`.report` asks the placements).
"""
from .statistics import diversity, frechet_distance, mean_pairwise_distance, proportion, wilson_interval

__all__ = ["diversity", "frechet_distance", "mean_pairwise_distance", "proportion", "wilson_interval"]
