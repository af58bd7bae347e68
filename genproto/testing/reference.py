"""Correct reference models: what passes the contract suite, and what its tests break on purpose.

* :class:`GaussianMixture` -- a class-conditional mixture of isotropic 2-D Gaussians built on
  ``torch.distributions``: class c owns components ``c, c + C, c + 2C, ...``, each picked with
  equal probability. Its default is the toy2d ``eight_gaussians`` density split into two classes
  (even and odd components), so its class marginal *is*
  ``genproto.data.toy2d("eight_gaussians")`` and that density's ``log_prob`` is its exact
  log-likelihood. One network (:class:`MixtureNet`, one call per batch), exact likelihood, or
  ``likelihood="none"`` for a model that declares no density.
* :class:`LatentGaussianMixture` -- the same density seen as a latent-variable model with the
  component z as latent, whose likelihood is a *bound* (the ELBO with an imperfect posterior
  ``q(z|x) ~ p(z|x)^(1/2)``, computed exactly; with option ``k > 1`` the IWAE bound of Burda,
  Grosse & Salakhutdinov 2016, drawn from the keyed streams); :class:`EstimatedGaussianMixture`
  declares an *estimate* instead (IWAE with 16 importance samples).
* :class:`Categorical` -- a class-conditional categorical over a tiny discrete space: events of
  shape (2,) with 3 levels (9 events), 2 classes, logits from one linear network; exact.

Every random number comes from the keyed streams, so samples do not depend on batching.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import distributions as D

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

__all__ = [
    "Categorical",
    "EstimatedGaussianMixture",
    "GaussianMixture",
    "LatentGaussianMixture",
    "MixtureNet",
]

#: The ``eight_gaussians`` toy density: 8 components of std 0.2 on a circle of radius 2.
EIGHT_MEANS = tuple(
    (2 * math.cos(2 * math.pi * k / 8), 2 * math.sin(2 * math.pi * k / 8)) for k in range(8)
)


class MixtureNet(torch.nn.Module):
    """Component means and scales of each class: ``labels (B,) -> loc (B, M, 2), scale (B, M)``."""

    def __init__(self, means: Sequence[tuple[float, float]], std: float, classes: int) -> None:
        super().__init__()
        table = torch.tensor(means, dtype=torch.float32)  # (K, 2)
        if table.shape[0] % classes:
            raise ValueError(f"{table.shape[0]} components do not split into {classes} classes")
        per_class = table.shape[0] // classes
        # component c + C j belongs to class c: (K, 2) -> (M, C, 2) -> (C, M, 2)
        self.loc = torch.nn.Parameter(table.reshape(per_class, classes, 2).transpose(0, 1).clone())
        self.log_scale = torch.nn.Parameter(torch.full((classes, per_class), math.log(std)))

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.loc[labels], self.log_scale[labels].exp()  # (B, M, 2), (B, M)


class GaussianMixture(Model):
    """Class-conditional 2-D Gaussian mixture; exact likelihood (or none); one pass."""

    def __init__(
        self,
        *,
        means: Sequence[tuple[float, float]] = EIGHT_MEANS,
        std: float = 0.2,
        classes: int | None = 2,
        likelihood: Likelihood = Likelihood.EXACT,
        name: str = "gaussian_mixture",
    ) -> None:
        if likelihood not in self._kinds():
            raise ValueError(f"{type(self).__name__} likelihood must be one of {self._kinds()}")
        super().__init__(
            Capabilities(
                paradigms=self._paradigms(),
                likelihood=likelihood,
                cost=SampleCost.single_pass(),
                event=EventSpace.continuous((2,)),
                condition=None if classes is None else ConditionSpec(classes, "mixture half"),
                objective="maximum likelihood",
                sampling="pick a component of the class, add its Gaussian noise (one pass)",
            ),
            name=name,
        )
        self.classes = classes or 1
        self.net = MixtureNet(means, std, self.classes)
        self.net.eval()

    @staticmethod
    def _kinds() -> tuple[Likelihood, ...]:
        return (Likelihood.EXACT, Likelihood.NONE)

    @staticmethod
    def _paradigms() -> tuple[Paradigm, ...]:
        return (Paradigm.FLOW,)

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"mixture": self.net}

    def _labels(self, condition: torch.Tensor | None, batch: int) -> torch.Tensor:
        if condition is None:  # unconditional: the one class
            return torch.zeros(batch, dtype=torch.int64, device=self.device)
        return condition

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        loc, scale = self.mixture(self._labels(condition, len(streams)))  # (B, M, 2), (B, M)
        # 1. a component of the sample's class, uniformly: z ~ Uniform{0..M-1}
        z = streams.randint(loc.shape[1])  # (B,)
        rows = torch.arange(len(streams), device=loc.device)
        # 2. its Gaussian: x = mu_z + sigma_z eps, eps ~ N(0, I)
        eps = streams.normal(2)  # (B, 2)
        return loc[rows, z] + scale[rows, z, None] * eps

    def mixture(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One network evaluation: component means (B, M, 2) and scales (B, M) of each class."""
        loc, scale = self.net(labels)
        return loc, scale

    def components(self, x: torch.Tensor, condition: torch.Tensor | None) -> D.Distribution:
        """``p(x | z, c)`` for every component z of each row's class, batch shape (B, M)."""
        loc, scale = self.mixture(self._labels(condition, x.shape[0]))
        return D.Independent(D.Normal(loc, scale[..., None]), 1)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        comp = self.components(x, condition)
        weights = D.Categorical(logits=torch.zeros(comp.batch_shape, device=x.device))
        mixture: D.Distribution = D.MixtureSameFamily(weights, comp)
        return mixture.log_prob(x)  # (B,)


