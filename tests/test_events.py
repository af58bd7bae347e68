"""Declared event spaces: value ranges, storage dtypes, layouts and variable-length sequences.

Each kind of event goes end to end through ``sample``, ``sample_iter``, ``write_npy``,
torchrun sharding and ``log_likelihood`` on the small models of ``event_models``; bad
input gets the typed error naming the value and what is allowed; a model that breaks its
declaration is caught by the engine; 1.x capabilities read unchanged.
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from event_models import MAX_LENGTH, VOCABULARY, Bytes, Pixels, Tokens
from PIL import Image
from runners import run_single_and_torchrun

from genproto import Capabilities, EventKind, EventSpace, Likelihood, Paradigm, SampleCost, sampling
from genproto.checkpoint import PluginInfo, read_config, save_checkpoint
from genproto.errors import InputError, InputTypeError, PluginError
from genproto.model import Model
from genproto.protocol import RANGE_TOLERANCE, Layout, smallest_storage
from genproto.streams import KeyedStreams

TESTS = Path(__file__).parent
ROOT = TESTS.parent
MODELS = {"pixels": Pixels, "bytes": Bytes, "tokens": Tokens}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request: pytest.FixtureRequest) -> Model:
    made: Model = MODELS[request.param]()
    return made


# -- declarations ---------------------------------------------------------------------------


def test_events_declared_the_protocol_1_way_keep_their_dtype_and_json() -> None:
    digits = EventSpace.discrete((8, 8), 17)
    assert digits.dtype == digits.storage == torch.int64
    assert digits.layout is Layout.UNSPECIFIED
    assert (digits.low, digits.high, digits.stop, digits.pad) == (None,) * 4
    assert digits.to_dict() == {"shape": [8, 8], "kind": "discrete", "levels": 17}
    assert digits.describe() == "8x8 discrete, levels 0..16"
    points = EventSpace.continuous((2,))
    assert points.dtype == torch.float32
    assert points.storage is None
    assert points.to_dict() == {"shape": [2], "kind": "continuous", "levels": None}
    assert EventSpace(( 8, 8), EventKind.DISCRETE, 17) == digits


def test_new_declarations_describe_themselves() -> None:
    assert Pixels.event.describe() == "3x4x4 continuous in [-1, 1], image"
    assert Bytes.event.describe() == "1x4x4 discrete, levels 0..255, stored as uint8, image"
    assert Tokens.event.describe() == (
        "sequences of up to 6 tokens 0..4 (stop 1, pad 0), stored as uint8")
    assert EventSpace.continuous((2,), low=0.0).describe() == "2 continuous in [0, inf)"
    assert Tokens.event.is_sequence
    assert not Bytes.event.is_sequence
    assert Tokens.event.layout is Layout.TOKENS


@pytest.mark.parametrize(
    ("levels", "dtype"),
    [(2, torch.uint8), (256, torch.uint8), (257, torch.int16), (2**15, torch.int16),
     (2**15 + 1, torch.int32), (2**31, torch.int32), (2**31 + 1, torch.int64)],
)
def test_smallest_storage_holds_the_levels(levels: int, dtype: torch.dtype) -> None:
    assert smallest_storage(levels) == dtype
    assert EventSpace.discrete((4,), levels, storage="smallest").dtype == dtype
    assert EventSpace.sequence(4, levels, stop=0, pad=1).dtype == dtype


def test_storage_may_be_named_or_given_as_a_dtype() -> None:
    by_name = EventSpace.discrete((4,), 300, storage="int32")
    assert by_name == EventSpace.discrete((4,), 300, storage=torch.int32)
    assert EventSpace.discrete((4,), 300, storage="int64") == EventSpace.discrete((4,), 300)


@pytest.mark.parametrize(
    ("make", "phrase"),
    [(lambda: EventSpace.discrete((4,), 300, storage="uint8"),
      r"storage uint8 holds at most level 255, not levels 0..299: use int16"),
     (lambda: EventSpace.discrete((4,), 3, storage="float32"),
      r"'storage' must be one of uint8, int16, int32, int64 .*got 'float32'"),
     (lambda: EventSpace.discrete((4,), 3, storage=torch.int8),
      r"'storage' must be one of .*got torch.int8"),
     (lambda: EventSpace(( 4,), EventKind.CONTINUOUS, storage="int64"),
      "a continuous event is stored as float32"),
     (lambda: EventSpace(( 4,), EventKind.DISCRETE, 5, low=0.0), "takes no low or high"),
     (lambda: EventSpace.continuous((4,), low=1.0, high=1.0), r"low < high .*low=1.0"),
     (lambda: EventSpace.continuous((4,), low=float("-inf")), "finite number, or None"),
     (lambda: EventSpace.continuous((4,), high="1"), "finite number, or None"),
     (lambda: EventSpace.continuous((4,), high=True), "finite number, or None"),
     (lambda: EventSpace.continuous((4,), layout="pixels"),
      "'layout' must be a Layout or one of unspecified, image, points, tokens"),
     (lambda: EventSpace.continuous((4,), layout="image"), r"\(H, W\) or \(C, H, W\)"),
     (lambda: EventSpace.continuous((4, 4), layout="points"), r"shape \(D,\)"),
     (lambda: EventSpace.continuous((4,), layout="tokens"), r"discrete with shape \(L,\)"),
     (lambda: EventSpace.sequence(4, 5, stop=5, pad=0), r"stop token must be a level 0..4"),
     (lambda: EventSpace.sequence(4, 5, stop=1, pad=-1), r"pad token must be a level 0..4"),
     (lambda: EventSpace.sequence(4, 5, stop=1.0, pad=0), "must be an int level"),  # type: ignore[arg-type]
     (lambda: EventSpace(( 4,), EventKind.DISCRETE, 5, layout="tokens", stop=1),
      "both a stop and a pad"),
     (lambda: EventSpace(( 4,), EventKind.DISCRETE, 5, stop=1, pad=0),
      "declare it with EventSpace.sequence"),
     (lambda: EventSpace(( 4,), EventKind.CONTINUOUS, stop=1, pad=0), "a tokens event|stop")],
)
def test_malformed_declarations_name_the_value_and_what_is_allowed(
    make: Any, phrase: str
) -> None:
    with pytest.raises(ValueError, match=phrase):
        make()


def test_pad_may_equal_stop() -> None:
    event = EventSpace.sequence(4, 5, stop=1, pad=1)  # a tokenizer padding with its EOS
    x = torch.tensor([[3, 1, 1, 1], [3, 3, 3, 3], [1, 1, 1, 1], [3, 1, 2, 1], [3, 3, 3, 1]])
    assert event.contains(x).tolist() == [True, True, True, False, True]
    assert event.lengths(x).tolist() == [2, 4, 1, 2, 4]


def test_lengths_and_misplaced_positions_of_a_sequence_batch() -> None:
    event = Tokens.event  # stop 1, pad 0, L = 6
    x = torch.tensor([[3, 4, 1, 0, 0, 0],   # stopped at 2
                      [3, 4, 2, 3, 4, 2],   # no stop: cut at the maximum length
                      [3, 4, 2, 3, 4, 1],   # stopped at the last position
                      [3, 0, 1, 0, 0, 0],   # padding before the stop
                      [3, 1, 0, 1, 0, 0],   # a stop in the middle of padding
                      [3, 1, 0, 2, 0, 0],   # a word after the stop
                      [3, 4, 2, 0, 0, 0]])  # padding in a row without a stop
    assert event.lengths(x).tolist() == [3, 6, 6, 3, 2, 2, 6]
    assert event.misplaced(x).nonzero().tolist() == [[3, 1], [4, 3], [5, 3], [6, 3], [6, 4],
                                                     [6, 5]]
    assert event.contains(x).tolist() == [True, True, True, False, False, False, False]
    with pytest.raises(ValueError, match="only a variable-length sequence"):
        Bytes.event.lengths(x)


def test_contains_never_wraps_a_small_dtype() -> None:
    event = EventSpace.sequence(3, 1000, stop=300, pad=999)
    as_uint8 = torch.tensor([[44, 1, 2]], dtype=torch.uint8)  # 300 wraps to 44 in uint8
    assert event.contains(as_uint8).tolist() == [True]
    assert Bytes.event.contains(torch.full((1, 1, 4, 4), 255, dtype=torch.uint8)).tolist() \
        == [True]


# -- JSON and checkpoints -------------------------------------------------------------------


def _capabilities(event: EventSpace) -> Capabilities:
    return Capabilities(Paradigm.AUTOREGRESSIVE, Likelihood.EXACT, SampleCost.single_pass(),
                        event)


@pytest.mark.parametrize(
    "event",
    [Pixels.event, Bytes.event, Tokens.event, EventSpace.sequence(4, 70000, stop=3, pad=3),
     EventSpace.continuous((2,), low=-3.5, layout=Layout.POINTS),
     EventSpace.continuous((2,), high=0.25), EventSpace.discrete((5,), 9, layout="tokens"),
     EventSpace.discrete((8, 8), 17, storage="int16", layout="image"),
     EventSpace.discrete((8, 8), 17), EventSpace.continuous((2,))],
)
def test_every_declaration_round_trips_through_json_and_a_checkpoint(
    event: EventSpace, tmp_path: Path
) -> None:
    caps = _capabilities(event)
    text = json.dumps(caps.to_dict())  # JSON-ready: no torch dtypes or enums left
    assert Capabilities.from_dict(json.loads(text)) == caps
    saved = save_checkpoint(tmp_path / "ckpt", model="m", options={},
                            plugin=PluginInfo("genproto-m", "0.1"), capabilities=caps,
                            tensors={"w": torch.zeros(2)})
    assert read_config(saved).capabilities == caps


def test_defaults_are_left_out_of_the_json() -> None:
    assert set(Pixels.event.to_dict()) == {"shape", "kind", "levels", "low", "high", "layout"}
    assert set(Bytes.event.to_dict()) == {"shape", "kind", "levels", "storage", "layout"}
    assert Tokens.event.to_dict() == {"shape": [6], "kind": "discrete", "levels": 5,
                                      "storage": "uint8", "layout": "tokens", "stop": 1,
                                      "pad": 0}


SHIPPED = sorted(ROOT.glob("plugins/*/genproto_*/weights/*/genproto.json"))
#: Shipped checkpoints whose event declares nothing beyond protocol 1's fields (a layout,
#: storage or stop token is a 2.x declaration: the names models' token sequences).
SHIPPED_1X_EVENTS = [p for p in SHIPPED
                     if "layout" not in json.loads(p.read_text())["capabilities"]["event"]]


@pytest.mark.parametrize("path", SHIPPED_1X_EVENTS,
                         ids=lambda p: f"{p.parents[3].name}/{p.parent.name}")
def test_shipped_1x_checkpoints_read_unchanged(path: Path) -> None:
    data = json.loads(path.read_text())
    caps = read_config(path.parent).capabilities
    assert caps.event.layout is Layout.UNSPECIFIED
    assert caps.event.dtype == (torch.int64 if caps.event.kind is EventKind.DISCRETE
                                else torch.float32)
    assert caps.event.to_dict() == data["capabilities"]["event"]  # re-saved: the same JSON


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parents[3].name}/{p.parent.name}")
def test_every_shipped_checkpoint_reads_back_to_the_same_json(path: Path) -> None:
    data = json.loads(path.read_text())
    caps = read_config(path.parent).capabilities
    assert caps.event.to_dict() == data["capabilities"]["event"]
    if caps.event.is_sequence:
        assert caps.event.layout is Layout.TOKENS


def test_some_shipped_checkpoints_are_1x_events_and_some_sequences() -> None:
    assert len(SHIPPED_1X_EVENTS) >= 6
    assert len(SHIPPED) > len(SHIPPED_1X_EVENTS)


def test_shipped_checkpoints_exist() -> None:
    assert len(SHIPPED) >= 6


def test_a_bad_stored_event_is_a_checkpoint_error(tmp_path: Path) -> None:
    from genproto.errors import CheckpointError

    saved = Tokens().save(tmp_path / "ckpt")
    config = saved / "genproto.json"
    data = json.loads(config.read_text())
    data["capabilities"]["event"]["storage"] = "float16"
    config.write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match="capabilities.*'storage' must be one of"):
        read_config(saved)


# -- end to end through the engine ----------------------------------------------------------


def _same(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.is_floating_point():
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)  # row-wise float arithmetic
    else:
        assert torch.equal(a, b)


def test_samples_have_the_declared_dtype_and_lie_in_the_space(model: Model) -> None:
    event = model.capabilities.event
    result = model.sample_run(97, seed=4, batch_size=32)
    assert result.samples.dtype == event.dtype
    assert result.samples.shape == (97, *event.shape)
    assert event.contains(result.samples).all()
    assert result.evaluations_per_sample == model.capabilities.cost.evaluations
    assert model.sample(0).dtype == event.dtype


@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_samples_do_not_depend_on_batch_size(model: Model, batch_size: int) -> None:
    whole = model.sample(64, seed=12, batch_size=64)
    _same(model.sample(64, seed=12, batch_size=batch_size), whole)
    chunks = list(model.sample_iter(64, seed=12, batch_size=batch_size))
    assert all(c.dtype == whole.dtype for c in chunks)
    _same(torch.cat(chunks), whole)


def test_write_npy_stores_the_declared_dtype(model: Model, tmp_path: Path) -> None:
    path = tmp_path / "out.npy"
    sampling.write_npy(model, 45, path, seed=7, batch_size=8)
    on_disk = np.load(path)
    event = model.capabilities.event
    assert on_disk.dtype == torch.empty(0, dtype=event.dtype).numpy().dtype
    assert on_disk.nbytes == 45 * event.dimension * event.dtype.itemsize  # uint8: 1 byte each
    assert torch.equal(torch.from_numpy(on_disk), model.sample(45, seed=7, batch_size=8))


@pytest.mark.parametrize("batch_size", [1, 5, 40])
def test_log_likelihood_does_not_depend_on_batch_size(model: Model, batch_size: int) -> None:
    x = model.sample(40, seed=3)
    whole = model.log_likelihood(x, batch_size=40)
    assert whole.shape == (40,)
    assert torch.isfinite(whole).all()
    torch.testing.assert_close(model.log_likelihood(x, batch_size=batch_size), whole,
                               rtol=0, atol=1e-5)


def test_log_likelihood_batch_receives_int64_levels_whatever_the_storage() -> None:
    seen: list[torch.dtype] = []

    class Spy(Tokens):
        def log_likelihood_batch(self, x: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
            seen.append(x.dtype)
            return super().log_likelihood_batch(x, *args, **kw)

    spy = Spy()
    x = spy.sample(5, seed=0)
    assert x.dtype == torch.uint8
    spy.log_likelihood(x)
    spy.log_likelihood(x.to(torch.int32))
    assert seen == [torch.int64, torch.int64]


def test_a_sequence_likelihood_sums_to_one_over_the_valid_sequences() -> None:
    """Up to and including the stop: every valid sequence once, padding adds nothing."""
    model = Tokens()
    every = torch.tensor(list(itertools.product(range(VOCABULARY), repeat=MAX_LENGTH)))
    valid = every[model.capabilities.event.contains(every)]
    assert 0 < len(valid) < len(every)
    total = torch.logsumexp(model.log_likelihood(valid).double(), 0)
    assert abs(float(total)) < 1e-4


def test_a_range_likelihood_integrates_to_one_on_the_range() -> None:
    """Pixels' density is a product of one density per value: integrate that over [-1, 1]."""
    grid = torch.linspace(-1, 1, 4001)
    per_value = Pixels().log_likelihood(grid[:, None, None, None].expand(-1, 3, 4, 4)) / 48
    area = torch.trapezoid(per_value.double().exp(), grid.double())
    assert abs(float(area) - 1) < 1e-4


