"""A class-conditional sequence VAE of the 1990 US Census names (``dataset="names"``).

Bowman, Vilnis, Vinyals, Dai, Jozefowicz & Bengio 2016, "Generating Sentences from a Continuous
Space" (CoNLL) -- the sequence VAE: an RNN encoder to a Gaussian code, an RNN language model
decoder fed the code, KL annealing and word dropout against posterior collapse; Kingma &
Welling 2014 (ICLR) -- the ELBO and the reparameterisation; Sohn et al. 2015 (NeurIPS) -- the
class-conditional form; Burda et al. 2016 (ICLR) -- the importance-weighted bound L_k and the
active-unit count; Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling 2016, "Improved
Variational Inference with Inverse Autoregressive Flow" (NeurIPS), eq. 15 -- free bits.

The model, for a name x = (x_1 .. x_T) (letters, then the stop; T <= 16) and its list c::

    p(z)        = N(0, I)                                                z in R^d
    p(x | z, c) = prod_{t <= T} p(x_t | x_<t, z, c)                      a GRU decoder
    q(z | x, c) = N(mu(x, c), diag sigma(x, c)^2)                        a bidirectional GRU

The decoder's state starts at tanh(W [z; c]) and every step reads [embed(x_{t-1}); z; c], so
the code reaches every position. The product runs over the letters and the first stop only:
the stop pads the rest of the row, which carries no probability (a row of 16 letters has no
stop and is the whole product). Summed over the event space, p(x | z, c) is exactly 1.

Training maximises the ELBO on frequency-weighted draws of the train names
(:func:`~genproto.data.names_text.names_training_draws`)::

    L(x) = E_q[log p(x | z, c)] - beta * sum_j max(lambda, KL_j)

with KL_j the analytic KL of latent j averaged over the batch, beta warmed up linearly from 0
(Bowman et al., section 3.1), lambda free bits a dimension (Kingma et al. 2016, eq. 15; only
while training: the bounds use the true KL), and word dropout (Bowman et al., section 3.2): each
decoder input letter is replaced by an unknown token with probability ``WORD_DROPOUT``, so the
decoder must read the name from z. Every dropout and noise draw comes from the batch's keyed
streams.

Sampling draws z ~ N(0, I) and runs the decoder one token at a time (Bowman's design is
autoregressive): a row that has drawn its stop leaves the batch, so a sample costs at most 16
decoder evaluations (``SampleCost.per_token(16, bound=True)``), each token drawn by Gumbel-max
from the sample's stream (or its argmax, ``output="mode"``). The likelihood is the ELBO
(``k=1``) or L_k (``k > 1``) on the exact sequence likelihood above, through
:mod:`genproto_vae.bounds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genproto.data.dataset import Dataset
from genproto.data.names_text import (
    NAMES_MAX_LENGTH,
    NAMES_STOP,
    NAMES_VOCABULARY,
    NamesCodec,
    names_condition,
    names_event,
    names_training_draws,
)
from genproto.errors import ConditionError, InputError, InvalidArgumentError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import Capabilities, Likelihood, Paradigm, SampleCost
from genproto.streams import KeyedStreams
from genproto.training import Batch, TrainSettings, require_setup, seeded_init, warmup_cosine
from genproto.validation import check_condition, check_x
from genproto_vae.bounds import gauss_kl, iwae_bound

__all__ = ["NAMES_DEFAULTS", "NamesVAE", "names_capabilities"]

CLASSES = 3  # female, male, surname
BOS = NAMES_VOCABULARY  # the decoder's first input: 27
UNK = NAMES_VOCABULARY + 1  # word dropout's stand-in for a letter: 28
EMBED = 32  # character embedding width (encoder and decoder)
#: The shipped configuration's sizes (``weights/names``).
NAMES_DEFAULTS: dict[str, Any] = {"latent_dim": 16, "hidden": 256}
INIT_SEED = 0
DRAWS_PER_LIST = 100_000  # frequency-weighted training rows a list
TRAIN_STEPS = 6_000
WORD_DROPOUT = 0.25  # share of decoder input letters replaced by UNK while training
FREE_BITS = 0.1  # lambda, nats a latent dimension (Kingma et al. 2016, eq. 15)
KL_WARMUP = 0.3  # share of the steps over which beta rises from 0 to 1
ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016, section 5.2: Cov_x(E_q[z_j]) above this is active
MAX_IMPORTANCE_SAMPLES = 10_000


def names_capabilities() -> Capabilities:
    """What the names VAE declares."""
    return Capabilities(
        paradigms=(Paradigm.LATENT_VARIABLE,),
        likelihood=Likelihood.BOUND,
        cost=SampleCost.per_token(NAMES_MAX_LENGTH, bound=True),
        event=names_event(),
        condition=names_condition(),
        objective="maximise the ELBO: E_q[log p(x|z,c)] - KL(q(z|x,c) || N(0, I)) on the "
        "exact sequence likelihood; KL warm-up, free bits, word dropout",
        sampling="z ~ N(0, I), then the GRU decoder one token at a time (at most 16 "
        "evaluations; a row leaves the batch at its stop), each token drawn from the "
        "sample's stream (output='sample') or its argmax (output='mode')",
    )


class NamesEncoder(nn.Module):
    """q(z | x, c): a bidirectional GRU over the 16 tokens, its two final states and the class
    one-hot -> posterior mean and scale."""

    def __init__(self, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(NAMES_VOCABULARY, EMBED)
        self.gru = nn.GRU(EMBED, hidden // 2, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * (hidden // 2) + CLASSES, 2 * latent_dim)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, last = self.gru(self.embed(x))  # (2, B, H/2): forward and backward final states
        h = torch.cat([last[0], last[1], onehot], dim=-1)  # (B, H + C)
        mean, raw = self.head(h).chunk(2, dim=-1)  # (B, d) each
        return mean, F.softplus(raw) + 1e-4


class NamesDecoder(nn.Module):
    """p(x_t | x_<t, z, c): a GRU whose state starts at tanh(W [z; c]) (when ``state`` is None)
    and whose every input is [embed(x_{t-1}); z; c]. One call reads T inputs (T = 16 for a
    likelihood, 1 per sampling step) and returns their next-token logits and the state."""

    def __init__(self, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(UNK + 1, EMBED)
        self.init = nn.Linear(latent_dim + CLASSES, hidden)
        self.gru = nn.GRU(EMBED + latent_dim + CLASSES, hidden, batch_first=True)
        self.out = nn.Linear(hidden, NAMES_VOCABULARY)

    def forward(
        self, inputs: torch.Tensor, z: torch.Tensor, onehot: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        code = torch.cat([z, onehot], dim=-1)  # (B, d + C)
        if state is None:
            state = torch.tanh(self.init(code)).unsqueeze(0)  # (1, B, H)
        steps = inputs.shape[1]
        h_in = torch.cat([self.embed(inputs), code[:, None].expand(-1, steps, -1)], dim=-1)
        out, state = self.gru(h_in, state)  # (B, T, H), (1, B, H)
        logits: torch.Tensor = self.out(out)  # (B, T, 27)
        return logits, state


def _check_events(events: torch.Tensor, what: str, device: torch.device) -> torch.Tensor:
    """A batch of name events, validated (levels, the stop/pad rule), as int64."""
    checked = check_x(events, names_event(), model="vae", device=device)
    return checked.to(torch.int64)


class NamesVAE(NamesCodec, Model):
    """The class-conditional sequence VAE of the Census names (see the module docstring)."""

    sample_options = (
        Option("output", str, "sample", "draw each token from its categorical, or take the "
               "argmax", choices=("sample", "mode")),
        Option("latent_scale", float, 1.0, "standard deviation s of the prior draw "
               "z ~ N(0, s^2 I) (1: the model's own prior)",
               minimum=0.0, exclusive_minimum=True, maximum=10.0),
    )
    likelihood_options = (
        Option("k", int, 1, "importance samples: 1 gives the ELBO, k > 1 the IWAE bound L_k",
               minimum=1, maximum=MAX_IMPORTANCE_SAMPLES),
    )

    def __init__(self, *, latent_dim: int = 16, hidden: int = 256) -> None:
        if hidden % 2:
            raise InvalidArgumentError("names VAE hidden", value=hidden,
                                       allowed="an even width (the encoder's two directions "
                                       "take half each)")
        super().__init__(names_capabilities(), name="vae")
        self.dataset = "names"
        self.latent_dim, self.hidden = latent_dim, hidden
        self.encoder, self.decoder = self._fresh_networks()
        self._optimizer: torch.optim.Optimizer | None = None
        self._settings: TrainSettings | None = None

    def _fresh_networks(self) -> tuple[NamesEncoder, NamesDecoder]:
        with seeded_init(INIT_SEED):
            encoder = NamesEncoder(self.hidden, self.latent_dim)
            decoder = NamesDecoder(self.hidden, self.latent_dim)
        return encoder.to(self.device), decoder.to(self.device)

    def networks(self) -> Mapping[str, nn.Module]:
        return {"encoder": self.encoder, "decoder": self.decoder}

    # -- the pieces of the maths ----------------------------------------------------------

    @staticmethod
    def _onehot(labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise ConditionError("the names VAE needs the list here", value=None,
                                 allowed=f"labels in 0..{CLASSES - 1}",
                                 fix="Pass condition=<list: 0 female, 1 male, 2 surname>")
        return F.one_hot(labels.long(), CLASSES).float()  # (B, 3)

    def _log_px(self, x: torch.Tensor, z: torch.Tensor, onehot: torch.Tensor,
                inputs: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x | z, c) (B,): the chain rule over the letters and the first stop.

        ``inputs`` replaces the teacher-forced decoder inputs (word dropout while training).
        """
        if inputs is None:
            inputs = _shift(x)
        logits: torch.Tensor = self.decoder(inputs, z, onehot)[0]  # (B, 16, 27)
        logp = logits.log_softmax(-1).gather(-1, x.unsqueeze(-1)).squeeze(-1)  # (B, 16)
        return (logp * _scored(x)).sum(-1)

    def _iwae(self, x: torch.Tensor, onehot: torch.Tensor, streams: KeyedStreams,
              k: int) -> torch.Tensor:
        mean, scale = self.encoder(x, onehot)  # (B, d)

        def log_px(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
            return self._log_px(x[rows], z, onehot[rows])

        return iwae_bound(mean, scale, log_px, streams, k)

    # -- the genproto primitives ----------------------------------------------------------

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        onehot = self._onehot(condition)
        # 1. z ~ N(0, s^2 I) from each sample's stream
        z = streams.normal(self.latent_dim).to(self.device)  # (B, d)
        if options["latent_scale"] != 1.0:  # s = 1, the default, costs no pass
            z = options["latent_scale"] * z
        # 2. the decoder, one token at a time, on the rows still running
        return self._generate(z, onehot, streams.fork("tokens"), options["output"] == "mode")

    def _generate(self, z: torch.Tensor, onehot: torch.Tensor, draws: KeyedStreams | None,
                  greedy: bool) -> torch.Tensor:
        """Token rows (B, 16) decoded from z: a row that drew the stop leaves the batch (its
        remaining tokens stay the stop, the pad), so a sample costs at most 16 decoder calls."""
        batch = z.shape[0]
        x = torch.full((batch, NAMES_MAX_LENGTH), NAMES_STOP, dtype=torch.int64,
                       device=self.device)
        prev = torch.full((batch, 1), BOS, dtype=torch.int64, device=self.device)
        state: torch.Tensor | None = None
        running = torch.arange(batch, device=self.device)  # rows not yet stopped
        for t in range(NAMES_MAX_LENGTH):
            if running.numel() == 0:
                break
            logits, state = self.decoder(prev, z[running], onehot[running], state)
            logits = logits[:, 0]  # (R, 27)
            if greedy or draws is None:
                token = logits.argmax(-1)
            else:
                token = draws.select(running).categorical(logits)
            x[running, t] = token
            going = token != NAMES_STOP
            running, prev, state = running[going], token[going, None], state[:, going]
        return x

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        k: int = options.get("k", 1)
        x = x.long()
        onehot = self._onehot(condition)
        draws = streams.fork("bound")
        if k == 1:  # the ELBO: one reconstruction sample and the analytic KL
            mean, scale = self.encoder(x, onehot)
            z = mean + scale * draws.normal(self.latent_dim).to(self.device)
            return self._log_px(x, z, onehot) - gauss_kl(mean, scale).sum(-1)
        return self._iwae(x, onehot, draws, k)

    def bytes_per_sample(self, **options: Any) -> int:
        # the decoder's activations over 16 steps (3 gates of hidden width) and the logits
        return 4 * NAMES_MAX_LENGTH * (4 * self.hidden + EMBED + NAMES_VOCABULARY) * 4

    # -- the latent space -----------------------------------------------------------------

    def encode(self, x: torch.Tensor, condition: int | torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and scale of q(z | x, c), each (N, d), for name events x (N, 16)."""
        data = _check_events(x, "encode() x", self.device)
        labels = check_condition(condition, data.shape[0], self.capabilities.condition,
                                 model=self.name, device=self.device)
        if not isinstance(labels, torch.Tensor):
            raise ConditionError("encode() needs the list", value=condition,
                                 allowed=f"a class in 0..{CLASSES - 1}")
        with torch.inference_mode():
            mean, scale = self.encoder(data, self._onehot(labels))
        return mean, scale

    def interpolate(self, start: torch.Tensor, end: torch.Tensor, steps: int, *,
                    condition: Any = None, seed: int = 0) -> torch.Tensor:
        """``steps`` names on the straight line between the posterior means of two names.

        ``start``, ``end``: one event each, shape (16,), any integer dtype. ``condition``: the
        list of both (an int class), or a pair (c0, c1): ``start`` is encoded under c0, ``end``
        under c1, and the one-hot list codes are blended along the line with z (a female name
        walking into a surname). The line between the two posterior means is walked in
        ``steps`` points, endpoints included, and each point is decoded greedily (the argmax
        of every token: ``seed`` is unused, the walk is deterministic). Returns (steps, 16)
        canonical rows of the event's dtype.
        """
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
            raise InvalidArgumentError("interpolate() steps", value=steps, allowed="an int >= 2")
        if condition is None:
            raise ConditionError("interpolate() needs the list of the names", value=None,
                                 allowed="an int class (0 female, 1 male, 2 surname) or a "
                                 "pair (c0, c1)", fix="Pass condition=0, or condition=(0, 2)")
        pair = tuple(condition) if isinstance(condition, (tuple, list)) else (condition,) * 2
        if len(pair) != 2:
            raise ConditionError("interpolate() condition", value=condition,
                                 allowed="a class (or its label) or a pair (c0, c1)")
        for what, event in (("start", start), ("end", end)):
            if not isinstance(event, torch.Tensor) or tuple(event.shape) != (NAMES_MAX_LENGTH,):
                raise InputError(f"interpolate() {what}",
                                 value=tuple(event.shape) if isinstance(event, torch.Tensor)
                                 else type(event).__name__,
                                 allowed=f"one event: a tensor of shape ({NAMES_MAX_LENGTH},)",
                                 fix="Pass model.from_text(['mary'])[0]")
        labels = torch.cat([self._one_class(c) for c in pair])  # (2,)
        hot = self._onehot(labels)  # (2, 3)
        mean, _ = self.encode(torch.stack([start, end]), labels)  # (2, d)
        t = torch.linspace(0.0, 1.0, steps, device=self.device)[:, None]  # (steps, 1)
        z = (1 - t) * mean[0] + t * mean[1]  # (steps, d)
        onehot = (1 - t) * hot[0] + t * hot[1]  # (steps, 3)
        with torch.inference_mode():
            x = self._generate(z, onehot, None, greedy=True)
        return x.to(names_event().dtype)

    def _one_class(self, condition: Any) -> torch.Tensor:
        """One class condition (an int, or a label where the spec declares labels) as (1,)."""
        labels = check_condition(condition, 1, self.capabilities.condition, model=self.name,
                                 device=self.device)
        if not isinstance(labels, torch.Tensor) or labels.shape != (1,):
            raise ConditionError("interpolate() condition", value=condition,
                                 allowed=f"a class in 0..{CLASSES - 1} or a pair (c0, c1)")
        return labels

    # -- training (genproto.training.Trainable) -------------------------------------------

    def training_data(self) -> Dataset:
        return names_training_draws(DRAWS_PER_LIST, seed=0)

    def training_defaults(self) -> TrainSettings:
        return TrainSettings(steps=TRAIN_STEPS, batch_size=128, lr=2e-3, seed=0,
                             save_every=2000, report_every=1000)

    def setup_training(self, settings: TrainSettings) -> Mapping[str, torch.optim.Optimizer]:
        """Adam on both networks, restarted from the seeded initialisation, so that
        ``genproto train vae -M dataset=names -o DIR`` reproduces the shipped weights."""
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
        lr = warmup_cosine(batch.step, peak=settings.lr, total=settings.steps, warmup=200,
                           floor=0.05)
        beta = min(1.0, (batch.step + 1) / max(1, int(KL_WARMUP * settings.steps)))
        for group in optimizer.param_groups:
            group["lr"] = lr
        x = batch.x.long()
        onehot = self._onehot(batch.y)
        # 1. q(z | x, c) and z = mu + sigma eps, eps from each example's stream
        mean, scale = self.encoder(x, onehot)  # (B, d)
        z = mean + scale * batch.streams.normal(self.latent_dim).to(self.device)
        # 2. word dropout (Bowman et al. 3.2) on the decoder's letter inputs, keyed per example
        inputs = _shift(x)  # (B, 16)
        drop = batch.streams.fork("word-dropout").uniform(NAMES_MAX_LENGTH).to(self.device)
        letters = inputs < NAMES_STOP
        inputs = torch.where(letters & (drop < WORD_DROPOUT), UNK, inputs)
        recon = self._log_px(x, z, onehot, inputs)  # (B,)
        # 3. free bits (Kingma et al. 2016, eq. 15) on the batch-mean KL of each dimension
        kl_dims = gauss_kl(mean, scale).mean(0)  # (d,)
        kl_term = torch.clamp(kl_dims, min=FREE_BITS).sum()
        loss = -recon.mean() + beta * kl_term
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(loss)
        torch.nn.utils.clip_grad_norm_([*self.encoder.parameters(),
                                        *self.decoder.parameters()], 5.0)
        optimizer.step()
        kl = float(kl_dims.sum().detach())
        return {"loss": float(loss.detach()), "recon": float(-recon.detach().mean()),
                "kl": kl, "elbo": -float(-recon.detach().mean()) - kl, "beta": beta}

    def training_report(self) -> Mapping[str, float]:
        """The KL and the active units (Burda et al. 2016) on 2,000 training draws, so it is
        visible whether z is used."""
        return dict(latent_usage(self))


def latent_usage(model: NamesVAE, *, rows: int = 2000) -> dict[str, float]:
    """Mean KL(q(z | x, c) || p(z)) in nats, and the active units: dimensions j with
    Cov_x(E_q[z_j]) > 0.01 (Burda et al. 2016, section 5.2), on ``rows`` training draws."""
    data = names_training_draws(rows // CLASSES + 1, seed=1)
    assert data.y is not None
    was = model.encoder.training
    model.encoder.eval()
    with torch.inference_mode():
        mean, scale = model.encoder(data.x.to(model.device),
                                    F.one_hot(data.y, CLASSES).float().to(model.device))
    model.encoder.train(was)
    active = int((mean.var(0) > ACTIVE_THRESHOLD).sum())
    return {"kl_nats": float(gauss_kl(mean, scale).sum(-1).mean()),
            "active_units": float(active)}


def _shift(x: torch.Tensor) -> torch.Tensor:
    """Decoder inputs: BOS then x_1 .. x_15, (B, 16)."""
    return torch.cat([torch.full_like(x[:, :1], BOS), x[:, :-1]], dim=1)


def _scored(x: torch.Tensor) -> torch.Tensor:
    """1.0 at the positions the likelihood scores (letters and the first stop), (B, 16)."""
    before = torch.cumsum((x == NAMES_STOP).long(), dim=1) - (x == NAMES_STOP).long()
    return (before == 0).float()  # no stop strictly before position t
