"""Every paradigm's shipped names model (issue 21), through the installed plugins, side by side.

Each of ar, vae, gan and diffusion ships ``dataset="names"`` weights over one shared event
(:func:`genproto.data.names_text.names_event`) and one class condition labelled with the
Census lists. These tests ask each for the lists by label and check what the paradigms share
and what tells them apart: valid names that follow the requested list, the likelihood each
declares (exact ar, bounded vae and diffusion, none for the gan) finite on real names and
ordered as a bound should be, and the cost each declares counted by the sampler. Plugin tests
hold each model's own quality floors; the samples are seeded, so these assertions are
deterministic.
"""

from __future__ import annotations

import functools

import pytest
import torch

import genproto
from genproto.compare.names import is_names_model, names_condition_value
from genproto.data.names import NAMES_LISTS, load_names
from genproto.data.names_text import names_condition, names_event
from genproto.errors import ConditionError, InputError, LikelihoodUnavailable
from genproto.metrics.names_classifier import classify_names
from genproto.protocol import CostGrowth, Likelihood, TextCodec

PARADIGMS = ("ar", "vae", "gan", "diffusion")
LIKELIHOOD = {"ar": Likelihood.EXACT, "vae": Likelihood.BOUND, "gan": Likelihood.NONE,
              "diffusion": Likelihood.BOUND}
GROWTH = {"ar": CostGrowth.PER_TOKEN, "vae": CostGrowth.PER_TOKEN,
          "gan": CostGrowth.SINGLE_PASS, "diffusion": CostGrowth.PER_STEP}
N = 200


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@functools.cache
def _model(name: str) -> genproto.GenerativeModel:
    return genproto.registry.get(name, dataset="names")


@functools.cache
def _texts(name: str, which: str) -> tuple[str, ...]:
    model = _model(name)
    assert isinstance(model, TextCodec)
    return tuple(model.to_text(model.sample(N, condition=which, seed=0)))


@pytest.mark.parametrize("name", PARADIGMS)
def test_every_paradigm_models_names_on_one_event_and_condition(name: str) -> None:
    model = _model(name)
    caps = model.capabilities
    assert is_names_model(model)
    assert caps.event == names_event()
    assert caps.condition == names_condition()
    assert caps.likelihood is LIKELIHOOD[name]
    assert model.cost().growth is GROWTH[name]
    assert names_condition_value(caps, "male") == "male"


@pytest.mark.parametrize("name", PARADIGMS)
def test_samples_are_letters_and_follow_the_requested_list(name: str) -> None:
    """The reference classifier puts each list's samples on that list more often than the
    other lists' samples (the list is what the condition changes)."""
    on_own = {}
    for which in NAMES_LISTS:
        texts = _texts(name, which)
        assert all(t.isalpha() and t.islower() for t in texts if t)
        assert sum(bool(t) for t in texts) >= 0.95 * N
        picks = classify_names([t for t in texts if t])
        on_own[which] = [float((picks == i).float().mean()) for i in range(3)]
    for i, which in enumerate(NAMES_LISTS):
        others = [on_own[o][i] for o in NAMES_LISTS if o != which]
        assert on_own[which][i] > max(others), (which, on_own)


@pytest.mark.parametrize("name", PARADIGMS)
def test_the_declared_likelihood_of_real_names(name: str) -> None:
    model = _model(name)
    assert isinstance(model, TextCodec)
    names = load_names("test", "female").names[:40]
    x = model.from_text(names)
    if LIKELIHOOD[name] is Likelihood.NONE:
        with pytest.raises(LikelihoodUnavailable):
            model.log_likelihood(x, "female")
        return
    nats = model.log_likelihood(x, "female", seed=0).double()
    assert bool(torch.isfinite(nats).all())
    assert bool((nats < 0).all())  # a probability below 1 (or its lower bound)
    by_index = model.log_likelihood(x, 0, seed=0).double()
    assert torch.equal(nats, by_index)  # the label is the class index


def test_the_vae_bound_tightens_with_importance_samples() -> None:
    """ELBO <= IWAE on average over real names (Burda et al. 2016)."""
    vae = _model("vae")
    assert isinstance(vae, TextCodec)
    x = vae.from_text(load_names("test", "male").names[:60])
    elbo = vae.log_likelihood(x, "male", seed=0, k=1).double()
    iwae = vae.log_likelihood(x, "male", seed=0, k=16).double()
    assert float((iwae - elbo).mean()) > 0


@pytest.mark.parametrize("name", PARADIGMS)
def test_bad_names_and_lists_are_typed_errors(name: str) -> None:
    model = _model(name)
    assert isinstance(model, TextCodec)
    with pytest.raises(InputError, match="m4ry"):
        model.from_text(["m4ry"])
    with pytest.raises(ConditionError, match="femal"):
        model.sample(2, condition="femal", seed=0)
    with pytest.raises(ConditionError):
        model.sample(2, condition=3, seed=0)


def test_counted_costs_tell_the_paradigms_apart() -> None:
    from genproto import sampling

    counted = {name: sampling.run(_model(name), 64, condition="surname", seed=0,
                                  progress=False).evaluations_per_sample
               for name in PARADIGMS}
    assert counted["gan"] == 1
    assert counted["diffusion"] == _model("diffusion").cost().evaluations
    for name in ("ar", "vae"):  # one evaluation a token: a name's letters and its stop
        assert 2 < counted[name] <= _model(name).cost().evaluations


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_training_draws_refuse_a_bad_count(bad: object) -> None:
    from genproto.data.names_text import names_training_draws
    from genproto.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="draws_per_list"):
        names_training_draws(bad)  # type: ignore[arg-type]
