"""Latent diffusion: a diffusion prior on the latent space of the VAE plugin's autoencoder.

Rombach, Blattmann, Lorenz, Esser & Ommer 2022, "High-Resolution Image Synthesis with Latent
Diffusion Models" (CVPR) -- a frozen, KL-regularised autoencoder, then a diffusion model on its
latents; Vahdat, Kreis & Kautz 2021, "Score-based Generative Modeling in Latent Space" (NeurIPS)
-- the likelihood bound of such a hybrid. Nothing here re-implements either part:

* the **autoencoder** is the ``vae`` model, obtained through genproto's registry; its encoder
  ``q(z | x, c)``, decoder ``P(x | z, c)`` and their primitives (``posterior``,
  ``decode_batch``, ``log_px``) are the VAE plugin's, and stay frozen;
* the **prior** ``p(z | c)`` is genproto_diffusion's ``Diffusion`` (cosine schedule, DDPM
  objective, DDIM/DDPM samplers, classifier-free guidance, the variational bound's terms) on
  the d = 16 latent vectors; only its last bound term, for continuous z, is written here.

The hybrid's capabilities are composed by ``genproto.hybrid.latent_hybrid`` from what the two
parts declare: paradigms (latent_variable, diffusion); cost K + 1 evaluations (K denoiser
calls, then one decoder call; both networks are counted by the sampler); likelihood a bound.

Training (autoencoder frozen): ``z = mu + sigma * eps``, a fresh draw from ``q(z | x, c)`` at
every step, and the diffusion loss ``||eps' - eps_theta(z_t, t, c)||^2`` on it.

Sampling: ``z_T ~ N(0, I)``, K DDIM steps to ``z_0`` (guided), then one decoder pass.

Likelihood, a lower bound on ``log P(x | c)`` in nats (derivation in docs/plugins/
latent_diffusion.md)::

    log P(x|c) >= E_q[log P(x|z,c)] + E_q[log p(z|c)] + H[q(z|x,c)]          (Jensen)
               >= E_q[log P(x|z,c) - L_vb(z, c)] + H[q(z|x,c)]

where ``-L_vb(z, c) = -(L_T + sum_{t>=2} L_{t-1} + L_0) <= log p(z|c)`` is the diffusion's
variational bound on the latent density (Ho et al. 2020, eq. 5; here ``L_0 = -log N(z;
mu_theta(z_1, 1), sigma_1^2 I)``, a density; the reverse variances are the diffusion plugin's
fitted ones, Bao et al. 2022), the entropy of the Gaussian posterior is exact and
the expectation is estimated from ``draws`` draws of ``z``. Every random number comes from
genproto's keyed streams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

from genproto import registry
from genproto.data import load_digits
from genproto.data.dataset import Dataset
from genproto.errors import OptionError, PluginError
from genproto.hybrid import latent_hybrid
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init
from genproto_diffusion.model import CLASSES, DEFAULT_STEPS, OBJECTIVE, Denoiser, Diffusion
from genproto_vae.model import VAE
from genproto_vae.model import capabilities as vae_capabilities

__all__ = [
    "DEFAULTS",
    "LatentDiffusion",
    "LatentPrior",
    "build",
    "capabilities",
    "prior_capabilities",
]

#: The configuration of the shipped weights (``weights/digits``; the registry loads them).
DEFAULTS: dict[str, int] = {"hidden": 256, "blocks": 3, "init_seed": 0}
LATENT = 16  # the shipped VAE's latent dimension d
DEFAULT_GUIDANCE = 1.0  # the decoder is class-conditional too; see docs for the guidance sweep
PRIOR_OPTIONS = ("steps", "sampler", "guidance", "eta")
MAX_BOUND_CALLS = 16_384  # denoiser calls per row of the likelihood: about a second a row


def prior_capabilities(latent_dim: int = LATENT) -> Capabilities:
    """What the diffusion prior declares on its own: a model of the latent vectors z."""
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=Likelihood.BOUND,
        cost=SampleCost.per_step(DEFAULT_STEPS),
        event=EventSpace.continuous((latent_dim,)),
        condition=ConditionSpec(CLASSES, "digit class"),
        objective=OBJECTIVE + " on z ~ q(z|x,c), label dropout for classifier-free guidance",
        sampling=f"DDIM with K={DEFAULT_STEPS} steps by default, or ancestral DDPM",
    )


def capabilities(
    autoencoder: Capabilities | None = None, latent_dim: int = LATENT
) -> Capabilities:
    """The hybrid's capabilities, composed from its parts by genproto (never hand-written)."""
    return latent_hybrid(
        autoencoder=autoencoder or vae_capabilities("digits"),
        prior=prior_capabilities(latent_dim),
        latent=EventSpace.continuous((latent_dim,)),
    )