# -- torchrun: each rank writes its slice of one file ---------------------------------------

TORCHRUN = """
import sys
sys.path.insert(0, {tests!r})
from genproto import registry
from genproto.cli.main import main
from event_models import Bytes, Pixels, Tokens
for model in (Bytes, Pixels, Tokens):
    registry.register(model().name, model, capabilities=model().capabilities)
for name in ("bytes", "pixels", "tokens"):
    code = main(["sample", name, "-n", "101", "--seed", "9", "--batch-size", "16",
                 "-o", f"{{name}}-{{sys.argv[1]}}.npy"])
    assert code == 0, code
"""


def test_torchrun_ranks_write_the_single_process_file(tmp_path: Path) -> None:
    script = tmp_path / "run.py"
    script.write_text(TORCHRUN.format(tests=str(TESTS)))
    run_single_and_torchrun(script, tmp_path)
    for name, dtype in (("bytes", np.uint8), ("pixels", np.float32), ("tokens", np.uint8)):
        one, two = np.load(tmp_path / f"{name}-single.npy"), np.load(tmp_path / f"{name}-multi.npy")
        assert one.dtype == two.dtype == dtype
        assert np.array_equal(one, two)


# -- bad input: typed errors naming the value and what is allowed ---------------------------


def test_x_outside_the_declared_range_is_an_input_error_naming_row_and_value() -> None:
    model = Pixels()
    x = model.sample(4, seed=0)
    x[2, 1, 0, 3] = 1.5
    with pytest.raises(InputError, match=r"row 2.*got 1\.5.*values in \[-1, 1\]") as info:
        model.log_likelihood(x)
    assert info.value.value == 1.5
    with pytest.raises(InputError, match=r"got -255\.0"):
        model.log_likelihood(torch.full((1, 3, 4, 4), -255.0))
    with pytest.raises(InputError, match="NaN or inf"):  # still before the range
        model.log_likelihood(torch.full((1, 3, 4, 4), float("nan")))