class LatentGaussianMixture(GaussianMixture):
    """The mixture as a latent-variable model: the component z is the latent.

    ``likelihood="bound"``: with ``k = 1`` (default) the ELBO
    ``sum_z q(z|x) [log p(x, z) - log q(z|x)] <= log p(x)``, exact over the M components, with the
    deliberately imperfect posterior ``q(z|x) = softmax_z(log p(x, z) / 2)``; with ``k > 1`` the
    IWAE bound ``log (1/k) sum_j p(x, z_j) / q(z_j|x)``, ``z_j ~ q``, drawn from the keyed
    streams.
    """

    likelihood_options = (
        Option("k", int, 1, "importance samples: 1 gives the exact ELBO, k > 1 the IWAE bound",
               minimum=1, maximum=4096),
    )

    def __init__(self, *, likelihood: Likelihood = Likelihood.BOUND, **kwargs: Any) -> None:
        super().__init__(likelihood=likelihood, **kwargs)

    @staticmethod
    def _kinds() -> tuple[Likelihood, ...]:
        return (Likelihood.BOUND,)

    @staticmethod
    def _paradigms() -> tuple[Paradigm, ...]:
        return (Paradigm.LATENT_VARIABLE,)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        k = int(options["k"])
        comp = self.components(x, condition)
        # 1. log p(x, z) = log p(z) + log p(x|z), p(z) uniform over the M components
        joint = comp.log_prob(x.unsqueeze(1)) - math.log(comp.batch_shape[1])  # (B, M)
        # 2. the posterior we pretend to have: q(z|x) proportional to p(x, z)^(1/2)
        log_q = torch.log_softmax(0.5 * joint, dim=1)  # (B, M)
        if k == 1:
            return (log_q.exp() * (joint - log_q)).sum(1)  # ELBO, exact in z
        # 3. IWAE: z_j ~ q(z|x) by Gumbel-max, log-mean-exp of the importance weights
        draws = streams.fork("iwae")
        z = draws.categorical(log_q.unsqueeze(1).expand(-1, k, -1))  # (B, k)
        log_w = joint.gather(1, z) - log_q.gather(1, z)  # (B, k)
        return torch.logsumexp(log_w, dim=1) - math.log(k)


class EstimatedGaussianMixture(LatentGaussianMixture):
    """The mixture with an *estimated* likelihood: IWAE with ``k = 16`` importance samples.

    IWAE is consistent (it tends to log p(x) as k grows) and here lies within a few hundredths of
    a nat of it, on either side for a given draw; it is declared an estimate, not a bound.
    """

    likelihood_options = (
        Option("k", int, 16, "importance samples of the IWAE estimate", minimum=1, maximum=4096),
    )

    def __init__(self, *, likelihood: Likelihood = Likelihood.ESTIMATE, **kwargs: Any) -> None:
        super().__init__(likelihood=likelihood, **kwargs)

    @staticmethod
    def _kinds() -> tuple[Likelihood, ...]:
        return (Likelihood.ESTIMATE,)


def _fixed_logits(classes: int, events: int) -> torch.Tensor:
    """Deterministic, well-separated logits per class: (events, classes)."""
    i = torch.arange(events, dtype=torch.float32)[:, None]
    c = torch.arange(classes, dtype=torch.float32)[None, :]
    return 1.5 * torch.sin(1.3 * i + 2.1 * c + 0.4) + 0.5 * torch.cos(0.7 * i * (c + 1))


class Categorical(Model):
    """A class-conditional categorical over events of shape (2,) with 3 levels; exact; one pass.

    Event ``(a, b)`` is category ``3 a + b``; the logits of class c are column c of a fixed
    linear map, evaluated by one ``nn.Linear`` on the one-hot label.
    """

    def __init__(self, *, classes: int = 2, levels: int = 3, name: str = "categorical") -> None:
        super().__init__(
            Capabilities(
                paradigms=(Paradigm.AUTOREGRESSIVE,),
                likelihood=Likelihood.EXACT,
                cost=SampleCost.per_token(1),
                event=EventSpace.discrete((2,), levels),
                condition=ConditionSpec(classes, "class"),
                objective="cross-entropy",
                sampling="one categorical draw over all levels^2 events",
            ),
            name=name,
        )
        self.levels = levels
        self.net = torch.nn.Linear(classes, levels**2)
        with torch.no_grad():
            self.net.weight.copy_(_fixed_logits(classes, levels**2))
            self.net.bias.zero_()
        self.net.eval()

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"logits": self.net}

    def _logits(self, condition: torch.Tensor) -> torch.Tensor:
        onehot = torch.nn.functional.one_hot(condition, self.net.in_features).float()
        logits: torch.Tensor = self.net(onehot)  # (B, levels^2)
        return logits

    def sample_batch(
        self, streams: KeyedStreams, condition: torch.Tensor | None, **options: Any
    ) -> torch.Tensor:
        assert condition is not None  # the sampler draws labels for the marginal
        index = streams.categorical(self._logits(condition))  # (B,)
        return torch.stack([index // self.levels, index % self.levels], dim=1)  # (B, 2)

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: torch.Tensor | None, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        assert condition is not None
        index = x[:, 0] * self.levels + x[:, 1]  # (B,)
        log_p = torch.log_softmax(self._logits(condition), dim=1)  # (B, levels^2)
        return log_p.gather(1, index[:, None]).squeeze(1)
