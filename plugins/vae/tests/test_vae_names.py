"""The sequence VAE of the Census names (``registry.get("vae", dataset="names")``).

Samples, bounds and quality floors use the shipped weights at fixed seeds; the exact-likelihood
and training checks use small untrained models (the maths holds for any weights).
"""

from __future__ import annotations

import math

import pytest
import torch

import genproto
from genproto.data.names import NAMES_LISTS, load_names
from genproto.data.names_text import NAMES_STOP
from genproto.errors import ConditionError, InputError, InvalidArgumentError, OptionError
from genproto.metrics.names_classifier import list_accuracy
from genproto.metrics.text import name_shares, validity
from genproto.protocol import CostGrowth, Likelihood, Paradigm
from genproto.sampling import run
from genproto.testing.training import check_training
from genproto_vae.names import NamesVAE, latent_usage

FLOOR_MARGIN = 0.1  # quality floors sit this far (absolute) below the measured figures


@pytest.fixture(scope="module")
def vae() -> NamesVAE:
    model = genproto.registry.get("vae", dataset="names")
    assert isinstance(model, NamesVAE)
    return model


@pytest.fixture(scope="module")
def samples(vae: NamesVAE) -> dict[int, list[str]]:
    """300 samples a list at seed 0."""
    return {c: vae.to_text(vae.sample(300, condition=c, seed=0)) for c in range(3)}


@pytest.fixture(scope="module")
def tiny() -> NamesVAE:
    return NamesVAE(latent_dim=4, hidden=16)


def _names(which: str, n: int) -> list[str]:
    return load_names("train", which).names[:n]  # type: ignore[arg-type]


def test_declares_bound_and_per_token_cost(vae: NamesVAE) -> None:
    caps = vae.capabilities
    assert caps.paradigms == (Paradigm.LATENT_VARIABLE,)
    assert caps.likelihood is Likelihood.BOUND
    assert caps.cost.growth is CostGrowth.PER_TOKEN
    assert caps.cost.units == 16
    assert caps.cost.bound
    assert caps.event.is_sequence
    assert caps.condition is not None
    assert caps.condition.classes == 3


def test_samples_are_canonical_letter_rows(vae: NamesVAE) -> None:
    x = vae.sample(200, condition=1, seed=4)
    assert x.dtype == vae.capabilities.event.dtype
    assert x.shape == (200, 16)
    stops = (x == NAMES_STOP).long()
    after = torch.cumsum(stops, dim=1) - stops > 0  # positions after the first stop
    assert bool((x[after] == NAMES_STOP).all())  # stop pads the rest
    assert all(t.isalpha() and t.islower() for t in vae.to_text(x) if t)


def test_sampling_cost_is_at_most_16_decoder_calls(vae: NamesVAE) -> None:
    result = run(vae, 64, condition=2, seed=0, batch_size=64)
    assert 0 < result.evaluations_per_sample <= 16
    # a row stops after len(name) + 1 decoder calls: the count is the mean of those
    lengths = torch.tensor([len(t) + 1 for t in vae.to_text(result.samples)]).clamp(max=16)
    assert result.evaluations_per_sample == pytest.approx(float(lengths.double().mean()))


def test_sample_i_depends_only_on_seed_and_i(vae: NamesVAE) -> None:
    whole = vae.sample(37, condition=0, seed=11, batch_size=37)
    assert torch.equal(whole, vae.sample(37, condition=0, seed=11, batch_size=5))
    assert torch.equal(whole, vae.sample(37, condition=0, seed=11, batch_size=1))
    assert not torch.equal(whole, vae.sample(37, condition=0, seed=12))


def test_condition_changes_what_is_drawn(samples: dict[int, list[str]]) -> None:
    """Each list's samples are classified to that list far above chance (1/3), and more often
    than the samples drawn for either other list are."""
    for c, which in enumerate(NAMES_LISTS):
        own = list_accuracy(samples[c], which)
        assert own > 0.5
        for other in range(3):
            if other != c:
                assert own > list_accuracy(samples[other], which) + 0.3


def test_round_trip_and_finite_bounds(vae: NamesVAE, samples: dict[int, list[str]]) -> None:
    x = vae.sample(100, condition=2, seed=3)
    assert torch.equal(vae.from_text(vae.to_text(x)), x)
    assert bool(torch.isfinite(vae.log_likelihood(vae.from_text(vae.to_text(x)), 2)).all())
    assert bool(torch.isfinite(vae.log_likelihood(x, None, k=4)).all())  # class marginal


