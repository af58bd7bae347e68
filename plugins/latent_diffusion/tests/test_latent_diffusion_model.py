"""Tests of the latent diffusion hybrid: composed capabilities, K + 1 counted evaluations across
both networks, quality on the shipped weights, the composed bound, the frozen VAE, bad options."""

from __future__ import annotations

import math
import subprocess
import sys

import attrs
import pytest
import torch
from genproto_latent_diffusion.model import LatentDiffusion, LatentPrior, prior_capabilities
from torch import Tensor, nn

import genproto
from genproto.data import load_digits
from genproto.errors import OptionError, OptionTypeError
from genproto.hybrid import latent_hybrid
from genproto.metrics import conditional_accuracy, digits_frechet, frechet_floor
from genproto.protocol import CostGrowth, EventSpace, Likelihood, Paradigm
from genproto.sampling import run
from genproto.streams import KeyedStreams
from genproto.testing.training import check_training
from genproto.training import fit


@pytest.fixture(scope="module")
def model() -> LatentDiffusion:
    m = genproto.registry.get("latent_diffusion")
    assert isinstance(m, LatentDiffusion)
    return m


def test_plugin_is_found_through_its_entry_point_after_pip_install() -> None:
    code = (
        "import genproto.registry as r; e = r.Registry().entry('latent_diffusion'); "
        "print(e.distribution, ' '.join(p.value for p in e.capabilities.paradigms))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["genproto-latent-diffusion", "latent_variable", "diffusion"]


def test_capabilities_are_composed_from_the_installed_parts(model: LatentDiffusion) -> None:
    vae = genproto.registry.default().entry("vae").capabilities
    expected = latent_hybrid(autoencoder=vae, prior=prior_capabilities(16),
                             latent=EventSpace.continuous((16,)))
    assert model.capabilities == expected
    assert genproto.registry.default().entry("latent_diffusion").capabilities == expected
    caps = model.capabilities
    assert caps.paradigms == (Paradigm.LATENT_VARIABLE, Paradigm.DIFFUSION)
    assert caps.likelihood is Likelihood.BOUND
    assert (caps.cost.growth, caps.cost.evaluations, caps.cost.fixed) == (CostGrowth.PER_STEP,
                                                                         51, 1)


def test_the_autoencoder_is_the_vae_plugins(model: LatentDiffusion) -> None:
    vae = genproto.registry.get("vae")
    assert type(model.vae) is type(vae)
    assert model.vae.weights_sha256() == vae.weights_sha256()  # trained on that very VAE


@pytest.mark.parametrize(
    ("options", "evaluations"),
    [({}, 51), ({"steps": 1}, 2), ({"steps": 7, "guidance": 2.0}, 8),
     ({"sampler": "ddpm", "steps": 9}, 10), ({"steps": 4, "output": "mode"}, 5)],
)
def test_counted_evaluations_are_k_plus_one_across_both_networks(
    model: LatentDiffusion, options: dict[str, object], evaluations: int
) -> None:
    assert model.cost(**options).evaluations == evaluations
    result = run(model, 5, condition=3, seed=0, **options)
    assert result.evaluations_per_sample == evaluations
    # Each network is counted: the denoiser K times and the decoder once.
    calls: dict[str, int] = {"denoiser": 0, "vae_decoder": 0}
    hooks = [net.register_forward_hook(lambda *_, k=key: calls.__setitem__(k, calls[k] + 1))
             for key, net in model.networks().items() if key in calls]
    try:
        model.sample(5, condition=3, seed=0, **options)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"denoiser": evaluations - 1, "vae_decoder": 1}


def test_shipped_weights_draw_the_class_asked_for(model: LatentDiffusion) -> None:
    labels = torch.arange(1000) % 10  # 100 per class
    x = model.sample(1000, condition=labels, seed=0)
    assert (x.shape, x.dtype) == ((1000, 8, 8), torch.int64)
    assert int(x.min()) >= 0
    assert int(x.max()) <= 16
    assert conditional_accuracy(x, labels) >= 0.90
    assert digits_frechet(x) < 4 * frechet_floor()


def test_sevens_on_a_fresh_install(model: LatentDiffusion) -> None:
    assert conditional_accuracy(model.sample(16, condition=7, seed=1), 7) >= 0.9


def test_samples_depend_on_seed_and_index_only(model: LatentDiffusion) -> None:
    a = model.sample(13, condition=4, seed=5, batch_size=13, steps=10)
    b = model.sample(13, condition=4, seed=5, batch_size=4, steps=10)
    tail = model.sample_run(6, condition=4, seed=5, start=7, steps=10).samples
    assert torch.equal(a, b)
    assert torch.equal(a[7:], tail)
    assert not torch.equal(a, model.sample(13, condition=4, seed=6, steps=10))


class GaussianOracle(nn.Module):
    """eps*(z_t, t) = sqrt(1 - abar_t) z_t: the exact noise predictor when z ~ N(0, I)."""

    def __init__(self, sigma: Tensor) -> None:
        super().__init__()
        self.register_buffer("sigma", sigma.float())
        self.register_buffer("reverse_mse", torch.zeros(sigma.shape[0], dtype=torch.float64))

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        return self.sigma[t.round().long()].to(x)[:, None] * x


