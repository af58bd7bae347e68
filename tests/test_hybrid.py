"""genproto.hybrid: capabilities of a latent-variable hybrid composed from its parts.

Two compositions: latent diffusion (a VAE with a K-step diffusion prior) and a VAE with a
Gaussian-mixture prior (closed form, exact) -- plus a runnable mixture-prior VAE whose counted
evaluations and likelihood sums check the composed declaration, not just its fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch

from genproto import registry as registry_module
from genproto.errors import InvalidArgumentError
from genproto.hybrid import LIKELIHOOD_STRENGTH, latent_hybrid, weakest_likelihood
from genproto.model import Model
from genproto.protocol import (
    Capabilities,
    ConditionSpec,
    CostGrowth,
    EventSpace,
    Likelihood,
    Paradigm,
    Part,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto.testing import check_model
from genproto.testing.suite import Status

DIGITS = EventSpace.discrete((8, 8), 17)
LATENT = EventSpace.continuous((16,))
TEN = ConditionSpec(10)


def vae(condition: ConditionSpec | None = TEN) -> Capabilities:
    return Capabilities((Paradigm.LATENT_VARIABLE,), Likelihood.BOUND, SampleCost.single_pass(),
                        DIGITS, condition, objective="ELBO", sampling="z ~ N(0, I), decode")


def diffusion_prior(steps: int = 50, likelihood: Likelihood = Likelihood.BOUND,
                    condition: ConditionSpec | None = TEN) -> Capabilities:
    return Capabilities((Paradigm.DIFFUSION,), likelihood, SampleCost.per_step(steps), LATENT,
                        condition, objective="eps MSE", sampling="DDIM")


def mixture_prior() -> Capabilities:
    return Capabilities((Paradigm.LATENT_VARIABLE,), Likelihood.EXACT, SampleCost.single_pass(),
                        LATENT, None, objective="mixture MLE", sampling="component, then Gaussian")


def test_latent_diffusion_composes_paradigms_cost_likelihood_and_parts() -> None:
    caps = latent_hybrid(autoencoder=vae(), prior=diffusion_prior(50), latent=LATENT)
    assert caps.paradigms == (Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION)
    assert caps.is_hybrid
    assert caps.cost == SampleCost(CostGrowth.PER_STEP, units=50, fixed=1)
    assert caps.cost.evaluations == 51  # K denoiser steps + 1 decoder pass
    assert caps.likelihood is Likelihood.BOUND
    assert (caps.event, caps.condition) == (DIGITS, ConditionSpec(10))
    assert [p.role for p in caps.parts] == ["autoencoder", "prior"]
    assert caps.parts[1].capabilities == diffusion_prior(50)
    assert "eps MSE" in caps.objective
    assert "DDIM" in caps.sampling


def test_mixture_prior_vae_is_two_fixed_passes_and_a_bound() -> None:
    caps = latent_hybrid(autoencoder=vae(), prior=mixture_prior())
    assert caps.paradigms == (Paradigm.LATENT_VARIABLE,)  # one paradigm, listed once
    assert not caps.is_hybrid
    assert len(caps.parts) == 2
    assert caps.cost == SampleCost.fixed_passes(2)
    # An exact prior does not make the latent integral exact: still the ELBO.
    assert caps.likelihood is Likelihood.BOUND
    assert caps.condition == ConditionSpec(10)  # the autoencoder's, the prior has none


@pytest.mark.parametrize(
    ("prior_kind", "expected"),
    [(Likelihood.EXACT, Likelihood.BOUND), (Likelihood.BOUND, Likelihood.BOUND),
     (Likelihood.ESTIMATE, Likelihood.ESTIMATE), (Likelihood.NONE, Likelihood.NONE)],
)
def test_the_weakest_part_decides_the_likelihood(prior_kind: Likelihood,
                                                 expected: Likelihood) -> None:
    caps = latent_hybrid(autoencoder=vae(), prior=diffusion_prior(likelihood=prior_kind))
    assert caps.likelihood is expected


def test_weakest_likelihood_order() -> None:
    assert weakest_likelihood() is Likelihood.EXACT
    assert weakest_likelihood(Likelihood.EXACT, Likelihood.NONE) is Likelihood.NONE
    assert weakest_likelihood(Likelihood.ESTIMATE, Likelihood.BOUND) is Likelihood.ESTIMATE
    assert set(LIKELIHOOD_STRENGTH) == set(Likelihood)


def test_composed_capabilities_survive_a_checkpoint_round_trip() -> None:
    caps = latent_hybrid(autoencoder=vae(), prior=diffusion_prior(20))
    back = Capabilities.from_dict(caps.to_dict())
    assert back == caps
    assert back.parts[0] == Part("autoencoder", vae())
    # Protocol 1.0 data (no "parts") still reads.
    old = vae().to_dict()
    del old["parts"]
    assert Capabilities.from_dict(old) == vae()


def test_misfitting_parts_are_named() -> None:
    with pytest.raises(InvalidArgumentError, match="latent_variable"):
        latent_hybrid(autoencoder=diffusion_prior(), prior=diffusion_prior())
    discrete = Capabilities((Paradigm.AUTOREGRESSIVE,), Likelihood.EXACT,
                            SampleCost.per_token(16), EventSpace.discrete((16,), 4))
    with pytest.raises(InvalidArgumentError, match="continuous"):
        latent_hybrid(autoencoder=vae(), prior=discrete)
    with pytest.raises(InvalidArgumentError, match="latent space"):
        latent_hybrid(autoencoder=vae(), prior=diffusion_prior(),
                      latent=EventSpace.continuous((8,)))
    with pytest.raises(InvalidArgumentError, match="condition"):
        latent_hybrid(autoencoder=vae(), prior=diffusion_prior(condition=ConditionSpec(3)))


def test_part_needs_a_role() -> None:
    with pytest.raises(ValueError, match="role"):
        Part(" ", vae())
    assert Part("prior", diffusion_prior(7)).describe().startswith("prior: diffusion")


# ---------------------------------------------------------------------------------------------
# A runnable second composition: a VAE with a Gaussian-mixture prior on a tiny event space.
# ---------------------------------------------------------------------------------------------

EVENT = EventSpace.discrete((2,), 3)  # 9 events: the likelihood checks can enumerate them
DRAWS = 256  # posterior draws averaged in the ELBO


class Mixture(torch.nn.Module):
    """p(z) = sum_k pi_k N(z; m_k, s_k^2) on R^1; forward turns (u, eps) into a draw."""

    def __init__(self) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.tensor([0.3, -0.2]))
        self.means = torch.nn.Parameter(torch.tensor([-1.5, 1.0]))
        self.log_scales = torch.nn.Parameter(torch.tensor([-0.7, -0.3]))

    def forward(self, component: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        return self.means[component] + self.log_scales[component].exp() * eps  # (B,)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        comp = torch.distributions.Normal(self.means, self.log_scales.exp())
        return torch.logsumexp(comp.log_prob(z[:, None]) + self.logits.log_softmax(0), dim=1)


class MixturePriorVAE(Model):
    """Decoder: per-coordinate categorical over 3 levels from z; encoder: Gaussian q(z | x)."""

    likelihood_options = ()

    def __init__(self) -> None:
        auto = Capabilities((Paradigm.LATENT_VARIABLE,), Likelihood.BOUND,
                            SampleCost.single_pass(), EVENT)
        prior = Capabilities((Paradigm.LATENT_VARIABLE,), Likelihood.EXACT,
                             SampleCost.single_pass(), EventSpace.continuous((1,)))
        super().__init__(latent_hybrid(autoencoder=auto, prior=prior), name="mixture_vae")
        gen = torch.Generator().manual_seed(0)
        self.prior = Mixture()
        self.decoder = torch.nn.Linear(1, 6)
        self.table = torch.nn.Parameter(torch.randn(9, 2, generator=gen) * 0.5)  # q's (mu, log s)
        with torch.no_grad():
            self.decoder.weight.copy_(torch.randn(6, 1, generator=gen))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"prior": self.prior, "decoder": self.decoder}

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        component = streams.categorical(self.prior.logits.expand(len(streams), 2))  # (B,)
        z = self.prior(component, streams.normal())  # one prior evaluation
        logits = self.decoder(z[:, None]).reshape(-1, 2, 3)  # one decoder evaluation
        return streams.categorical(logits)  # (B, 2)

    def log_likelihood_batch(self, x: torch.Tensor, condition: torch.Tensor | None,
                             streams: KeyedStreams, **options: Any) -> torch.Tensor:
        mu, log_s = self.table[x[:, 0] * 3 + x[:, 1]].unbind(-1)  # q(z | x), (B,) each
        mu, log_s = mu[:, None], log_s[:, None]
        z = mu + log_s.exp() * streams.normal(DRAWS)  # (B, DRAWS) reparameterised draws
        log_px = self.decoder(z[..., None]).reshape(-1, DRAWS, 2, 3).log_softmax(-1)
        log_px = log_px.gather(-1, x[:, None, :, None].expand(-1, DRAWS, 2, 1)).sum((-2, -1))
        log_q = torch.distributions.Normal(mu, log_s.exp()).log_prob(z)
        log_pz = self.prior.log_prob(z.reshape(-1)).reshape(-1, DRAWS)
        # The ELBO with the mixture prior, its expectation over q estimated from DRAWS draws.
        return (log_px + log_pz - log_q).mean(1)


def test_mixture_prior_vae_keeps_its_composed_declaration() -> None:
    model = MixturePriorVAE()
    assert model.capabilities.cost == SampleCost.fixed_passes(2)
    run = model.sample_run(64, seed=0)
    assert run.evaluations_per_sample == 2.0  # counted: one prior pass + one decoder pass
    report = check_model(MixturePriorVAE)
    report.raise_for_failures()
    # Every property ran; the likelihood one summed exp(ELBO) over the 9 events (<= 1). Only
    # exact_determinism does not apply (the likelihood is a bound), nor truth (no known density).
    status = report.status()
    assert status.pop("exact_determinism") is Status.NOT_APPLICABLE
    assert status.pop("truth") is Status.NOT_APPLICABLE
    assert set(status.values()) == {Status.PASSED}


def test_registry_lists_the_composition() -> None:
    names = registry_module.default().names()
    if "latent_diffusion" not in names:
        pytest.skip("the latent_diffusion plugin is not installed")
    entry = registry_module.default().entry("latent_diffusion")
    assert [p.role for p in entry.capabilities.parts] == ["autoencoder", "prior"]
    prior = entry.capabilities.parts[1].capabilities
    assert entry.capabilities.cost.evaluations == prior.cost.evaluations + 1
