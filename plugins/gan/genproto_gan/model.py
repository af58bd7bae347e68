"""A class-conditional GAN for the 8x8 digits: the adversarial paradigm of genproto.

The maths, with the papers it comes from:

* **The game** (Goodfellow et al. 2014, "Generative Adversarial Nets"). A generator
  ``G(z, c)`` maps a latent ``z ~ N(0, I)`` and a class ``c`` to an image; a
  discriminator ``D(x, c)`` scores how real an image looks. With the hinge loss
  (Lim & Ye 2017; Miyato et al. 2018, eq. 17)::

      L_D = E_x[max(0, 1 - D(x, c))] + E_z[max(0, 1 + D(G(z, c), c))]
      L_G = -E_z[D(G(z, c), c)]

  or the non-saturating loss of Goodfellow et al. 2014 (section 3):
  ``L_D = softplus(-D(x)) + softplus(D(G(z)))``, ``L_G = softplus(-D(G(z)))``.
* **Projection discriminator** (Miyato & Koyama 2018, "cGANs with Projection
  Discriminator", eq. 3): ``D(x, c) = psi(phi(x)) + <embed(c), phi(x)>``, the class
  entering as an inner product with the features instead of as an input.
* **Spectral normalisation** (Miyato et al. 2018, "Spectral Normalization for
  GANs"): every weight of D divided by its largest singular value (one power
  iteration a forward pass), so D is 1-Lipschitz per layer.
* **Two time-scale update rule** (Heusel et al. 2017, "GANs Trained by a Two
  Time-Scale Update Rule Converge to a Local Nash Equilibrium"): D learns
  ``lr_ratio`` times faster than G.
* **EMA of the generator** (Karras et al. 2018, "Progressive Growing of GANs",
  section A.1; Yazici et al. 2019): samples come from an exponential moving
  average of G's weights, which averages out the game's oscillations.

Data and samples. Digits are levels ``0..16``; training sees them *dequantised*
into ``(-1, 1)``: ``x' = 2 (x + u) / 17 - 1`` with ``u ~ U(0, 1)`` (so real images
are continuous and D cannot tell fakes by their being off the lattice). G ends in
``tanh``; a sample ``g`` goes back to a level by the inverse map, ``floor((g + 1)
17 / 2)`` clamped to ``0..16``, i.e. the cell ``g`` lands in (rounding of
``(g + 1) 17 / 2 - 1/2``).

Sampling is one generator pass (``SampleCost.single_pass()``). The ``truncation``
option draws ``z`` from a normal truncated to ``[-t, t]`` (the "truncation trick",
Brock et al. 2019, "Large Scale GAN Training", section 3.1), trading diversity
for quality. A GAN defines no density, so ``log_likelihood`` raises
``LikelihoodUnavailable``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto.data import TOY2D_EVENT, Dataset, load_digits, load_toy2d
from genproto.errors import LikelihoodUnavailable
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    Capabilities,
    Condition,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init

__all__ = ["GAN", "LEVELS", "PRETRAINED", "capabilities"]

LEVELS = 17  # grey levels of a digit pixel, 0..16
MAX_TRUNCATION = 10.0  # N(0, 1) mass beyond 10 is ~1e-23: larger t is no truncation
CLASSES = 10
#: Width of the networks on a toy 2-D density (256 on digits): the 5x5 grid's precision is 0.66 at
#: 128 units and 10,000 steps against 0.57 at 256 units and 5,000 steps, in a quarter of the bytes.
TOY_HIDDEN = 128
TOY_TRAIN_STEPS = 10_000
#: The configurations whose weights ship (``weights/<dataset>``), at the default sizes.
PRETRAINED: tuple[str, ...] = ("digits", "grid25", "two_moons")
DIGITS_EVENT = EventSpace.discrete((8, 8), LEVELS)
EMBED_DIM = 32  # size of G's class embedding

NO_DENSITY = (
    "A GAN defines no density: its generator pushes a latent through a network onto a "
    "thin set, and the adversarial objective never evaluates p(x). For log-likelihoods use "
    "a model that has one: genproto.registry.find(likelihood='exact'), 'bound' or 'estimate'"
)


def capabilities(dataset: str = "digits") -> Capabilities:
    """What the GAN declares for ``dataset``: no likelihood, one generator pass."""
    digits = dataset == "digits"
    return Capabilities(
        paradigms=(Paradigm.ADVERSARIAL,),
        likelihood=Likelihood.NONE,
        cost=SampleCost.single_pass(),
        event=DIGITS_EVENT if digits else TOY2D_EVENT,
        condition=ConditionSpec(CLASSES, "digit class") if digits else None,
        objective="adversarial game (hinge or non-saturating loss) against a "
        + ("projection " if digits else "")
        + "discriminator",
        sampling="z ~ N(0, I) (optionally truncated), one pass of the EMA generator"
        + (", quantised to levels 0..16" if digits else ""),
    )


class Generator(nn.Module):
    """``G(z, c)``: latent (and class embedding) through a ReLU MLP to ``out_dim`` values."""

    def __init__(
        self, latent_dim: int, hidden: int, out_dim: int, num_classes: int, squash: bool
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, EMBED_DIM) if num_classes else None
        width = latent_dim + (EMBED_DIM if num_classes else 0)
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )
        self.squash = squash

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = z  # (B, Z)
        if self.embed is not None and c is not None:
            h = torch.cat([z, self.embed(c)], dim=1)  # (B, Z + E)
        out: torch.Tensor = self.net(h)  # (B, D)
        return torch.tanh(out) if self.squash else out


class Discriminator(nn.Module):
    """``D(x, c) = psi(phi(x)) + <embed(c), phi(x)>`` (projection; Miyato & Koyama 2018)."""

    def __init__(self, in_dim: int, hidden: int, num_classes: int, spectral: bool) -> None:
        super().__init__()

        def sn(module: nn.Module) -> nn.Module:
            return nn.utils.parametrizations.spectral_norm(module) if spectral else module

        self.phi = nn.Sequential(
            sn(nn.Linear(in_dim, hidden)), nn.LeakyReLU(0.2),
            sn(nn.Linear(hidden, hidden)), nn.LeakyReLU(0.2),
            sn(nn.Linear(hidden, hidden)), nn.LeakyReLU(0.2),
        )
        self.psi = sn(nn.Linear(hidden, 1))
        self.embed = sn(nn.Embedding(num_classes, hidden)) if num_classes else None

    def forward(self, x: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = self.phi(x)  # (B, H)
        score: torch.Tensor = self.psi(h).squeeze(1)  # (B,)
        if self.embed is not None and c is not None:
            score = score + (self.embed(c) * h).sum(dim=1)  # + <embed(c), phi(x)>
        return score


class GAN(Model):
    """The class-conditional GAN (digits) or an unconditional one (a toy 2-D density)."""

    sample_options = (
        Option(
            "truncation", float, None,
            "draw z from N(0, I) truncated to [-t, t] (None: no truncation; beyond about 6 "
            "the truncation changes nothing)",
            minimum=0.0, exclusive_minimum=True, maximum=MAX_TRUNCATION, nullable=True,
        ),
    )

    def __init__(
        self,
        *,
        dataset: str = "digits",
        latent_dim: int = 64,
        hidden: int | None = None,
        loss: str = "hinge",
        spectral_norm: bool = True,
        lr_ratio: float = 4.0,
        ema_decay: float = 0.999,
        seed: int = 0,
    ) -> None:
        super().__init__(capabilities(dataset), name="gan")
        self.dataset = dataset
        self.latent_dim = latent_dim
        self.hidden = hidden if hidden is not None else (256 if dataset == "digits" else TOY_HIDDEN)
        self.loss = loss
        self.spectral_norm = spectral_norm
        self.lr_ratio = lr_ratio
        self.ema_decay = ema_decay
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None
        self._build(seed)

    @property
    def digits(self) -> bool:
        return self.dataset == "digits"

    def _build(self, seed: int) -> None:
        """(Re)create the three networks, initialised from ``seed``."""
        out_dim = self.capabilities.event.dimension
        classes = CLASSES if self.digits else 0
        with seeded_init(seed):
            online = Generator(self.latent_dim, self.hidden, out_dim, classes, self.digits)
            self.discriminator = Discriminator(out_dim, self.hidden, classes, self.spectral_norm)
        self.generator_online = online  # trained by gradient steps
        self.generator = copy.deepcopy(online)  # its EMA: the one that samples
        self.generator.requires_grad_(False)
        for net in self.networks().values():
            net.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        # Sampling calls only "generator"; the other two are kept for training and resuming.
        return {
            "generator": self.generator,
            "discriminator": self.discriminator,
            "generator_online": self.generator_online,
        }

    # -- sampling ------------------------------------------------------------------------

    def latents(self, streams: KeyedStreams, truncation: float | None) -> torch.Tensor:
        """z for each row: N(0, I), or N(0, I) conditioned on [-t, t]^Z.  # (B, Z)"""
        if truncation is None:
            return streams.normal(self.latent_dim)
        return streams.truncated_normal(truncation, self.latent_dim)

    def to_events(self, g: torch.Tensor) -> torch.Tensor:
        """Generator output ``(B, D)`` to an event: levels (digits) or points (toy2d).

        The level is the cell ``g`` lands in, ``floor((g + 1) 17 / 2)`` clamped to ``0..16``;
        ``g >= -1`` (tanh), so the float-to-int conversion's truncation is that floor, and
        one in-place clamp of the integers does the rest (3 passes over the batch, not 5).
        """
        if not self.digits:
            return g  # (B, 2): the event's shape already
        levels = ((g + 1) * (LEVELS / 2)).to(torch.int64).clamp_(max=LEVELS - 1)  # (B, 64)
        return levels.view(-1, *DIGITS_EVENT.shape)  # (B, 8, 8)

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        # 1. Latents from the samples' own streams (truncated when asked).
        truncation = options.get("truncation")
        z = (streams.normal(self.latent_dim) if truncation is None
             else streams.truncated_normal(truncation, self.latent_dim))  # (B, Z)
        # 2. One pass of the EMA generator, then back to the event space.
        return self.to_events(self.generator(z, condition))  # (B, 8, 8) levels

    def bytes_per_sample(self, **options: Any) -> int:
        return 4 * (self.latent_dim + EMBED_DIM + 4 * self.hidden + 64) * 2

    # -- likelihood: none -----------------------------------------------------------------

    def log_likelihood(
        self,
        x: torch.Tensor,
        condition: Condition = None,
        *,
        seed: int = 0,
        batch_size: int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Always raises ``LikelihoodUnavailable``: a GAN defines no density."""
        raise LikelihoodUnavailable(self.name, [p.value for p in self.capabilities.paradigms],
                                    fix=NO_DENSITY)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        raise LikelihoodUnavailable(self.name, [p.value for p in self.capabilities.paradigms],
                                    fix=NO_DENSITY)

    # -- training (genproto.training.Trainable) -------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train") if self.digits else load_toy2d(self.dataset)

    def training_defaults(self) -> TrainSettings:
        if self.digits:
            return TrainSettings(steps=12_000, batch_size=128, lr=2e-4, seed=0,
                                 save_every=2_000, report_every=1_000)
        return TrainSettings(steps=TOY_TRAIN_STEPS, batch_size=256, lr=2e-4, seed=0,
                             save_every=2_000, report_every=2_000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        # Training always starts from a fresh initialisation seeded by settings.seed, so
        # `genproto train gan` reproduces the shipped weights whatever was loaded before.
        self._build(settings.seed)
        betas = (0.0, 0.9)  # Miyato et al. 2018's Adam settings for SN-GANs
        optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": torch.optim.Adam(self.generator_online.parameters(), lr=settings.lr,
                                          betas=betas),
            "discriminator": torch.optim.Adam(self.discriminator.parameters(),
                                              lr=settings.lr * self.lr_ratio, betas=betas),
        }
        self._optimizers = optimizers
        self.generator_online.train()
        self.discriminator.train()
        return optimizers

    def _to_model_space(self, x: torch.Tensor, streams: KeyedStreams) -> torch.Tensor:
        """Data batch to D's input ``(B, D)``: dequantised into (-1, 1) for digits."""
        flat = x.reshape(x.shape[0], -1).float()  # (B, D)
        if not self.digits:
            return flat
        u = streams.fork("dequantise").uniform(flat.shape[1]).to(flat.device)  # (B, D)
        return 2 * (flat + u) / LEVELS - 1

    def _d_losses(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def _g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.loss == "hinge":
            return -fake.mean()
        return F.softplus(-fake).mean()

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizers = require_setup(self._optimizers, model=self.name)
        streams, n = batch.streams, batch.x.shape[0]
        classes = CLASSES if self.digits else None
        g_opt, d_opt = optimizers["generator"], optimizers["discriminator"]
        # 1. Real images (dequantised) and a fake batch with uniform classes.
        real = self._to_model_space(batch.x, streams)  # (B, D)
        y_real = batch.y if classes else None
        y_fake = streams.fork("class").randint(classes) if classes else None  # (B,)
        z = streams.fork("z-discriminator").normal(self.latent_dim)  # (B, Z)
        with torch.no_grad():
            fake = self.generator_online(z, y_fake)  # (B, D)
        # 2. Discriminator step on reals and fakes in one pass (one power iteration).
        both_y = None
        if y_real is not None and y_fake is not None:
            both_y = torch.cat([y_real, y_fake])  # (2B,)
        scores = self.discriminator(torch.cat([real, fake]), both_y)  # (2B,)
        d_loss = self._d_losses(scores[:n], scores[n:])
        d_opt.zero_grad(set_to_none=True)
        torch.autograd.backward(d_loss)
        d_opt.step()
        # 3. Generator step on fresh latents.
        z = streams.fork("z-generator").normal(self.latent_dim)  # (B, Z)
        y_gen = streams.fork("class-generator").randint(classes) if classes else None
        g_loss = self._g_loss(self.discriminator(self.generator_online(z, y_gen), y_gen))
        g_opt.zero_grad(set_to_none=True)
        torch.autograd.backward(g_loss)
        g_opt.step()
        # 4. EMA of the generator's weights, with a warm-up so early steps are not frozen.
        decay = min(self.ema_decay, (1 + batch.step) / (10 + batch.step))
        with torch.no_grad():
            for avg, new in zip(self.generator.parameters(), self.generator_online.parameters(),
                                strict=True):
                avg.lerp_(new, 1 - decay)
        return {"loss_d": float(d_loss.detach()), "loss_g": float(g_loss.detach())}

    def training_report(self) -> Mapping[str, float]:
        """Conditional accuracy (1,000 samples) and unconditional mode coverage (2,000)."""
        if not self.digits:
            return {}
        from genproto.metrics import conditional_accuracy, mode_coverage

        labels = torch.arange(1000) % CLASSES
        conditional = self.sample(1000, condition=labels, seed=1234)
        coverage = mode_coverage(self.sample(2000, seed=4321))
        return {
            "accuracy": conditional_accuracy(conditional, labels),
            "classes": float(coverage.classes_present),
            "rarest": coverage.min_ratio,
        }

