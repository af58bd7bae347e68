"""genproto compare --data names: text models with known answers, measured against the Census
distribution, and the claims, report and chart they give.

The test models (tests/text_models.py and below) have answers by construction: the truth
written as a sampler has the truth's cross-entropy and covers the list like the truth's own
draws; a uniform model's cross-entropy is sum q(name) (len + 1) log 27, computed here by hand;
a model that always writes "mary" has one distinct name and collapses; a denoiser that writes a
real name with probability 1 - 1/K improves with K at K evaluations a sample.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from text_models import CONDITION, EVENT, MAX_LENGTH, PAD, STOP, NamesBigram, OneName, TruthSampler
from text_models import _NamesText as NamesText
from text_models import _Table as Table

from genproto import Capabilities, Likelihood, Paradigm, SampleCost
from genproto.compare import (
    NamesComparison,
    compare_names,
    evaluate_names,
    measure_names_truth,
    names_chart,
    save_names_chart,
)
from genproto.compare.claims import Status
from genproto.compare.names import is_names_model
from genproto.compare.run import names_plan
from genproto.data.names import load_names
from genproto.errors import InvalidArgumentError, UnknownModelError
from genproto.options import Option
from genproto.registry import Registry
from genproto.streams import KeyedStreams

N = 300
REAL = ("mary", "anna", "emma", "linda", "susan", "karen")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


class UniformLetters(NamesText):
    """Every token uniform over the 27 symbols until the stop: log m = -(len + 1) log 27."""

    def __init__(self) -> None:
        super().__init__(Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                                      SampleCost.per_token(MAX_LENGTH, bound=True), EVENT,
                                      CONDITION), name="uniform_letters")
        self.net = Table(torch.zeros(1, 27))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        rows = len(streams)
        out = torch.full((rows, MAX_LENGTH), PAD, dtype=torch.int64)
        running = torch.ones(rows, dtype=torch.bool)
        for t in range(MAX_LENGTH):
            logits = torch.zeros(rows, 27)
            if running.any():
                logits[running] = self.net(torch.zeros(int(running.sum()), dtype=torch.int64))
            token = streams.categorical(logits)
            out[running, t] = token[running]
            running = running & (token != STOP)
        return out

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        return -EVENT.lengths(x).double() * math.log(27)


class RealWithSteps(NamesText):
    """K network calls; a real female name with probability 1 - 1/K, else "qqqq"."""

    sample_options = (Option("steps", int, 8, "denoising steps K", minimum=1, maximum=64),)

    def __init__(self) -> None:
        super().__init__(Capabilities(Paradigm.DIFFUSION, Likelihood.NONE,
                                      SampleCost.per_step(8), EVENT, CONDITION),
                         name="real_with_steps")
        self.rows = self.from_text([*REAL, "qqqq"]).long()
        self.net = Table(torch.zeros(1, 1))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def cost(self, **options: Any) -> SampleCost:
        return SampleCost.per_step(self.check_sample_options(options)["steps"])

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        k = options["steps"]
        for _ in range(k):
            self.net(torch.zeros(len(streams), dtype=torch.int64))
        which = streams.randint(len(REAL))
        bad = streams.uniform() < 1.0 / k
        return self.rows[torch.where(bad, len(REAL), which)]


@pytest.fixture(scope="module")
def truth() -> Any:
    return measure_names_truth(n=N, seed=0)


def _by_list(report: Any) -> dict[str, Any]:
    return {x.list: x for x in report.lists}


def test_the_truth_written_as_a_sampler_scores_as_the_truth(truth: Any) -> None:
    report = evaluate_names(TruthSampler(), n=N, seed=0)
    assert report.measured
    assert not report.errors
    for which, x in _by_list(report).items():
        ref = _by_list(truth)[which]
        assert x.text.validity == 1.0
        assert x.text.real == 1.0
        assert x.cross_entropy == pytest.approx(ref.cross_entropy, rel=1e-7)
        assert x.counted_evaluations is not None
        assert x.counted_evaluations > 1
    assert report.likelihood is Likelihood.EXACT
    assert report.iwae_k is None


def test_a_uniform_model_has_the_cross_entropy_computed_by_hand() -> None:
    report = evaluate_names(UniformLetters(), n=50, seed=0)
    for which, x in _by_list(report).items():
        test = load_names("test", which)
        q = test.probs / test.probs.sum()
        lengths = torch.tensor([len(name) + 1 for name in test.names], dtype=torch.float64)
        by_hand = float((q * lengths).sum()) * math.log(27)
        assert x.cross_entropy == pytest.approx(by_hand, rel=1e-6)  # the engine's float32
        assert x.text.validity < 1.0  # rows cut at 14 tokens never stopped


def test_one_name_collapses_and_has_no_cross_entropy(truth: Any) -> None:
    report = evaluate_names(OneName(), n=N, seed=0)
    for x in report.lists:
        assert x.diversity.distinct == 1
        assert x.cross_entropy is None
    comparison = NamesComparison((truth, report), (), N, 0, 16, 0.0)
    from genproto.compare.names_claims import judge_names

    claims = {c.key: c for c in judge_names(comparison.reports)}
    assert claims["adversarial.names_collapse"].status is Status.HOLDS
    assert claims["adversarial.names_likelihood"].status is Status.HOLDS


def test_a_varied_generator_does_not_collapse(truth: Any) -> None:
    fake = TruthSampler()
    report = evaluate_names(fake, n=N, seed=0)
    object.__setattr__(report, "paradigms", (Paradigm.ADVERSARIAL,))
    from genproto.compare.names_claims import judge_names

    claims = {c.key: c for c in judge_names((truth, report))}
    assert claims["adversarial.names_collapse"].status is Status.DOES_NOT_HOLD


def test_the_steps_sweep_shows_quality_and_cost_growing_with_k(truth: Any) -> None:
    from genproto.compare.names_claims import judge_names

    report = evaluate_names(RealWithSteps(), n=100, seed=0, steps=(1, 2, 8, 32), sweep_n=200)
    ks = [p.steps for p in report.sweep]
    assert ks == [1, 2, 8, 32]
    assert [p.counted_evaluations for p in report.sweep] == [1.0, 2.0, 8.0, 32.0]
    # The names are female ones (some also surnames), so the real share rises as 1 - 1/K
    # times the share of REAL on each list.
    real = [p.real for p in report.sweep]
    assert real[0] == 0.0
    assert real == sorted(real)
    assert real[-1] > 0.5
    claims = {c.key: c for c in judge_names((truth, report))}
    assert claims["diffusion.names_cost"].status is Status.HOLDS
    assert claims["diffusion.names_quality"].status is Status.HOLDS


def test_a_model_of_other_events_is_reported_not_measured() -> None:
    from compare_models import Uniform

    report = evaluate_names(Uniform(), n=10)
    assert not report.measured
    assert "not a names model" in report.errors[0]
    assert not is_names_model(Uniform())


def names_registry() -> Registry:
    dataset = Option("dataset", str, "digits", "training data", choices=("digits", "names"))

    def bigram(dataset: str = "digits") -> Any:
        if dataset != "names":
            from compare_models import Uniform

            return Uniform(name="bigram")
        return NamesBigram()

    reg = Registry(entry_points=False)
    reg.register("bigram", bigram, capabilities=NamesBigram().capabilities, options=[dataset])
    reg.register("one_name", OneName, capabilities=OneName().capabilities)
    from compare_models import Uniform

    reg.register("digits_only", Uniform, capabilities=Uniform().capabilities)
    return reg


def test_the_plan_builds_names_configurations_and_text_models() -> None:
    plan = names_plan(names_registry(), None)
    assert [(e.name, o) for e, o in plan] == [("bigram", {"dataset": "names"}),
                                              ("one_name", {})]
    with pytest.raises(InvalidArgumentError, match="digits_only"):
        names_plan(names_registry(), ["digits_only"])
    with pytest.raises(UnknownModelError):
        names_plan(names_registry(), ["nope"])


def test_compare_names_end_to_end_report_json_and_chart(tmp_path: Path) -> None:
    comparison = compare_names(registry=names_registry(), n=120, seed=0, progress=False)
    names = [r.name for r in comparison.reports]
    assert names == ["truth", "bigram", "one_name"]
    rows = comparison.rows()
    assert len(rows) == 9
    assert rows[0][0] == "truth"
    markdown = comparison.markdown()
    assert "| bigram | autoregressive | female |" in markdown
    assert "GAN: prone to mode collapse**: holds" in markdown
    data = json.loads(comparison.to_json())
    assert data["settings"]["data"] == "names"
    assert [m["name"] for m in data["models"]] == names
    assert "Claims of the cheatsheet on names" in comparison.text()
    path = save_names_chart(comparison, tmp_path / "names.png")
    with Image.open(path) as image:
        assert image.size == (900, 560)
    assert names_chart(comparison).tobytes() == names_chart(comparison).tobytes()


class TrainCopy(NamesText):
    """Copies the training list: a train name drawn by its Census frequency, and the exact
    likelihood of that copier (0 for every name off the train split)."""

    def __init__(self) -> None:
        super().__init__(Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT,
                                      SampleCost.single_pass(), EVENT, CONDITION),
                         name="train_copy")
        self.net = Table(torch.zeros(1, 1))
        self.train = {w: load_names("train", w) for w in ("female", "male", "surname")}
        self.log_q = {w: self._log_q(w) for w in self.train}

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"net": self.net}

    def _log_q(self, which: str) -> dict[str, float]:
        data = self.train[which]
        total = float(data.probs.sum())
        return {n: math.log(p / total) for n, p in zip(data.names, data.probs.tolist(),
                                                       strict=True)}

    def sample_batch(self, streams: KeyedStreams, condition: Any, **options: Any) -> torch.Tensor:
        self.net(torch.zeros(len(streams), dtype=torch.int64))
        rows = [""] * len(streams)
        for which, data in self.train.items():
            index = [i for i, w in enumerate(condition) if w == which]
            if index:
                logits = data.probs.log().float().expand(len(index), -1)
                picks = streams.select(torch.tensor(index)).categorical(logits, method="inverse")
                for i, pick in zip(index, picks.tolist(), strict=True):
                    rows[i] = data.names[pick]
        return self.from_text(rows).long()

    def log_likelihood_batch(self, x: torch.Tensor, condition: Any, streams: KeyedStreams,
                             **options: Any) -> torch.Tensor:
        out = [self.log_q[which].get(text, -math.inf)
               for text, which in zip(self.to_text(x), condition, strict=True)]
        return torch.tensor(out, dtype=torch.float64)


def test_a_model_that_copies_the_training_list() -> None:
    """Novelty 0, every sample real, zero probability for the unseen test names (cross-entropy
    infinite), and on the train names the cross-entropy of the train list's own distribution,
    its entropy, computed by hand."""
    model = TrainCopy()
    report = evaluate_names(model, n=200, seed=0)
    for x in report.lists:
        assert x.text.novelty == 0.0
        assert x.text.real == 1.0
        assert x.cross_entropy == math.inf
    train = load_names("train", "male")
    q = train.probs / train.probs.sum()
    by_hand = -float((q * q.log()).sum())
    nats = model.log_likelihood(model.from_text(train.names), "male").double()
    assert -float((q * nats).sum()) == pytest.approx(by_hand, rel=1e-6)