def test_elbo_below_iwae_below_zero(vae: NamesVAE) -> None:
    """Burda et al. theorem 1: E[ELBO] = E[L_1] <= E[L_16] <= log p(x | c) <= 0 (train names)."""
    x = vae.from_text(_names("female", 150))
    elbo = vae.log_likelihood(x, 0, seed=0)
    l1 = vae.log_likelihood(x, 0, seed=0, k=1)
    l16 = vae.log_likelihood(x, 0, seed=0, k=16)
    assert float(elbo.mean()) < float(l16.mean())
    assert float((l16 - elbo).mean()) > 0.01  # the importance samples do tighten it
    assert bool((l16 < 0).all())
    assert torch.equal(elbo, l1)  # k=1 is the ELBO (the default), same draws for one seed


def test_decoder_likelihood_matches_the_step_by_step_chain_rule(tiny: NamesVAE) -> None:
    """log p("ab" | z, c) from the full pass equals the sum of the three step-by-step
    conditionals (a, b, then the stop) that sampling uses; tokens after the stop score 0."""
    x = tiny.from_text(["ab"]).long()
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(0))
    hot = torch.tensor([[0.0, 1.0, 0.0]])
    with torch.inference_mode():
        full = tiny._log_px(x, z, hot)
        state, prev, total = None, torch.tensor([[27]]), 0.0
        for token in (0, 1, NAMES_STOP):
            logits, state = tiny.decoder(prev, z, hot, state)
            total += float(logits[0, 0].log_softmax(-1)[token])
            prev = torch.tensor([[token]])
    assert float(full[0]) == pytest.approx(total, abs=1e-5)


