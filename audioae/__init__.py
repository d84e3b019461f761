"""audioae: audio autoencoders on spectrograms, with denoising, compression and timbre interpolation."""

__version__ = "0.1.0"
