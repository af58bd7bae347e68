"""A conditional variational autoencoder: genproto's latent-variable paradigm in one file.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes" (ICLR) -- the VAE, the ELBO and the
reparameterisation trick; Sohn, Lee & Yan 2015, "Learning Structured Output Representation using
Deep Conditional Generative Models" (NeurIPS) -- the conditional form; Burda, Grosse &
Salakhutdinov 2016, "Importance Weighted Autoencoders" (ICLR) -- the tighter bound L_k.

The model, for a digit x (64 pixels, levels 0..16) and its class c::

    p(z)        = N(0, I)                                    z in R^d
    p(x | z, c) = prod_j P_j(x_j ; f(z, c)_j)                 a distribution over 17 levels a pixel
    q(z | x, c) = N(mu(x, c), diag sigma(x, c)^2)             the encoder (amortised posterior)

The ELBO (Kingma & Welling eq. 3, with the analytic KL of their appendix B)::

    L(x) = E_q[log p(x | z, c)] - KL(q(z | x, c) || p(z))  <=  log p(x | c)

and the importance-weighted bound with k samples (Burda et al. eq. 8, theorem 1)::

    L_k(x) = E[ log (1/k) sum_i p(x | z_i, c) p(z_i) / q(z_i | x, c) ],   z_i ~ q(z | x, c)
    L(x) = L_1 <= L_2 <= ... <= L_k  ->  log p(x | c)   as k -> infinity.

P_j is a discretised logistic (Salimans et al. 2017, "PixelCNN++", eq. 2; the default: two
numbers a pixel and an ordinal prior, which overfits the 1,438 training digits far less) or a free
categorical over the 17 levels (``decoder="categorical"``).

On the toy 2-D densities (``dataset="eight_gaussians"`` ...) the model is unconditional and the
decoder is a diagonal Gaussian N(m(z), diag s(z)^2); the bounds are then on a density.

Sampling is one decoder pass: z ~ N(0, latent_scale^2 I), then each pixel's level is drawn from its
categorical (``output="sample"``) or taken as its most likely level (``output="mode"``). Every
random number -- the training noise, the latent, the pixel draws, the importance samples -- comes
from genproto's keyed streams, so results depend on (seed, sample index) only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto.data import DIGITS_EVENT, TOY2D_EVENT, TOY2D_NAMES, Dataset, load_digits, load_toy2d
from genproto.errors import ConditionError, InputError, InvalidArgumentError, OptionError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, ConditionSpec, Likelihood, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import (
    Batch,
    TrainSettings,
    held_out_bits_per_dim,
    require_setup,
    seeded_init,
    warmup_cosine,
)
from genproto.validation import check_condition, check_x
from genproto_vae.bounds import gauss_kl, gauss_log_prob, iwae_bound

__all__ = ["DATASETS", "PRETRAINED", "VAE", "capabilities", "interpolation_strip"]

DATASETS: tuple[str, ...] = ("digits", *TOY2D_NAMES)
DECODERS: tuple[str, ...] = ("categorical", "logistic")
LEVELS = 17  # grey levels 0..16 of a digit pixel
CLASSES = 10
#: The configuration of the shipped weights (``weights/digits``; the registry loads them).
DEFAULTS: dict[str, Any] = {"dataset": "digits", "latent_dim": 16, "hidden": 256,
                            "decoder": "logistic"}
INIT_SEED = 0
TOY_TRAIN_STEPS = 30_000  # training steps on a toy 2-D density (3,000 on digits)
#: The configurations whose weights ship (``weights/<dataset>``), at the default sizes.
PRETRAINED: tuple[str, ...] = ("digits", "grid25", "two_moons")


def capabilities(dataset: str = "digits") -> Capabilities:
    """What a VAE on ``dataset`` declares."""
    digits = dataset == "digits"
    return Capabilities(
        paradigms=(Paradigm.LATENT_VARIABLE,),
        likelihood=Likelihood.BOUND,
        cost=SampleCost.single_pass(),
        event=DIGITS_EVENT if digits else TOY2D_EVENT,
        condition=ConditionSpec(CLASSES, "digit class") if digits else None,
        objective="maximise the ELBO: E_q[log p(x|z,c)] - KL(q(z|x,c) || N(0, I)), "
        "reparameterised, KL warm-up",
        sampling="z ~ N(0, I), one decoder pass; each pixel's level drawn from its decoder "
        "distribution (output='sample', default) or its most likely level (output='mode')"
        if digits
        else "z ~ N(0, I), one decoder pass; x ~ N(m(z), diag s(z)^2) or x = m(z) (mode)",
    )


class MLP(nn.Module):
    """in -> hidden -> hidden -> out with SiLU between (the encoder and decoder bodies)."""

    def __init__(self, n_in: int, hidden: int, n_out: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_in, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, n_out),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(h)
        return out


class Encoder(nn.Module):
    """q(z | x, c): features of x (and the class one-hot) -> posterior mean and scale."""

    def __init__(self, n_x: int, n_c: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.body = MLP(n_x + n_c, hidden, 2 * latent_dim)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = x if c is None else torch.cat([x, c], dim=-1)  # (B, D + C)
        mean, raw = self.body(h).chunk(2, dim=-1)  # (B, d) each
        return mean, F.softplus(raw) + 1e-4


class Decoder(nn.Module):
    """f(z, c): latent (and class one-hot, possibly blended) -> per-dimension parameters."""

    def __init__(self, latent_dim: int, n_c: int, hidden: int, dims: int, params: int) -> None:
        super().__init__()
        self.dims, self.params = dims, params
        self.body = MLP(latent_dim + n_c, hidden, dims * params)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        h = z if c is None else torch.cat([z, c], dim=-1)  # (N, d + C)
        out: torch.Tensor = self.body(h)  # (N, D P)
        return out.reshape(-1, self.dims, self.params)  # (N, D, P)


MAX_LATENT_SCALE = 10.0  # z ~ N(0, s^2 I) far beyond the prior the decoder was trained on
MAX_IMPORTANCE_SAMPLES = 10_000  # k decoder passes per row: 10^4 is seconds, 10^6 was minutes

def _class_labels(condition: object) -> torch.Tensor | None:
    """A checked class condition: its labels tensor (the VAE's only condition kind), or None."""
    return condition if isinstance(condition, torch.Tensor) else None


class VAE(Model):
    """A (conditional) VAE: ELBO training, ELBO / IWAE likelihood bounds, one-pass sampling."""

    sample_options = (
        Option("output", str, "sample", "draw each pixel from its categorical, or take its mode",
               choices=("sample", "mode")),
        Option("latent_scale", float, 1.0, "standard deviation s of the prior draw "
               "z ~ N(0, s^2 I) (1: the model's own prior)",
               minimum=0.0, exclusive_minimum=True, maximum=MAX_LATENT_SCALE),
    )
    likelihood_options = (
        Option("k", int, 1, "importance samples: 1 gives the ELBO, k > 1 the IWAE bound L_k",
               minimum=1, maximum=MAX_IMPORTANCE_SAMPLES),
    )

    def __init__(
        self, *, dataset: str = "digits", latent_dim: int = 16, hidden: int = 256,
        decoder: str = "logistic",
    ) -> None:
        if dataset not in DATASETS:
            raise InvalidArgumentError("VAE dataset", value=dataset, allowed=" | ".join(DATASETS))
        if decoder not in DECODERS:
            raise InvalidArgumentError("VAE decoder", value=decoder, allowed=" | ".join(DECODERS))
        self.decoder_kind = decoder
        super().__init__(capabilities(dataset), name="vae")
        self.dataset, self.latent_dim, self.hidden = dataset, latent_dim, hidden
        self.digits = dataset == "digits"
        self.encoder, self.decoder = self._fresh_networks()
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def _fresh_networks(self) -> tuple[Encoder, Decoder]:
        """Encoder and decoder initialised from ``INIT_SEED`` (global RNG left untouched)."""
        dims = self.capabilities.event.dimension  # D: 64 pixels or 2 coordinates
        n_c = CLASSES if self.digits else 0
        per_dim = LEVELS if self.digits and self.decoder_kind == "categorical" else 2
        with seeded_init(INIT_SEED):
            encoder = Encoder(dims, n_c, self.hidden, self.latent_dim)
            decoder = Decoder(self.latent_dim, n_c, self.hidden, dims, per_dim)
        return encoder.to(self.device), decoder.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    # -- the pieces of the maths ----------------------------------------------------------

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder input: levels scaled to [0, 1] (digits) or the raw point (toy), (B, D)."""
        flat = x.reshape(x.shape[0], -1)
        return flat.float() / (LEVELS - 1) if self.digits else flat.float()

    def _onehot(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        if not self.digits:
            return None
        if labels is None:
            raise ConditionError("the conditional VAE needs the class here", value=None,
                                 allowed=f"labels in 0..{CLASSES - 1}",
                                 fix="Pass condition=<digit class>")
        return F.one_hot(labels, CLASSES).float()  # (B, C)

    def _level_logits(self, params: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (up to a constant per pixel) of the 17 levels, (N, D, 17).

        Categorical: the decoder's logits themselves. Discretised logistic (Salimans et al. 2017,
        eq. 2): with level k at u_k = 2k/16 - 1 in [-1, 1] and bin half-width 1/16,
        P(k) = sigmoid((u_k + 1/16 - m)/s) - sigmoid((u_k - 1/16 - m)/s), the end bins taking
        the tails; in logs, log(sigmoid(a) - sigmoid(b)) = a + log(-expm1(b - a)) - softplus(a)
        - softplus(b) keeps every bin finite.
        """
        if self.decoder_kind == "categorical":
            return params
        m, log_s = params[..., :1], params[..., 1:].clamp(-7.0, 3.0)  # (N, D, 1) each
        u = torch.linspace(-1.0, 1.0, LEVELS, device=params.device)  # (17,)
        half = 1.0 / (LEVELS - 1)
        a = (u + half - m) * torch.exp(-log_s)  # (N, D, 17) upper edges
        b = (u - half - m) * torch.exp(-log_s)  # (N, D, 17) lower edges
        inner = a + torch.log(-torch.expm1(b - a)) - F.softplus(a) - F.softplus(b)
        first = -F.softplus(-a[..., :1])  # log sigmoid(a_0): everything below level 0's top
        last = -F.softplus(b[..., -1:])  # log (1 - sigmoid(b_16))
        return torch.cat([first, inner[..., 1:-1], last], dim=-1)

    def _log_px(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """log p(x | z, c) summed over dimensions; params (N, D, P), x (N, D) -> (N,)."""
        if self.digits:
            logp = self._level_logits(params).log_softmax(-1)  # (N, D, 17)
            return logp.gather(-1, x.long().unsqueeze(-1)).squeeze(-1).sum(-1)
        mean, log_scale = params.unbind(-1)  # (N, D) each
        return gauss_log_prob(x, mean, log_scale.clamp(-7.0, 5.0).exp())

    def _elbo(
        self, x: torch.Tensor, onehot: torch.Tensor | None, eps: torch.Tensor, beta: float = 1.0
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction - beta KL, reconstruction, KL) per row, with z = mu + sigma eps."""
        # 1. posterior q(z | x, c) and a reparameterised sample from it (Kingma & Welling eq. 4)
        mean, scale = self.encoder(self._features(x), onehot)  # (B, d)
        z = mean + scale * eps  # (B, d)
        # 2. reconstruction term log p(x | z, c), one Monte Carlo sample
        recon = self._log_px(x.reshape(x.shape[0], -1), self.decoder(z, onehot))  # (B,)
        # 3. analytic KL(N(mean, scale^2) || N(0, I)) (appendix B)
        kl = gauss_kl(mean, scale).sum(-1)  # (B,)
        return recon - beta * kl, recon, kl

    def _iwae(
        self, x: torch.Tensor, onehot: torch.Tensor | None, streams: KeyedStreams, k: int
    ) -> torch.Tensor:
        """L_k per row (Burda et al. eq. 8) through :func:`~genproto_vae.bounds.iwae_bound`."""
        flat = x.reshape(x.shape[0], -1)  # (B, D)
        mean, scale = self.encoder(self._features(x), onehot)  # (B, d)

        def log_px(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            cond = None if onehot is None else onehot[rows]
            return self._log_px(flat[rows], self.decoder(z, cond))

        return iwae_bound(mean, scale, log_px, streams, k)

    # -- the genproto primitives ----------------------------------------------------------

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        # 1. z ~ N(0, s^2 I) from each sample's stream (s = 1, the default, costs no pass)
        z = streams.normal(self.latent_dim).to(self.device)  # (B, d)
        if options["latent_scale"] != 1.0:
            z = options["latent_scale"] * z
        # 2. one decoder pass, and the events it describes
        return self.decode_batch(z, condition, streams, output=options["output"])

    # -- the primitives a hybrid reuses (no validation: the caller's inputs are validated) ---

    def posterior(
        self, x: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, c): mean and scale, (B, d) each, for a batch of events and labels."""
        mean, scale = self.encoder(self._features(x), self._onehot(labels))
        return mean, scale

    def decode_batch(
        self, z: torch.Tensor, labels: torch.Tensor | None, streams: KeyedStreams,
        *, output: str = "sample",
    ) -> torch.Tensor:
        """Events (B, *event) from latents z (B, d): ONE decoder evaluation, then each pixel's
        level drawn from the keyed streams (``output="sample"``) or its mode (``"mode"``)."""
        return self._events(z, self._onehot(labels), streams, output)

    def _events(
        self, z: torch.Tensor, onehot: torch.Tensor | None, streams: KeyedStreams, output: str
    ) -> torch.Tensor:
        """The decoder pass and the draw behind ``decode_batch`` and ``decode``; ``onehot`` may
        blend two classes (``interpolate``)."""
        params: torch.Tensor = self.decoder(z, onehot)  # (B, D, P)
        shape = (z.shape[0], *self.capabilities.event.shape)
        if self.digits:
            # a level per pixel: Gumbel-max draw from the keyed streams, or the argmax
            logits = self._level_logits(params)  # (B, 64, 17)
            levels = streams.categorical(logits) if output == "sample" else logits.argmax(-1)
            return levels.reshape(shape)  # (B, 8, 8)
        mean, log_scale = params.unbind(-1)  # (B, 2) each
        if output == "mode":
            return mean
        return mean + log_scale.clamp(-7.0, 5.0).exp() * streams.normal(2).to(self.device)

    def log_px(
        self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """log p(x | z, c) in nats, (B,), for events x (B, *event) and latents z (B, d)."""
        return self._log_px(x.reshape(x.shape[0], -1), self.decoder(z, self._onehot(labels)))

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        k: int = options.get("k", 1)
        onehot = self._onehot(condition)
        draws = streams.fork("bound")
        if k == 1:  # the ELBO, analytic KL and one reconstruction sample
            return self._elbo(x, onehot, draws.normal(self.latent_dim).to(self.device))[0]
        return self._iwae(x, onehot, draws, k)

    def bytes_per_sample(self, **options: Any) -> int:
        params = self.decoder.dims * self.decoder.params
        return 4 * 4 * (self.latent_dim + 3 * self.hidden + 3 * params)

    # -- the latent space -----------------------------------------------------------------

    def encode(
        self, x: torch.Tensor, condition: int | torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and scale of q(z | x, c), each (N, d), for events x (N, *event)."""
        data = check_x(x, self.capabilities.event, model=self.name, device=self.device)
        labels = check_condition(condition, data.shape[0], self.capabilities.condition,
                                 model=self.name, device=self.device)
        with torch.inference_mode():
            mean, scale = self.encoder(self._features(data), self._onehot(_class_labels(labels)))
        return mean, scale

    def decode(
        self, z: torch.Tensor, condition: int | torch.Tensor | None = None, *,
        output: str = "mode", seed: int = 0,
    ) -> torch.Tensor:
        """Events (N, *event) from latents z (N, d): each pixel's most likely level
        (``output="mode"``, the default here) or a draw from the streams of ``seed``
        (``output="sample"``), as the sample option ``output``."""
        onehot = None
        if self.digits:
            labels = check_condition(condition, z.shape[0], self.capabilities.condition,
                                     model=self.name, device=self.device)
            onehot = self._onehot(_class_labels(labels))
        return self._decode(z, onehot, output, seed)

    def _decode(
        self, z: torch.Tensor, onehot: torch.Tensor | None, output: str, seed: int
    ) -> torch.Tensor:
        if output not in ("mode", "sample"):
            raise OptionError("decode() output", option="output", value=output,
                              allowed="'mode' | 'sample'")
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise InputError("decode() z shape", value=tuple(z.shape),
                             allowed=f"(N, {self.latent_dim})")
        streams = KeyedStreams.for_range(seed, 0, z.shape[0], device=self.device)
        with torch.inference_mode():
            return self._events(z.to(self.device, torch.float32), onehot, streams, output)

    def interpolate(
        self, start: torch.Tensor, end: torch.Tensor, steps: int = 8, *,
        condition: int | tuple[int, int] | None = None, seed: int = 0,
    ) -> torch.Tensor:
        """``steps`` decoded events on the line between the posterior means of two events
        (:class:`genproto.protocol.Interpolates`).

        start, end: single events (``event.shape``). ``condition``: one class for the whole
        line, or a pair (c0, c1) whose one-hot codes are blended along with z (morphing one
        digit class into another). Returns (steps, *event.shape), each decoded with its mode
        (deterministic: ``seed`` is unused).
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise InvalidArgumentError("interpolate() steps", value=steps, allowed="an int >= 2")
        if self.digits and condition is None:
            raise ConditionError("interpolate() needs the class of the digits", value=None,
                                 allowed="an int class or a pair (c0, c1)",
                                 fix="Pass condition=<class> or condition=(c0, c1)")
        pair = (condition, condition) if not isinstance(condition, tuple) else condition
        ends = torch.stack([torch.as_tensor(start), torch.as_tensor(end)])  # (2, *event)
        labels: Any = None if not self.digits else torch.as_tensor(pair)
        mean, _ = self.encode(ends, labels)  # (2, d)
        t = torch.linspace(0.0, 1.0, steps, device=self.device)[:, None]  # (steps, 1)
        z = (1 - t) * mean[0] + t * mean[1]  # (steps, d)
        onehot = None
        if self.digits:
            hot = self._onehot(torch.as_tensor(pair, device=self.device))  # (2, C)
            assert hot is not None
            onehot = (1 - t) * hot[0] + t * hot[1]  # (steps, C)
        return self._decode(z, onehot, "mode", 0)

    def interpolation_strip(
        self, steps: int = 8, *, pairs: int = 4, seed: int = 0, condition: int | None = None
    ) -> torch.Tensor:
        """See :func:`interpolation_strip`."""
        return interpolation_strip(self, steps, pairs=pairs, seed=seed, condition=condition)

    # -- training (genproto.training.Trainable) -------------------------------------------

    def training_data(self) -> Dataset:
        return load_digits("train") if self.digits else load_toy2d(self.dataset)

    def training_defaults(self) -> TrainSettings:
        if self.digits:
            return TrainSettings(steps=3000, batch_size=128, lr=1e-3, seed=0,
                                 save_every=1000, report_every=500)
        # a toy density's point is cheap; separated modes need the steps (grid25: KL bound
        # 1.26 nats at 30,000 steps against 1.92 at 3,000)
        return TrainSettings(steps=TOY_TRAIN_STEPS, batch_size=128, lr=1e-3, seed=0,
                             save_every=5000, report_every=5000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        """Adam on both networks, which restart from the seeded initialisation.

        Restarting (even from the shipped weights) makes ``genproto train vae -o DIR`` reproduce
        the shipped weights; ``--resume`` then loads the saved state over it.
        """
        self._settings = settings
        encoder, decoder = self._fresh_networks()
        self.encoder.load_state_dict(encoder.state_dict())
        self.decoder.load_state_dict(decoder.state_dict())
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        self._optimizer = torch.optim.Adam(params, lr=settings.lr)
        for net in self.networks().values():
            net.train()
        return {"adam": self._optimizer}

    def train_step(self, batch: Batch) -> Mapping[str, float]:
        optimizer = require_setup(self._optimizer, model=self.name)
        settings = require_setup(self._settings, model=self.name)
        # Cosine decay of the learning rate (no warm-up); linear warm-up of the KL weight beta.
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps)
        beta = min(1.0, (batch.step + 1) / max(1, settings.steps // 10))
        for group in optimizer.param_groups:
            group["lr"] = lr
        onehot = self._onehot(batch.y) if self.digits else None
        eps = batch.streams.normal(self.latent_dim).to(self.device)  # (B, d), keyed by example
        objective, recon, kl = self._elbo(batch.x, onehot, eps, beta)
        loss = -objective.mean()
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        optimizer.step()
        return {"loss": float(loss.detach()), "recon": float(-recon.detach().mean()),
                "kl": float(kl.detach().mean()),
                "beta": beta}

    def training_report(self) -> Mapping[str, float]:
        if not self.digits:
            return {}
        return {"test_elbo_bpd": held_out_bits_per_dim(self, load_digits("test"))}


def interpolation_strip(
    model: VAE, steps: int = 8, *, pairs: int = 4, seed: int = 0, condition: int | None = None
) -> torch.Tensor:
    """Rows of latent interpolations between test-set digits, for a picture.

    Picks ``pairs`` pairs of digits from the test split with keyed streams of ``seed`` (of class
    ``condition`` if given, else of any classes, whose one-hot codes are then blended too), and
    returns (pairs * steps, 8, 8) levels, row by row: draw it with
    ``genproto.pictures.image_grid(strip, levels=17, columns=steps)``.
    """
    if not model.digits:
        raise InvalidArgumentError("interpolation strip", value=model.dataset,
                                   allowed="a VAE on dataset='digits'",
                                   fix="Plot toy2d samples with `genproto sample` instead")
    for what, value in (("steps", steps), ("pairs", pairs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < (2 if what ==
                                                                            "steps" else 1):
            raise InvalidArgumentError(f"interpolation_strip() {what}", value=value,
                                       allowed=f"an int >= {2 if what == 'steps' else 1}")
    test = load_digits("test")
    pool = torch.arange(len(test))
    if condition is not None:
        check_condition(condition, 1, model.capabilities.condition, model=model.name)
        assert test.y is not None
        pool = (test.y == condition).nonzero().reshape(-1)
    streams = KeyedStreams.for_range(seed, 0, pairs).fork("interpolate")
    picks = pool[streams.randint(len(pool), 2)]  # (pairs, 2) test rows
    rows = []
    for a, b in picks.tolist():
        assert test.y is not None
        ends: int | tuple[int, int] = (int(test.y[a]), int(test.y[b]))
        rows.append(model.interpolate(test.x[a], test.x[b], steps, condition=ends))
    return torch.cat(rows)  # (pairs * steps, 8, 8)
