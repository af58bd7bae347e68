"""Compose a hybrid's capabilities from its parts, instead of writing them by hand.

A latent-variable hybrid has an **autoencoder** (encoder ``q(z|x)``, decoder ``p(x|z)``)
and a **prior** ``p(z)`` over its latent space that is itself a generative model of any
paradigm: latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with
Latent Diffusion Models"; Vahdat, Kreis & Kautz 2021, "Score-based Generative Modeling in
Latent Space"), a VAE with a flow prior (Chen et al. 2017, "Variational Lossy
Autoencoder"), or with a mixture prior (Tomczak & Welling 2018, "VAE with a VampPrior").
What such a model can do follows from its parts:

* **paradigms**: the autoencoder's, then the prior's (each once);
* **cost**: sample z from the prior, then one decoder pass:
  ``prior.cost.then(autoencoder.cost)``: K + 1 for a K-step latent diffusion, 2 for a
  single-pass prior;
* **likelihood**: for any ``q(z|x)``, Jensen's inequality gives (Kingma & Welling 2014, eq. 3)

  ``log p(x) >= E_q[log p(x|z)] + E_q[log p(z)] + H[q(z|x)]``;

  replacing ``log p(z)`` by a lower bound keeps it a lower bound (every term enters with a
  plus sign), so an exact or bounded prior gives a ``BOUND``; a prior whose ``log p(z)`` is
  only an ``ESTIMATE`` makes the whole an estimate; a prior with no likelihood (a GAN in
  latent space) leaves ``NONE``. The autoencoder's own kind is composed the same way;
* **event** and **condition**: the autoencoder's (the prior may share the condition);
* **parts**: both, with their roles, so ``genproto info`` can show the composition.

:func:`latent_hybrid` checks that the parts fit (the prior's events are the continuous
latent vectors the decoder reads) and raises ``InvalidArgumentError`` naming the misfit
otherwise.
"""

from __future__ import annotations

from genproto.errors import InvalidArgumentError
from genproto.protocol import (
    Capabilities,
    EventKind,
    EventSpace,
    Likelihood,
    Paradigm,
    Part,
)

__all__ = ["LIKELIHOOD_STRENGTH", "latent_hybrid", "weakest_likelihood"]

#: From the strongest statement about ``log p(x)`` to the weakest. A composition is only as
#: strong as its weakest part: an exact term plus a bound is a bound, a bound plus an
#: estimate is an estimate, anything plus "none" is none.
LIKELIHOOD_STRENGTH: tuple[Likelihood, ...] = (
    Likelihood.EXACT,
    Likelihood.BOUND,
    Likelihood.ESTIMATE,
    Likelihood.NONE,
)


def weakest_likelihood(*kinds: Likelihood) -> Likelihood:
    """The weakest of ``kinds`` in :data:`LIKELIHOOD_STRENGTH` order (``EXACT`` if none)."""
    if not kinds:
        return Likelihood.EXACT
    return max(kinds, key=LIKELIHOOD_STRENGTH.index)


def latent_hybrid(
    *,
    autoencoder: Capabilities,
    prior: Capabilities,
    latent: EventSpace | None = None,
    objective: str = "",
    sampling: str = "",
) -> Capabilities:
    """The capabilities of ``autoencoder`` with its prior replaced by ``prior``.

    Args:
        autoencoder: what the autoencoder declares on its own (it must be a latent-variable
            model: its decoder maps z to events).
        prior: what the prior declares on its own, as a model of the latent vectors.
        latent: the autoencoder's latent space; if given, the prior's event must equal it.
        objective, sampling: the hybrid's own words; by default composed from the parts'.

    Returns:
        The composed :class:`Capabilities` (see the module docstring for each rule), with
        ``parts = (Part("autoencoder", autoencoder), Part("prior", prior))``.
    """
    if Paradigm.LATENT_VARIABLE not in autoencoder.paradigms:
        raise InvalidArgumentError(
            "latent_hybrid autoencoder paradigms",
            value=[p.value for p in autoencoder.paradigms],
            allowed="capabilities that include 'latent_variable' (a decoder p(x|z))",
            fix="Pass the capabilities of the model whose decoder maps the latent to data",
        )
    if prior.event.kind is not EventKind.CONTINUOUS:
        raise InvalidArgumentError(
            "latent_hybrid prior event", value=prior.event.describe(),
            allowed="a continuous event space (the latent vectors z)",
            fix="Declare the prior on the autoencoder's continuous latent space",
        )
    if latent is not None and prior.event != latent:
        raise InvalidArgumentError(
            "latent_hybrid prior event", value=prior.event.describe(),
            allowed=f"the autoencoder's latent space, {latent.describe()}",
            fix="Build the prior with the autoencoder's latent dimension",
        )
    if (
        autoencoder.condition is not None
        and prior.condition is not None
        and not autoencoder.condition.accepts_same(prior.condition)
    ):
        raise InvalidArgumentError(
            "latent_hybrid prior condition", value=prior.condition.describe(),
            allowed=f"the autoencoder's condition, {autoencoder.condition.describe()}",
            fix="Condition both parts on the same classes (or the same kind of condition, "
            "of the same length or shape)",
        )
    paradigms = tuple(dict.fromkeys((*autoencoder.paradigms, *prior.paradigms)))
    # The latent integral is replaced by a variational bound: at best BOUND.
    likelihood = weakest_likelihood(Likelihood.BOUND, autoencoder.likelihood, prior.likelihood)
    return Capabilities(
        paradigms=paradigms,
        likelihood=likelihood,
        cost=prior.cost.then(autoencoder.cost),
        event=autoencoder.event,
        condition=autoencoder.condition or prior.condition,
        objective=objective
        or f"autoencoder: {autoencoder.objective}; then, autoencoder frozen, a prior on its "
        f"latent z: {prior.objective}",
        sampling=sampling
        or f"z from the prior ({prior.sampling}); then one decoder pass",
        parts=(Part("autoencoder", autoencoder), Part("prior", prior)),
    )
