"""A class-conditional text GAN of the 1990 US Census names: the adversarial paradigm on text.

The recipe that trains a character GAN without REINFORCE (Gulrajani et al. 2017, "Improved
Training of Wasserstein GANs", section 5, "language model"):

* **Generator** ``G(z, c)``: a latent ``z ~ N(0, I)`` concatenated with an embedding of the
  list ``c`` (0 female, 1 male, 2 surname), a linear map to ``(H, 16)``, residual blocks of
  1-D convolutions, and a 1x1 convolution to 27 logits at each of the 16 positions. In
  training its output is the *softmax* over the 27 symbols at each position, fed to the critic
  as it is: nothing is sampled inside the network, so gradients reach G without REINFORCE.
* **Critic** ``D(x, c)``: the same residual 1-D convolutions over the ``(27, 16)`` one-hot rows
  (real names) or softmax rows (fakes), a linear score, and a **projection** of the class
  (Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3):
  ``D(x, c) = psi(phi(x)) + <embed(c), phi(x)>``.
* **WGAN-GP loss** (Arjovsky et al. 2017, "Wasserstein GAN"; Gulrajani et al. 2017, eq. 3)::

      L_D = E[D(G(z, c), c)] - E[D(x, c)] + lambda E[(||grad_xhat D(xhat, c)||_2 - 1)^2]
      L_G = -E[D(G(z, c), c)]

  with ``xhat = eps x + (1 - eps) G(z, c)``, ``eps ~ U(0, 1)`` per row, ``lambda = 10``, and
  ``n_critic`` critic steps per generator step (Algorithm 1; Adam with betas (0.5, 0.9)). The
  learning rate is 1e-3, not the paper's 1e-4: on a validation slice of the train names 1e-4
  had learnt too little in the 8-minute CPU budget (docs/plugins/gan.md, "Names").
  Fakes carry the labels of the real rows they are mixed with, so ``xhat`` has one class.
* **EMA of the generator** (Karras et al. 2018, section A.1; Yazici et al. 2019): samples come
  from an exponential moving average of G's weights.

Sampling is one pass of the EMA generator (``SampleCost.single_pass()``): ``z`` from the
sample's keyed stream (sample ``i`` depends only on ``(seed, i)``), the argmax symbol at each
position, then the row made canonical: everything from the first stop on is stop, and the last
position is always a stop (a name has at most 15 letters, as :func:`encode_names` allows), so
every sample decodes with ``to_text`` and round-trips through ``from_text``. A GAN defines no
density: ``log_likelihood`` raises ``LikelihoodUnavailable``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from genproto.data.dataset import Dataset
from genproto.data.names import NAMES_LISTS
from genproto.data.names_text import (
    NAMES_MAX_LENGTH,
    NAMES_STOP,
    NAMES_VOCABULARY,
    NamesCodec,
    decode_names,
    names_condition,
    names_event,
    names_training_draws,
)
from genproto.errors import InvalidArgumentError, LikelihoodUnavailable
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, Condition, Likelihood, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init

__all__ = [
    "NAMES_HIDDEN",
    "NAMES_N_CRITIC",
    "NamesCritic",
    "NamesGAN",
    "NamesGenerator",
    "canonical_rows",
    "names_capabilities",
]

#: Channels of every convolution of G and D (docs/plugins/gan.md, "Names", says why).
NAMES_HIDDEN = 64
#: Critic steps per generator step (Gulrajani et al. 2017, Algorithm 1).
NAMES_N_CRITIC = 5
NAMES_BLOCKS = 3  # residual blocks in G and in D
NAMES_KERNEL = 5  # width of the 1-D convolutions
RESIDUAL_SCALE = 0.3  # each block adds 0.3 x its branch (Gulrajani et al.'s language model)
GP_WEIGHT = 10.0  # lambda of the gradient penalty
EMBED_DIM = 16  # G's class embedding
CRITIC_ROWS = 64  # rows of one critic step: a training batch holds n_critic of them
TRAIN_STEPS = 1_800
DRAWS_PER_LIST = 200_000
MAX_TRUNCATION = 10.0
NO_DENSITY = (
    "A GAN defines no density: the names generator pushes a latent through a network and takes "
    "the argmax symbol at each position, and the adversarial objective never evaluates p(x). "
    "For log-likelihoods of names use a model that has one: "
    "genproto.registry.find(likelihood='exact'), 'bound' or 'estimate'"
)


def names_capabilities() -> Capabilities:
    """What the names GAN declares: no likelihood, one generator pass, the list as class."""
    return Capabilities(
        paradigms=(Paradigm.ADVERSARIAL,),
        likelihood=Likelihood.NONE,
        cost=SampleCost.single_pass(),
        event=names_event(),
        condition=names_condition(),
        objective="WGAN-GP (Gulrajani et al. 2017): softmax rows of G against one-hot real rows, "
        "residual 1-D convolutional critic with class projection, n_critic critic steps a "
        "generator step",
        sampling="z ~ N(0, I) (optionally truncated), one pass of the EMA generator, argmax "
        "symbol per position, made canonical (stop after the first stop)",
    )


def canonical_rows(tokens: torch.Tensor) -> torch.Tensor:
    """Tokens ``(B, 16)`` made canonical: the last position and every position from the first
    stop on set to stop, so each row is at most 15 letters then stops."""
    tokens = tokens.clone()
    tokens[:, -1] = NAMES_STOP
    after = tokens.eq(NAMES_STOP).cumsum(dim=1) > 0  # (B, L) at or past the first stop
    return tokens.masked_fill(after, NAMES_STOP)


class _Block(nn.Module):
    """``x + 0.3 conv(relu(conv(relu(x))))``: a residual block of 1-D convolutions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        pad = NAMES_KERNEL // 2
        self.branch = nn.Sequential(
            nn.ReLU(), nn.Conv1d(channels, channels, NAMES_KERNEL, padding=pad),
            nn.ReLU(), nn.Conv1d(channels, channels, NAMES_KERNEL, padding=pad),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + RESIDUAL_SCALE * self.branch(x)  # (B, H, L)
        return out


class NamesGenerator(nn.Module):
    """``G(z, c)``: logits ``(B, 16, 27)`` from a latent and the list's embedding."""

    def __init__(self, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.embed = nn.Embedding(len(NAMES_LISTS), EMBED_DIM)
        self.project = nn.Linear(latent_dim + EMBED_DIM, hidden * NAMES_MAX_LENGTH)
        self.blocks = nn.Sequential(*(_Block(hidden) for _ in range(NAMES_BLOCKS)))
        self.out = nn.Conv1d(hidden, NAMES_VOCABULARY, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.project(torch.cat([z, self.embed(c)], dim=1))  # (B, H * L)
        h = self.blocks(h.view(-1, self.hidden, NAMES_MAX_LENGTH))  # (B, H, L)
        logits: torch.Tensor = self.out(h).transpose(1, 2)  # (B, L, V)
        return logits


class NamesCritic(nn.Module):
    """``D(x, c) = psi(phi(x)) + <embed(c), phi(x)>`` on rows of symbol distributions
    ``(B, 16, 27)`` (one-hot for real names, softmax for fakes)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Conv1d(NAMES_VOCABULARY, hidden, 1)
        self.blocks = nn.Sequential(*(_Block(hidden) for _ in range(NAMES_BLOCKS)))
        self.psi = nn.Linear(hidden * NAMES_MAX_LENGTH, 1)
        self.embed = nn.Embedding(len(NAMES_LISTS), hidden * NAMES_MAX_LENGTH)
        nn.init.zeros_(self.embed.weight)  # start unconditional; the projection is learned

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.inp(x.transpose(1, 2)))  # (B, H, L)
        phi = h.flatten(1)  # (B, H * L)
        score: torch.Tensor = self.psi(phi).squeeze(1) + (self.embed(c) * phi).sum(dim=1)
        return score  # (B,)


class NamesGAN(NamesCodec, Model):
    """The class-conditional text GAN of the Census names (``dataset="names"``)."""

    sample_options = (
        Option(
            "truncation", float, None,
            "draw z from N(0, I) truncated to [-t, t] (None: no truncation)",
            minimum=0.0, exclusive_minimum=True, maximum=MAX_TRUNCATION, nullable=True,
        ),
    )

    def __init__(self, *, latent_dim: int = 64, hidden: int | None = None,
                 n_critic: int | None = None, ema_decay: float = 0.999, seed: int = 0) -> None:
        super().__init__(names_capabilities(), name="gan")
        self.dataset = "names"
        self.latent_dim = latent_dim
        self.hidden = NAMES_HIDDEN if hidden is None else hidden
        self.n_critic = NAMES_N_CRITIC if n_critic is None else n_critic
        self.ema_decay = ema_decay
        self._optimizers: dict[str, torch.optim.Optimizer] | None = None
        self._build(seed)

    def _build(self, seed: int) -> None:
        """(Re)create the generator, its EMA copy and the critic, initialised from ``seed``."""
        with seeded_init(seed):
            online = NamesGenerator(self.latent_dim, self.hidden)
            self.critic = NamesCritic(self.hidden)
        self.generator_online = online  # trained by gradient steps
        self.generator = copy.deepcopy(online)  # its EMA: the one that samples
        self.generator.requires_grad_(False)
        for net in self.networks().values():
            net.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        # Sampling calls only "generator"; the other two are kept for training and resuming.
        return {"generator": self.generator, "critic": self.critic,
                "generator_online": self.generator_online}

    # -- sampling ------------------------------------------------------------------------

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        if condition is None:  # the engine draws classes for the marginal; never None here
            raise InvalidArgumentError("NamesGAN.sample_batch() argument 'condition'",
                                       value=None, allowed="int64 list labels (B,)")
        # 1. Latents from the samples' own streams (truncated when asked).
        truncation = options.get("truncation")
        z = (streams.normal(self.latent_dim) if truncation is None
             else streams.truncated_normal(truncation, self.latent_dim))  # (B, Z)
        # 2. One pass of the EMA generator; the argmax symbol at each position.
        tokens = self.generator(z, condition).argmax(dim=-1)  # (B, L)
        # 3. Canonical rows: letters, then stops.
        return canonical_rows(tokens).to(self.capabilities.event.dtype)

    def bytes_per_sample(self, **options: Any) -> int:
        return 4 * NAMES_MAX_LENGTH * (4 * self.hidden + NAMES_VOCABULARY) * 2

    # -- likelihood: none -----------------------------------------------------------------

    def log_likelihood(self, x: torch.Tensor, condition: Condition = None, *, seed: int = 0,
                       batch_size: int | None = None, **options: Any) -> torch.Tensor:
        """Always raises ``LikelihoodUnavailable``: a GAN defines no density."""
        raise LikelihoodUnavailable(self.name, [p.value for p in self.capabilities.paradigms],
                                    fix=NO_DENSITY)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        raise LikelihoodUnavailable(self.name, [p.value for p in self.capabilities.paradigms],
                                    fix=NO_DENSITY)

    # -- training (genproto.training.Trainable) -------------------------------------------

    def training_data(self) -> Dataset:
        return names_training_draws(DRAWS_PER_LIST, seed=0)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=TRAIN_STEPS, batch_size=CRITIC_ROWS * self.n_critic,
                             lr=1e-3, seed=0, save_every=600, report_every=600)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        # Always a fresh initialisation from settings.seed, so `genproto train gan -M
        # dataset=names` reproduces the shipped weights whatever was loaded before.
        self._build(settings.seed)
        betas = (0.5, 0.9)  # Gulrajani et al. 2017, Algorithm 1
        optimizers: dict[str, torch.optim.Optimizer] = {
            "generator": torch.optim.Adam(self.generator_online.parameters(), lr=settings.lr,
                                          betas=betas),
            "critic": torch.optim.Adam(self.critic.parameters(), lr=settings.lr, betas=betas),
        }
        self._optimizers = optimizers
        self.generator_online.train()
        self.critic.train()
        return optimizers

    def _fake(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """The generator's softmax rows ``(B, L, V)``: what the critic sees of a fake."""
        return torch.softmax(self.generator_online(z, c), dim=-1)

    def _critic_step(self, real: torch.Tensor, c: torch.Tensor, streams: KeyedStreams,
                     optimizer: torch.optim.Optimizer) -> tuple[float, float]:
        """One WGAN-GP critic update on one-hot ``real`` rows; (Wasserstein estimate, penalty)."""
        with torch.no_grad():
            fake = self._fake(streams.fork("z").normal(self.latent_dim), c)  # (B, L, V)
        eps = streams.fork("eps").uniform(1).view(-1, 1, 1)  # (B, 1, 1)
        mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)  # xhat
        scores = self.critic(torch.cat([real, fake, mixed]), torch.cat([c, c, c]))  # (3B,)
        n = real.shape[0]
        grad, = torch.autograd.grad(scores[2 * n:].sum(), mixed, create_graph=True)
        penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        distance = scores[:n].mean() - scores[n:2 * n].mean()
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(GP_WEIGHT * penalty - distance)
        optimizer.step()
        return float(distance.detach()), float(penalty.detach())

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizers = require_setup(self._optimizers, model=self.name)
        real = nn.functional.one_hot(batch.x.long(), NAMES_VOCABULARY).float()  # (B, L, V)
        labels = batch.y
        if labels is None:
            raise InvalidArgumentError("NamesGAN.train_step() batch labels", value=None,
                                       allowed="the list of each name (int64 (B,))")
        # 1. n_critic critic steps, each on its own slice of the batch.
        rows = torch.arange(real.shape[0]).chunk(self.n_critic)
        for part in rows:
            distance, penalty = self._critic_step(real[part], labels[part],
                                                  batch.streams.select(part), optimizers["critic"])
        # 2. One generator step on fresh latents, with the first slice's labels.
        first = rows[0]
        z = batch.streams.select(first).fork("z-generator").normal(self.latent_dim)
        g_loss = -self.critic(self._fake(z, labels[first]), labels[first]).mean()
        optimizers["generator"].zero_grad(set_to_none=True)
        torch.autograd.backward(g_loss)
        optimizers["generator"].step()
        # 3. EMA of the generator's weights, with a warm-up so early steps are not frozen.
        decay = min(self.ema_decay, (1 + batch.step) / (10 + batch.step))
        with torch.no_grad():
            for avg, new in zip(self.generator.parameters(), self.generator_online.parameters(),
                                strict=True):
                avg.lerp_(new, 1 - decay)
        return {"w_distance": distance, "penalty": penalty, "loss_g": float(g_loss.detach())}

    def training_report(self) -> Mapping[str, float]:
        """Validity and distinct names among 900 samples (300 per list) of the EMA generator."""
        labels = torch.arange(900) % len(NAMES_LISTS)
        texts = decode_names(self.sample(900, condition=labels, seed=1234))
        return {"valid": sum(t != "" for t in texts) / len(texts),
                "distinct": float(len(set(texts)))}