def _gauss_log_density(z: Tensor, mean: Tensor, std: float) -> Tensor:
    """log N(z; mean, std^2 I) summed over the last dimension. (B,)"""
    return (-0.5 * ((z - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)


class LatentPrior(Diffusion):
    """genproto_diffusion's model on latent vectors ``(B, d)``: continuous, class-conditional."""

    # Predicted z_0 is clipped to [-clip, clip] (the diffusion plugin's guard near t = T); the
    # aggregate posterior has unit scale and the training latents reach |z| ~ 4.4.
    clip: ClassVar[float] = 6.0

    def __init__(self, latent_dim: int, hidden: int, blocks: int, init_seed: int) -> None:
        self.latent_dim = latent_dim
        with seeded_init(init_seed):
            net = Denoiser(latent_dim, hidden, blocks, CLASSES)
        super().__init__(prior_capabilities(latent_dim), net, init_seed=init_seed)
        self._name = "latent_diffusion.prior"

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.latent_dim,)

    def to_model_space(self, x: Tensor) -> Tensor:
        return x.float().to(self.device)  # latents are already in diffusion space

    def to_events(self, x: Tensor) -> Tensor:
        return x

    def log_density_bound(self, z: Tensor, condition: Tensor | None, streams: KeyedStreams,
                          k: int) -> Tensor:
        """``-L_vb(z, c) <= log p(z | c)`` in nats, float64 (B,): the bound's terms from the
        diffusion plugin plus ``L_0 = -log N(z; mu_theta(z_1, 1), sigma_1^2 I)``."""
        z0 = z.double()
        total, mean = self.bound_terms(z0, condition, streams, k)
        return -total + _gauss_log_density(z0, mean, self.decoder_std())

    def on_training_end(self) -> None:
        """Nothing here: the hybrid fits the variances on latents (it owns the encoder)."""


class LatentDiffusion(Model):
    """The frozen VAE (from the registry) with a diffusion prior on its latents."""

    sample_options: tuple[Option, ...] = (
        *(
            attrs.evolve(o, default=DEFAULT_GUIDANCE) if o.name == "guidance" else o
            for o in Diffusion.sample_options
        ),
        Option("output", str, "sample", "decoder output: each pixel's level drawn from "
               "P(x|z,c), or its most likely level", choices=("sample", "mode")),
    )
    likelihood_options: tuple[Option, ...] = (
        Option("terms", int, 100, "terms L_{t-1} of the prior's bound evaluated "
               "(stratified draw; 999 sums them all)", minimum=1, maximum=999),
        Option("draws", int, 1, "draws z ~ q(z|x,c) the bound is averaged over (each is a "
               "bound; more draws only lower its variance)", minimum=1, maximum=256),
    )

    def __init__(self, vae: VAE, *, hidden: int = 256, blocks: int = 3,
                 init_seed: int = 0) -> None:
        self.vae = vae
        self.latent_dim = vae.latent_dim
        self.prior = LatentPrior(vae.latent_dim, hidden, blocks, init_seed)
        self._settings: TrainSettings | None = None
        super().__init__(capabilities(vae.capabilities, vae.latent_dim), name="latent_diffusion")
        self.to(vae.device)

    def networks(self) -> Mapping[str, nn.Module]:
        # Sampling calls the denoiser K times and the decoder once: both are counted.
        return {"denoiser": self.prior.net, "vae_encoder": self.vae.encoder,
                "vae_decoder": self.vae.decoder}

    def to(self, device: torch.device | str) -> LatentDiffusion:
        super().to(device)
        self.prior.to(self.device)
        self.vae.to(self.device)
        return self

    # -- sampling -------------------------------------------------------------------------

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, plus a budget: ``draws * terms`` denoiser calls per row."""
        values = super().check_likelihood_options(options)
        calls = values["draws"] * values["terms"]
        if calls > MAX_BOUND_CALLS:
            raise OptionError(
                "'latent_diffusion' likelihood options 'draws' x 'terms'", option="draws",
                value=calls, allowed=f"draws * terms <= {MAX_BOUND_CALLS} denoiser calls a row",
                fix="Fewer draws (each is already a bound) or fewer terms (a stratified draw "
                "of them is unbiased)",
            )
        return values

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The declared options, with the prior's rules applied (and its ``steps`` filled in)."""
        values = super().check_sample_options(options)
        values.update(self.prior.check_sample_options({k: values[k] for k in PRIOR_OPTIONS}))
        return values

    def cost(self, **options: Any) -> SampleCost:
        """The prior's K steps, then the decoder's single pass: K + 1 evaluations."""
        values = self.check_sample_options(options)
        prior = {k: values[k] for k in PRIOR_OPTIONS}
        return self.prior.cost(**prior).then(self.vae.capabilities.cost)

    def bytes_per_sample(self, **options: Any) -> int:
        return 64 * 1024

    def sample_batch(self, streams: KeyedStreams, condition: Tensor | None,
                     **options: Any) -> Tensor:
        # The sampler hands over the options checked by check_sample_options, once per run.
        prior = {k: options[k] for k in PRIOR_OPTIONS}
        # 1. z_0 from the diffusion prior: K denoiser evaluations (guided ones batched).
        z = self.prior.sample_batch(streams.fork("prior"), condition, **prior)  # (B, d)
        # 2. x from the VAE's decoder: one evaluation.
        return self.vae.decode_batch(z, condition, streams.fork("decoder"),
                                     output=options["output"])

    # -- likelihood -----------------------------------------------------------------------

    def log_likelihood_batch(self, x: Tensor, condition: Tensor | None, streams: KeyedStreams,
                             **options: Any) -> Tensor:
        """``E_q[log P(x|z,c) - L_vb(z,c)] + H[q(z|x,c)] <= log P(x|c)`` in nats. (B,)"""
        k, draws = int(options["terms"]), int(options["draws"])
        # 1. The posterior q(z | x, c) and its entropy, exactly.
        mean, scale = self.vae.posterior(x, condition)  # (B, d) each
        entropy = (scale.double().log() + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)  # (B,)
        total = torch.zeros(x.shape[0], dtype=torch.float64, device=self.device)
        for s in range(draws):
            # 2. z ~ q(z | x, c), and the two terms at it: decoder and prior bound.
            stream = streams.fork(f"posterior-{s}")
            z = mean + scale * stream.normal(self.latent_dim).to(mean)  # (B, d)
            log_px = self.vae.log_px(x, z, condition).double()  # (B,)
            log_pz = self.prior.log_density_bound(z, condition, stream.fork("prior"), k)
            total = total + log_px + log_pz
        nats: Tensor = (total / draws + entropy).float()
        return nats

    # -- training (genproto.training.Trainable): the prior only, autoencoder frozen ---------

    def training_data(self) -> Dataset:
        return load_digits("train")

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=20_000, batch_size=256, lr=1e-3, seed=0, save_every=5000,
                             report_every=5000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        self._settings = settings
        return self.prior.setup_training(settings)

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        settings = require_setup(self._settings, model=self.name)
        # 1. A fresh posterior draw z ~ q(z | x, c) of each example (no gradient to the VAE).
        with torch.no_grad():
            mean, scale = self.vae.posterior(batch.x, batch.y)
            z = mean + scale * batch.streams.fork("posterior").normal(self.latent_dim).to(mean)
        # 2. The diffusion plugin's own training step on the latents.
        losses = self.prior.train_step(Batch(z, batch.y, batch.streams, batch.step))
        # 3. After the last step: the bound's reverse variances, fitted on training latents.
        if batch.step + 1 == settings.steps:
            self.fit_reverse_variances()
        return losses

    @torch.no_grad()
    def fit_reverse_variances(self) -> Tensor:
        """The prior's bound variances (Bao et al. 2022), fitted on one posterior draw of each
        training digit's latent (keyed streams: deterministic)."""
        data = self.training_data()
        assert data.y is not None  # the digits come with their classes
        mean, scale = self.vae.posterior(data.x.to(self.device), data.y.to(self.device))
        streams = KeyedStreams.for_range(0, 0, len(data), device=self.device).fork("variance-z")
        z = mean + scale * streams.normal(self.latent_dim).to(mean)
        return self.prior.fit_reverse_variances(z, data.y)

    def training_report(self) -> Mapping[str, float]:
        from genproto.metrics import conditional_accuracy

        labels = torch.arange(200) % CLASSES
        samples = self.sample(200, condition=labels, seed=0, steps=20)
        return {"accuracy@20": conditional_accuracy(samples, labels)}


def build(*, hidden: int = DEFAULTS["hidden"], blocks: int = DEFAULTS["blocks"],
          init_seed: int = DEFAULTS["init_seed"]) -> LatentDiffusion:
    """The factory behind ``genproto.registry.get("latent_diffusion", ...)``: the prior around
    the frozen first stage, the VAE plugin's shipped autoencoder fetched through the registry."""
    vae = registry.default().get("vae")
    if not isinstance(vae, VAE):
        raise PluginError(
            f"latent_diffusion needs the genproto-vae plugin's model under 'vae', got "
            f"{type(vae).__name__}", value=type(vae).__name__, allowed="genproto_vae.VAE",
            fix="pip install genproto-vae (and no other plugin registering 'vae')",
        )
    return LatentDiffusion(vae, hidden=hidden, blocks=blocks, init_seed=init_seed)