def test_x_within_the_slack_is_clamped_before_the_plugin_sees_it() -> None:
    seen: list[torch.Tensor] = []

    class Spy(Pixels):
        def log_likelihood_batch(self, x: torch.Tensor, *args: Any, **kw: Any) -> torch.Tensor:
            seen.append(x.clone())
            return super().log_likelihood_batch(x, *args, **kw)

    x = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    x[0, 0, 0, 0] = 1 + RANGE_TOLERANCE / 2
    x[1, 0, 0, 0] = -1 - RANGE_TOLERANCE / 2
    before = x.clone()
    Spy().log_likelihood(x)
    assert float(seen[0].max()) == 1.0
    assert float(seen[0].min()) == -1.0
    assert torch.equal(x, before)  # the caller's tensor is left alone
    x[0, 0, 0, 0] = 1 + 2 * RANGE_TOLERANCE
    with pytest.raises(InputError, match="declared range"):
        Spy().log_likelihood(x)


@pytest.mark.parametrize(
    ("row", "phrase"),
    [([3, 0, 1, 0, 0, 0], r"row 1, position 1: padding \(0\) before the stop token at "
                          r"position 2: got 0"),
     ([3, 1, 0, 1, 0, 0], r"row 1, position 3: a stop token \(1\) in the middle of padding"),
     ([3, 1, 0, 2, 0, 0], r"row 1, position 3: token 2 after the stop token at position 1"),
     ([3, 4, 2, 0, 0, 0], r"row 1, position 3: padding \(0\) in a row without a stop token")],
)
def test_x_breaking_the_stop_pad_rule_is_an_input_error_naming_row_and_position(
    row: list[int], phrase: str
) -> None:
    x = torch.tensor([[2, 1, 0, 0, 0, 0], row], dtype=torch.uint8)
    with pytest.raises(InputError, match=phrase) as info:
        Tokens().log_likelihood(x)
    assert "then only padding (0) to length 6" in str(info.value)  # what is allowed


