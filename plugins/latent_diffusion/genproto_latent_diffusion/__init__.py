"""genproto plugin: latent diffusion (the VAE plugin's autoencoder + a diffusion prior on z)."""

from genproto_latent_diffusion.model import LatentDiffusion, LatentPrior

__all__ = ["LatentDiffusion", "LatentPrior"]
