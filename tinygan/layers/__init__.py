"""Hand-written layers, each with its forward and backward side by side."""
from .activations import Dropout, PReLU, Sigmoid
from .base import Layer, Sequential
from .conditional import ClassProjection, ConditionalBatchNorm, one_hot
from .conv import Conv2D
from .dense import Dense
from .merge import MergeConvs
from .minibatch import MinibatchStd
from .noise import PixelNoise
from .norm import BatchNorm
from .shape import BilinearUpsample, Flatten, JoinChannels, Reshape, SpatialMean, Upsample, WeightedMean
from .upsampled_conv import UpsampleConv2D
from .waves import SineWaves

__all__ = ["BatchNorm", "BilinearUpsample", "ClassProjection", "ConditionalBatchNorm", "Conv2D", "Dense", "Dropout",
           "Flatten", "JoinChannels", "Layer", "MergeConvs", "MinibatchStd", "PixelNoise", "PReLU", "Reshape",
           "Sequential", "Sigmoid", "SineWaves", "SpatialMean", "Upsample", "UpsampleConv2D", "WeightedMean",
           "one_hot"]