@pytest.mark.parametrize(
    ("x", "error", "phrase"),
    [(torch.full((1, 1, 4, 4), 256), InputError, r"got 256.*levels 0..255"),
     (torch.full((1, 1, 4, 4), -1, dtype=torch.int16), InputError, r"got -1.*levels 0..255"),
     (torch.zeros(1, 1, 4, 4), InputTypeError, r"dtype of x.*got 'torch.float32'"),
     (torch.zeros(1, 4, 4, dtype=torch.uint8), InputError, r"shape of x")],
)
def test_bad_levels_and_dtypes_for_a_uint8_event(x: torch.Tensor, error: type[Exception],
                                                 phrase: str) -> None:
    with pytest.raises(error, match=phrase):
        Bytes().log_likelihood(x)


def test_any_integer_dtype_holding_the_levels_is_accepted() -> None:
    model = Bytes()
    x = model.sample(3, seed=1)
    values = [model.log_likelihood(x.to(d)) for d in (torch.uint8, torch.int16, torch.int64)]
    assert all(torch.equal(v, values[0]) for v in values)


# -- a model breaking its declaration is caught by the engine -------------------------------


class _Overshoot(Pixels):
    """Returns ``factor`` times its samples: out of its declared range for factor > 1."""

    factor = 1.5

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        x[-1, 0, 0, 0] = self.factor
        return x.double()


