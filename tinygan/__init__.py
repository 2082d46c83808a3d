"""tinygan: a readable from-scratch GAN library in NumPy/CuPy."""

__version__ = "0.1.0"