def _gaussian_gap(fitted: bool) -> tuple[float, float]:
    """(mean of log p(z) - bound, its standard error) over 2,000 z ~ N(0, I_4), nats."""
    prior = LatentPrior(latent_dim=4, hidden=8, blocks=1, init_seed=0)
    prior.net = GaussianOracle(prior.sqrt_one_minus_alphas_cumprod)
    if fitted:  # the reverse variances, fitted on other draws of the same data
        prior.fit_reverse_variances(KeyedStreams.for_range(7, 0, 4096).normal(4), None)
    z = KeyedStreams.for_range(0, 0, 2000).normal(4)  # z ~ N(0, I): log p known exactly
    exact = torch.distributions.Normal(0.0, 1.0).log_prob(z.double()).sum(-1)
    with torch.no_grad():
        bound = prior.log_density_bound(z, None, KeyedStreams.for_range(1, 0, 2000), k=999)
    gap = exact - bound
    return float(gap.mean()), float(gap.std()) / math.sqrt(2000)


def test_latent_bound_is_below_the_exact_density_for_gaussian_data() -> None:
    # The exact reverse means, the sampler's fixed variances: a bound, visibly below.
    gap, se = _gaussian_gap(fitted=False)
    assert gap > 4 * se
    assert gap < 0.5 * 4  # nats per dimension


def test_fitted_variances_make_the_latent_bound_tight_for_gaussian_data() -> None:
    # With the exact reverse means and the fitted variances (Bao et al. 2022) the reverse
    # process is the true one for Gaussian data, so the bound meets log p(z) up to noise.
    gap, se = _gaussian_gap(fitted=True)
    loose, _ = _gaussian_gap(fitted=False)
    assert -4 * se < gap < 0.03 * 4
    assert gap < loose / 10


def test_composed_bound_is_a_reproducible_batch_invariant_bound(model: LatentDiffusion) -> None:
    test = load_digits("test")
    x, y = test.x[:64], test.y[:64]
    a = model.log_likelihood(x, y, seed=0, batch_size=64)
    b = model.log_likelihood(x, y, seed=0, batch_size=7)
    assert torch.allclose(a, b, rtol=0, atol=1e-3)
    assert bool(torch.isfinite(a).all())
    assert bool((a < 0).all())  # a bound on a probability of a discrete event
    more = model.log_likelihood(x, y, seed=0, draws=4)
    assert torch.allclose(more.mean(), a.mean(), atol=0.05 * float(a.mean().abs()))
    noise = torch.randint(0, 17, (64, 8, 8), generator=torch.Generator().manual_seed(0))
    assert float(model.log_likelihood(noise, y).mean()) < float(a.mean()) - 100


def test_bad_options_raise_typed_errors(model: LatentDiffusion) -> None:
    with pytest.raises(OptionError, match="steps"):
        model.sample(2, steps=0)
    with pytest.raises(OptionError, match="output"):
        model.sample(2, output="mean")
    with pytest.raises(OptionTypeError, match="guidance"):
        model.sample(2, guidance="strong")
    with pytest.raises(OptionError, match="temperature"):
        model.sample(2, temperature=0.5)
    with pytest.raises(OptionError, match="draws"):
        model.log_likelihood(load_digits("test").x[:2], draws=0)
    with pytest.raises(OptionError, match="draws \\* terms <= 16384"):
        model.log_likelihood(load_digits("test").x[:2], draws=256, terms=999)
    with pytest.raises(OptionError, match="pretrained"):
        genproto.registry.get("latent_diffusion", hidden=64)
    with pytest.raises(OptionError, match="blocks"):
        genproto.registry.get("latent_diffusion", blocks=0, pretrained=False)


def test_training_moves_the_prior_only_and_resumes_exactly(tmp_path: object) -> None:
    def fresh() -> LatentDiffusion:
        m = genproto.registry.get("latent_diffusion", pretrained=False, hidden=16, blocks=1)
        assert isinstance(m, LatentDiffusion)
        return m

    a, b = fresh(), fresh()
    vae_before = a.vae.weights_sha256()
    prior_before = {k: v.clone() for k, v in a.prior.net.state_dict().items()}
    settings = attrs.evolve(a.training_defaults(), steps=6, save_every=3, report_every=100)
    fit(a, f"{tmp_path}/a", settings=settings, progress=False)
    assert a.vae.weights_sha256() == vae_before  # the autoencoder is frozen
    assert any(not torch.equal(v, a.prior.net.state_dict()[k]) for k, v in prior_before.items())
    fit(b, f"{tmp_path}/b", settings=attrs.evolve(settings, steps=3), progress=False)
    c = fresh()
    fit(c, f"{tmp_path}/b", settings=settings, resume=True, progress=False)
    assert a.weights_sha256() == c.weights_sha256()


def test_save_and_load_round_trip(model: LatentDiffusion, tmp_path: object) -> None:
    again = genproto.load(model.save(f"{tmp_path}/ckpt"))
    assert again.weights_sha256() == model.weights_sha256()
    assert torch.equal(again.sample(4, seed=0, steps=5), model.sample(4, seed=0, steps=5))


def test_info_describes_the_hybrid_part_by_part() -> None:
    out = subprocess.run([sys.executable, "-m", "genproto", "info", "latent_diffusion"],
                         capture_output=True, text=True, check=True).stdout
    assert "paradigm:         latent_variable + diffusion" in out
    assert "cost / sample:    51 evaluations (per step, K=50, +1 fixed)" in out
    assert "autoencoder: latent_variable, likelihood bound, 1 evaluation (single pass)" in out
    assert "prior: diffusion, likelihood bound, 50 evaluations (per step, K=50)" in out


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: genproto.registry.get("latent_diffusion", pretrained=False, hidden=16,
                                           blocks=1))