def test_samples_outside_the_declared_range_are_a_plugin_error() -> None:
    with pytest.raises(PluginError, match=r"'pixels'.*returned 1\.5 \(row 3\), outside the "
                                          r"declared range.*values in \[-1, 1\]"):
        _Overshoot().sample(4, seed=0, batch_size=4)
    with pytest.raises(PluginError, match="outside the declared range"):
        list(_Overshoot().sample_iter(4, seed=0))


def test_samples_within_the_slack_are_clamped_into_the_range() -> None:
    model = _Overshoot()
    model.factor = 1 + RANGE_TOLERANCE / 2
    x = model.sample(4, seed=0, batch_size=4)
    assert x.dtype == torch.float32
    assert float(x[-1, 0, 0, 0]) == 1.0


class _Misplaces(Tokens):
    """Writes ``token`` at ``position`` of the last row after sampling it properly."""

    def __init__(self, row: list[int]) -> None:
        super().__init__()
        self.row = row

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        x = super().sample_batch(streams, condition, **options)
        x[-1] = torch.tensor(self.row)
        return x


@pytest.mark.parametrize(
    ("row", "phrase"),
    [([3, 1, 0, 1, 0, 0], r"token 1 at row 4, position 3: a stop token \(1\) in the middle "
                          r"of padding"),
     ([3, 0, 1, 0, 0, 0], r"token 0 at row 4, position 1: padding \(0\) before the stop"),
     ([3, 4, 2, 3, 4, 0], r"token 0 at row 4, position 5: padding \(0\) in a row without a stop")],
)
def test_samples_breaking_the_stop_pad_rule_are_a_plugin_error(row: list[int],
                                                               phrase: str) -> None:
    with pytest.raises(PluginError, match=rf"'tokens': sample_batch returned {phrase}"):
        _Misplaces(row).sample(5, seed=0, batch_size=5)


