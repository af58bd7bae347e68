"""The generative classifier: argmax_c log p(x | c) + log p(c), on models with known answers."""

from __future__ import annotations

import pytest
import torch
from compare_models import (
    ClassScores,
    ContinuousUniform,
    Gaussian2D,
    Resampler,
    Uniform,
    capabilities,
)

from genproto import Likelihood, Paradigm, SampleCost
from genproto.data import DIGITS_EVENT, load_digits
from genproto.errors import InvalidArgumentError, LikelihoodUnavailable
from genproto.generative_classifier import (
    class_log_likelihoods,
    digits_input,
    generative_accuracy,
    generative_classify,
    to_levels,
)
from genproto.metrics import accuracy

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


@pytest.fixture(scope="module")
def test_split() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits("test")
    assert data.y is not None
    return data.x, data.y


def test_a_model_that_looks_digits_up_classifies_every_test_image(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    result = generative_accuracy(Resampler())
    assert result.n == len(x)
    assert result.accuracy == 1.0  # p(x | c) > 0 only for the class x belongs to
    assert result.reference_accuracy == pytest.approx(accuracy(x, y))
    assert result.reference_accuracy > 0.97
    assert result.likelihood == "exact"


def test_n_takes_the_first_images(test_split: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = test_split
    result = generative_accuracy(Resampler(), n=40)
    assert result.n == 40
    assert result.reference_accuracy == pytest.approx(accuracy(x[:40], y[:40]))


def test_class_scores_are_one_column_per_class(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    bias = torch.arange(10, dtype=torch.float64)
    model = ClassScores(bias)
    scores = class_log_likelihoods(model, x[:7])
    assert scores.shape == (7, 10)
    for c in range(10):
        assert torch.equal(scores[:, c], model.log_likelihood(x[:7], c).double())


def test_the_prediction_is_the_argmax_over_classes(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    bias = torch.zeros(10)
    bias[3] = 1.0  # class 3 is always the likeliest, whatever the image
    predicted = generative_classify(ClassScores(bias), x)
    assert torch.equal(predicted, torch.full_like(y, 3))
    assert generative_accuracy(ClassScores(bias)).accuracy == pytest.approx(
        float((y == 3).double().mean()))


def test_likelihood_options_reach_the_model(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = test_split
    bias = torch.zeros(10)
    bias[3] = 1.0
    flipped = generative_classify(ClassScores(bias), x[:20], options={"sign": -1.0})
    assert torch.equal(flipped, torch.zeros(20, dtype=torch.int64))  # 3 is now the least likely
    result = generative_accuracy(ClassScores(bias), options={"sign": -1.0})
    assert result.options == {"sign": -1.0}
    assert result.accuracy == pytest.approx(float((y == 0).double().mean()))


def test_every_class_sees_the_same_random_numbers(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    bias = torch.zeros(10)
    bias[7] = 0.01
    noisy = ClassScores(bias, noise=100.0)  # noise 10^4 times the gap between classes
    # with independent noise per class the argmax would be nearly uniform over the classes
    assert torch.equal(generative_classify(noisy, x, seed=3), torch.full((len(x),), 7))


def test_continuous_models_get_dequantised_digits(
    test_split: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, _ = test_split
    event = ContinuousUniform().capabilities.event
    z = digits_input(event, x, seed=0)
    assert z.dtype == torch.float32
    assert bool(((z - x) > 0).all() and ((z - x) < 1).all())  # z = x + u, u in (0, 1)
    assert torch.equal(z, digits_input(event, x, seed=0))
    assert not torch.equal(z, digits_input(event, x, seed=1))
    assert torch.equal(to_levels(event, z), x)
    assert digits_input(DIGITS_EVENT, x) is x  # discrete models see the levels


@pytest.mark.parametrize(
    ("model", "error", "phrase"),
    [(Resampler(capabilities(Paradigm.ADVERSARIAL, Likelihood.NONE, SampleCost.single_pass())),
      LikelihoodUnavailable, "declares likelihood 'none'"),
     (Uniform(), InvalidArgumentError, "class-conditional"),
     (Gaussian2D(), InvalidArgumentError, "class-conditional"),
     (ContinuousUniform(), InvalidArgumentError, "class-conditional")],
)
def test_models_that_cannot_classify_say_why(model: object, error: type[Exception],
                                             phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        generative_accuracy(model)  # type: ignore[arg-type]


def test_n_out_of_range_is_an_error() -> None:
    with pytest.raises(InvalidArgumentError, match="1..359"):
        generative_accuracy(Resampler(), n=360)
