"""genproto-vae: a conditional variational autoencoder plugin for genproto."""

from genproto_vae.model import VAE, interpolation_strip

__all__ = ["VAE", "interpolation_strip"]