class _WideMisplaces(_Misplaces):
    """The same broken row, returned as int64 for the uint8 event: the engine converts it."""

    def sample_batch(self, streams: KeyedStreams, condition: torch.Tensor | None,
                     **options: Any) -> torch.Tensor:
        return super().sample_batch(streams, condition, **options).to(torch.int64)


@pytest.mark.parametrize("how", ["sample", "sample_iter"])
def test_converted_samples_breaking_the_stop_pad_rule_are_a_plugin_error(how: str) -> None:
    # a batch that needs converting is checked for range before, and (here, by the run's
    # check of its whole output, or the stream's check of each chunk) for the rule after
    model = _WideMisplaces([3, 1, 0, 1, 0, 0])
    phrase = r"token 1 at row 6, position 3: a stop token \(1\) in the middle of padding"

    def draw() -> object:
        if how == "sample":
            return model.sample(9, seed=0, batch_size=7)
        return list(model.sample_iter(9, seed=0, batch_size=7))

    with pytest.raises(PluginError, match=rf"'tokens': sample_batch returned {phrase}"):
        draw()


def test_discrete_samples_in_another_integer_dtype_are_stored_as_declared() -> None:
    class Wide(Bytes):
        def sample_batch(self, *args: Any, **kw: Any) -> torch.Tensor:
            return super().sample_batch(*args, **kw).to(torch.int32)

    assert Wide().sample(3, seed=0).dtype == torch.uint8
    assert torch.equal(Wide().sample(3, seed=0), Bytes().sample(3, seed=0))