def test_decoder_sums_to_one_over_an_enumerated_space(tiny: NamesVAE) -> None:
    """p(x | z, c) summed over every name of 0..2 letters, plus the probability of the 702 ...
    prefixes of 3 letters going on (no stop after two letters), is exactly 1; and
    sum exp(ELBO) <= 1 over the names of 0..2 letters (the ELBO is below log p(x | c))."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    texts = ["", *letters, *(a + b for a in letters for b in letters)]  # 703 names
    x = tiny.from_text(texts).long()
    z = torch.randn(1, 4, generator=torch.Generator().manual_seed(1)).expand(len(texts), -1)
    hot = torch.tensor([[1.0, 0.0, 0.0]]).expand(len(texts), -1)
    with torch.inference_mode():
        stopped = tiny._log_px(x, z, hot).double().exp().sum()
        two = x[-676:]  # every two-letter prefix: its chance of going on past two letters
        inputs = torch.cat([torch.full((676, 1), 27), two[:, :2]], dim=1)
        logp = tiny.decoder(inputs, z[:676], hot[:676])[0].log_softmax(-1).double()  # (676,3,27)
        first_two = logp[:, 0].gather(1, two[:, :1]) + logp[:, 1].gather(1, two[:, 1:2])
        going_on = (first_two.squeeze(1).exp() * (1 - logp[:, 2, NAMES_STOP].exp())).sum()
    assert float(stopped + going_on) == pytest.approx(1.0, abs=1e-5)
    elbo = tiny.log_likelihood(tiny.from_text(texts), 0, seed=0)
    assert float(elbo.double().exp().sum()) <= 1.0


def test_bad_input_gets_typed_errors(vae: NamesVAE) -> None:
    with pytest.raises(InputError):
        vae.from_text(["m4ry"])
    with pytest.raises(ConditionError):
        vae.log_likelihood(vae.from_text(["mary"]), 3)
    with pytest.raises(ConditionError):
        vae.sample(2, condition=-1)
    bad = vae.from_text(["mary"])
    bad[0, 1] = 27  # not a token
    with pytest.raises(InputError):
        vae.log_likelihood(bad, 0)
    with pytest.raises(OptionError):
        vae.log_likelihood(vae.from_text(["mary"]), 0, k=0)
    with pytest.raises(OptionError):
        genproto.registry.get("vae", dataset="names", decoder="categorical", pretrained=False)
    with pytest.raises(OptionError):
        genproto.registry.get("vae", dataset="name", pretrained=False)


def test_interpolate_walks_between_two_names(vae: NamesVAE) -> None:
    start, end = vae.from_text(["mary", "patricia"])
    line = vae.interpolate(start, end, 6, condition=0)
    assert line.shape == (6, 16)
    assert line.dtype == vae.capabilities.event.dtype
    texts = vae.to_text(line)
    assert torch.equal(vae.from_text(texts), line)  # canonical rows
    # the ends are the greedy decodings of the posterior means (measured: "maria", "patricia")
    mean, _ = vae.encode(torch.stack([start, end]), 0)
    ends = vae._generate(mean, torch.eye(3)[[0, 0]], None, greedy=True)
    assert torch.equal(line[[0, -1]], ends.to(line.dtype))
    assert texts[-1] == "patricia"
    assert len(set(texts)) >= 3
    assert torch.equal(line, vae.interpolate(start.long(), end.long(), 6, condition=0, seed=9))
    morph = vae.interpolate(start, vae.from_text(["smith"])[0], 4, condition=(0, 2))
    assert vae.to_text(morph)[-1] == "smith"


def test_interpolate_refuses_bad_arguments(vae: NamesVAE) -> None:
    start, end = vae.from_text(["mary", "anna"])
    with pytest.raises(InvalidArgumentError):
        vae.interpolate(start, end, 1, condition=0)
    with pytest.raises(InputError):
        vae.interpolate(start[None], end, 3, condition=0)
    bad = start.clone()
    bad[0] = 30
    with pytest.raises(InputError):
        vae.interpolate(bad, end, 3, condition=0)
    with pytest.raises(ConditionError):
        vae.interpolate(start, end, 3)
    with pytest.raises(ConditionError):
        vae.interpolate(start, end, 3, condition=3)


def test_latent_code_is_used(vae: NamesVAE) -> None:
    """No posterior collapse: the shipped encoder's KL and active units (measured: see
    docs/plugins/vae.md) stay well above zero."""
    usage = latent_usage(vae)
    assert usage["kl_nats"] > KL_FLOOR
    assert usage["active_units"] >= ACTIVE_FLOOR


def test_quality_floors(samples: dict[int, list[str]]) -> None:
    """300 samples a list at seed 0, against floors FLOOR_MARGIN below the measured figures."""
    for c, which in enumerate(NAMES_LISTS):
        texts = samples[c]
        measured = QUALITY[which]
        assert validity(texts) >= measured[0] - FLOOR_MARGIN
        assert name_shares(texts, which).real >= measured[1] - FLOOR_MARGIN
        assert list_accuracy(texts, which) >= measured[2] - FLOOR_MARGIN


def test_training_contract() -> None:
    """train_step before setup is a typed error; steps are keyed and leave the global RNG alone."""
    check_training(lambda: NamesVAE(latent_dim=4, hidden=16))


def test_bound_is_keyed_by_seed(vae: NamesVAE) -> None:
    x = vae.from_text(_names("male", 20))
    a = vae.log_likelihood(x, 1, seed=5, k=8)
    # the same draws at any batch size; the CPU's GRU kernels round by ~1e-6 between sizes
    torch.testing.assert_close(a, vae.log_likelihood(x, 1, seed=5, k=8, batch_size=3),
                               rtol=1e-5, atol=1e-5)
    assert not torch.equal(a, vae.log_likelihood(x, 1, seed=6, k=8))
    assert math.isfinite(float(a.sum()))


#: Measured on the shipped weights, 300 samples a list at seed 0: validity, real share,
#: list-classifier accuracy (the floors are FLOOR_MARGIN below).
QUALITY = {"female": (1.0, 0.613, 0.813), "male": (1.0, 0.670, 0.773),
           "surname": (1.0, 0.283, 0.627)}
KL_FLOOR = 2.0  # measured 3.78 nats (2,000 training draws)
ACTIVE_FLOOR = 8  # measured 16 of 16


def test_docs_example_runs() -> None:
    """The Python example of docs/plugins/vae.md's Names section runs as written."""
    from pathlib import Path

    doc = (Path(__file__).parents[3] / "docs" / "plugins" / "vae.md").read_text()
    section = doc[doc.index("## Names"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", 10)]
    scope: dict[str, object] = {}
    exec(compile(code, "vae.md", "exec"), scope)  # our own documentation
    assert scope["names"] == ["julie", "sherry", "ylonne", "susan", "gra"]
    assert len(scope["path"]) == 6  # type: ignore[arg-type]
