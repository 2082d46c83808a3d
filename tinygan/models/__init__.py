"""The multi-object GAN of Maletin (2019): generator, discriminator, configs and presets."""
from .compositing import COMPOSITINGS
from .config import COMBINE_MODES, LAYOUTS, NOISE_KINDS, PRESETS, UPSAMPLINGS, GANConfig, preset
from .discriminator import Discriminator
from .generator import Generator

__all__ = ["COMBINE_MODES", "COMPOSITINGS", "LAYOUTS", "NOISE_KINDS", "PRESETS", "UPSAMPLINGS", "Discriminator", "GANConfig", "Generator", "preset"]