# -- pictures: `genproto sample -o x.png` draws an image event -----------------------------


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Any:
    from genproto import registry

    monkeypatch.setenv("GENPROTO_PLUGINS", "")
    registry.reset()
    for name, factory in MODELS.items():
        registry.register(name, factory, capabilities=factory().capabilities)
    yield registry
    registry.reset()


@pytest.mark.parametrize(("name", "mode"), [("pixels", "RGB"), ("bytes", "L")])
def test_sample_to_png_draws_an_image_event_with_seed_and_provenance(
    registered: Any, name: str, mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from genproto.cli.main import main

    out = tmp_path / "grid.png"
    assert main(["sample", name, "-n", "10", "--seed", "5", "-o", str(out)]) == 0
    assert "seed 5" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.mode == mode
        # 4 columns x 3 rows of 4x4 images at 8 screen pixels per image pixel, 1 px apart
        assert img.size == (4 * 33 + 1, 3 * 33 + 1)
        assert img.text["genproto:seed"] == "5"
        provenance = json.loads(img.text["genproto:provenance"])
        colours = img.getcolors(maxcolors=100_000) or []
    assert provenance["model"] == name
    assert provenance["seed"] == 5
    assert len(colours) > 10


def test_an_image_grid_maps_the_declared_range_to_black_and_white() -> None:
    from genproto.pictures import to_picture

    x = torch.zeros(2, 3, 4, 4)
    x[0], x[1] = -1.0, 1.0
    pixels = np.asarray(to_picture(x, Pixels.event))
    assert tuple(pixels[1, 1]) == (0, 0, 0)  # the first image: low is black
    assert tuple(pixels[1, 34]) == (255, 255, 255)  # the second: high is white
    grey = np.asarray(to_picture(torch.full((1, 1, 4, 4), 255, dtype=torch.uint8), Bytes.event))
    assert grey[1, 1] == 255


def test_sequences_have_no_picture(registered: Any, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    from genproto.cli.main import main

    assert main(["sample", "tokens", "-o", str(tmp_path / "x.png")]) == 2
    assert "no picture for this event space" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_events_block_of_the_plugin_guide_runs_and_prints_what_it_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """docs/writing-a-plugin.md's ``python events`` block is executed, so it cannot rot."""
    page = (ROOT / "docs" / "writing-a-plugin.md").read_text()
    (block,) = re.findall(r"```python events\n(.*?)```", page, flags=re.S)
    exec(compile(block, "writing-a-plugin.md (events)", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    promised = re.findall(r"print\(\w+\.describe\(\)\)\s+# (.*)", block)
    assert printed == promised
    assert len(promised) == 3
