"""``genproto compare`` on text models of the Census names: the text table in every format,
while image models' reports stay as they were."""

from __future__ import annotations

import json

import pytest
from compare_models import Resampler, capabilities
from text_models import NamesBigram, OneName

import genproto.registry
from genproto.cli.main import main
from genproto.compare import Comparison, Outcome, Status, compare
from genproto.compare.report import TEXT_HEADERS
from genproto.data.names import NAMES_LISTS
from genproto.registry import Registry

N = 120


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest


def _registry() -> Registry:
    reg = Registry(entry_points=False)
    bigram = NamesBigram()
    reg.register("bigram", lambda: bigram, capabilities=bigram.capabilities)
    reg.register("one", OneName, capabilities=OneName().capabilities)
    reg.register("ar", lambda: Resampler(name="ar"), capabilities=capabilities())
    return reg


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    return compare(registry=_registry(), n=N, per_class=5, steps=(2,), progress=False)


def _report(comparison: Comparison, name: str):  # type: ignore[no-untyped-def]
    return next(r for r in comparison.reports if r.name == name)


def test_text_models_get_the_text_metrics_of_every_list(comparison: Comparison) -> None:
    bigram, one, ar = (_report(comparison, n) for n in ("bigram", "one", "ar"))
    assert [t.list for t in bigram.text] == list(NAMES_LISTS)
    assert all(t.samples == N for t in bigram.text)
    assert bigram.is_text
    assert one.is_text
    assert not ar.is_text
    assert bigram.likelihood_outcome is Outcome.VALUES
    assert one.likelihood_outcome is Outcome.UNAVAILABLE
    for t in bigram.text:
        assert t.cross_entropy is not None
        assert t.cross_entropy.gap > 1.0
    assert all(t.cross_entropy is None for t in one.text)
    assert bigram.bits_per_dim is None
    assert bigram.frechet is None
    assert not bigram.errors
    assert not one.errors
    # The sampler counted the stopping sequences' cost: at most L, a bound.
    assert bigram.cost_bound
    assert bigram.counted_evaluations is not None
    assert 1 < bigram.counted_evaluations < bigram.declared_evaluations


def test_the_same_numbers_as_the_metrics_alone(comparison: Comparison) -> None:
    from genproto.metrics.text import evaluate_text

    alone = evaluate_text(NamesBigram(), "male", n=N, seed=0)
    assert _report(comparison, "bigram").text[1] == alone


def test_a_bound_per_token_cost_is_judged_as_a_bound(comparison: Comparison) -> None:
    claim = next(c for c in comparison.claims if c.key == "autoregressive.cost")
    assert claim.status is Status.HOLDS
    assert "bigram: counted" in claim.evidence
    assert "a bound" in claim.evidence


def test_text_markdown_and_json_carry_the_text_table(comparison: Comparison) -> None:
    text = comparison.text()
    assert "Text models, per Census list" in text
    assert text.count("bigram  ") >= 4  # the main table's row and one per list
    md = comparison.markdown()
    assert "## Text models: the Census names" in md
    assert "| " + " | ".join(TEXT_HEADERS) + " |" in md
    assert md.count("| bigram | ") == 4
    assert md.count("| one | ") == 4
    data = json.loads(comparison.to_json())
    models = {m["name"]: m for m in data["models"]}
    assert [t["list"] for t in models["bigram"]["text"]] == list(NAMES_LISTS)
    first = models["bigram"]["text"][0]["cross_entropy"]
    assert first["gap"] == pytest.approx(first["model"] - first["truth"])
    assert models["one"]["text"][0]["cross_entropy"] is None
    assert models["bigram"]["cost_bound"] is True


def test_image_models_reports_are_unchanged(comparison: Comparison) -> None:
    ar = next(m for m in json.loads(comparison.to_json())["models"] if m["name"] == "ar")
    assert "text" not in ar
    assert "cost_bound" not in ar
    only_images = compare(["ar"], registry=_registry(), n=N, per_class=5, steps=(2,),
                          progress=False)
    assert "Text models" not in only_images.text()
    assert "Text models" not in only_images.markdown()


def test_cli_compare_measures_a_text_model(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(genproto.registry, "_default", _registry())
    assert main(["compare", "one", "--json", "-n", "30", "--seed", "3"]) == 0
    (one,) = json.loads(capsys.readouterr().out)["models"]
    assert [t["samples"] for t in one["text"]] == [30, 30, 30]
    assert one["seed"] == 3
    assert main(["compare", "one", "-n", "30"]) == 0
    assert "list accuracy" in capsys.readouterr().out
