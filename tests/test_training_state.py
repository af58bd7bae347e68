"""The training state is one atomic unit, validated on --resume; divergence saves nothing.

Uses the small ``LearnedGaussian`` of tests/test_training.py. The kill tests run
``fit`` in a child process killed with SIGKILL at a save, then resume: the result must
equal an uninterrupted run whatever moment the kill hit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save
from test_training import LearnedGaussian, weights

from genproto.errors import (
    CheckpointError,
    GenprotoError,
    InvalidArgumentError,
    TrainingDiverged,
)
from genproto.training import STATE_FILE, TrainSettings, fit, read_state

QUIET = {"progress": False, "log": lambda s: None}


def _train(directory: Path, steps: int = 12, **kw: object) -> LearnedGaussian:
    model = LearnedGaussian()
    settings = TrainSettings(steps=steps, batch_size=64, lr=0.05, save_every=4, report_every=6)
    fit(model, directory, settings=settings, **QUIET, **kw)  # type: ignore[arg-type]
    return model


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    return weights(_train(tmp_path_factory.mktemp("whole")))


def _resume(directory: Path) -> LearnedGaussian:
    return _train(directory, resume=True)


# -- a kill at any moment leaves the old step or the new one ------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    import genproto.training as training
    from test_training_state import _train
    real = training.{where}
    calls = [0]
    def dying(*args, **kwargs):
        calls[0] += 1
        if calls[0] == {nth}:
            {before}
        out = real(*args, **kwargs)
        if calls[0] == {nth}:
            {after}
        return out
    training.{where} = dying
    _train(__import__("pathlib").Path({directory!r}))
""")
KILL = "os.kill(os.getpid(), signal.SIGKILL)"


@pytest.mark.parametrize(
    ("where", "nth", "before", "after"),
    [
        ("atomic_write_bytes", 2, KILL, "pass"),  # as the second state write starts
        ("atomic_write_bytes", 2, "pass", KILL),  # state at step 8 written, model not yet
        ("_check_weights", 3, KILL, "pass"),  # before the third save starts
    ],
    ids=["as-the-state-write-starts", "between-state-and-model", "before-a-save"],
)
def test_resume_after_a_kill_at_a_save_equals_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: dict[str, torch.Tensor],
    where: str, nth: int, before: str, after: str,
) -> None:
    directory = tmp_path / "run"
    code = CHILD.format(tests=str(Path(__file__).parent), where=where, nth=nth, before=before,
                        after=after, directory=str(directory))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert read_state(directory).step in (4, 8)  # the old step or the new one, whole
    resumed = _resume(directory)
    for key, value in uninterrupted.items():
        assert torch.equal(weights(resumed)[key], value), key


# -- --resume names what is damaged ------------------------------------------------------------


def _rewrite(path: Path, *, meta: object = None, tensors: dict[str, torch.Tensor] | None = None,
             drop_meta: bool = False) -> None:
    with safe_open(str(path), framework="pt") as f:
        info = dict(f.metadata() or {})
        old = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if meta is not None:
        info["genproto.training"] = meta if isinstance(meta, str) else json.dumps(meta)
    if drop_meta:
        info = {}
    path.write_bytes(save({**old, **(tensors or {})} if tensors is not None else old,
                          metadata=info or None))


def _info(path: Path) -> dict[str, object]:
    with safe_open(str(path), framework="pt") as f:
        return dict(json.loads((f.metadata() or {})["genproto.training"]))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    directory = tmp_path / "run"
    _train(directory, steps=8)
    return directory


@pytest.mark.parametrize(
    ("damage", "phrase"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "tensors do not read"),
        (lambda p: _rewrite(p, drop_meta=True), "no 'genproto.training' metadata"),
        (lambda p: _rewrite(p, meta="{not json"), "does not parse"),
        (lambda p: _rewrite(p, meta="[" * 100_000 + "]" * 100_000), "does not parse"),
        (lambda p: _rewrite(p, meta="1" * 5000), "does not parse"),
        (lambda p: _rewrite(p, meta=[1, 2]), "not a JSON object"),
        (lambda p: _rewrite(p, meta={**_info(p), "step": 1e30}), "'step'"),
        (lambda p: _rewrite(p, meta={**_info(p), "step": -1}), "'step'"),
        (lambda p: _rewrite(p, meta={**_info(p), "step": 10**6}), "past the run"),
        (lambda p: _rewrite(p, meta={**_info(p), "optimizers": {}}), "no optimiser 'adam'"),
        (lambda p: _rewrite(p, meta={**_info(p), "settings": "x"}), "'settings'"),
        (lambda p: _rewrite(p, tensors={"model/net.weight": torch.full((2, 2), float("nan"))}),
         "NaN or infinity"),
        (lambda p: _rewrite(p, tensors={"model/net.weight": torch.zeros(3, 3)}),
         "does not fit the model"),
        (lambda p: _rewrite(p, tensors={"model/net.weight": torch.zeros(2, 2, dtype=torch.int8)}),
         "does not fit the model"),
        (lambda p: _rewrite(p, tensors={"optim/adam.0.exp_avg": torch.zeros(7)}),
         "shape"),
        (lambda p: _rewrite(p, tensors={"optim/adam.9.exp_avg": torch.zeros(2)}),
         "optimiser state does not fit"),
        (lambda p: _rewrite(p, tensors={"stray": torch.zeros(1)}), "neither model/ nor optim/"),
    ],
)
def test_a_damaged_state_is_a_checkpoint_error_naming_the_file(
    saved: Path, damage: object, phrase: str
) -> None:
    path = saved / STATE_FILE
    damage(path)  # type: ignore[operator]
    with pytest.raises(CheckpointError, match=phrase) as info:
        _resume(saved)
    assert STATE_FILE in str(info.value)
    assert "train without --resume" in str(info.value)


def test_the_older_two_file_layout_still_resumes(
    saved: Path, uninterrupted: dict[str, torch.Tensor]
) -> None:
    state = read_state(saved)
    (saved / "training.safetensors").write_bytes(save(dict(state.optimizer_tensors)))
    (saved / "training.json").write_text(json.dumps(
        {"step": state.step, "settings": dict(state.settings),
         "optimizers": dict(state.optimizer_meta)}))
    (saved / STATE_FILE).unlink()
    resumed = _resume(saved)
    for key, value in uninterrupted.items():
        assert torch.equal(weights(resumed)[key], value), key


# -- divergence and bad settings ----------------------------------------------------------------


@pytest.mark.parametrize("lr", [float("inf"), float("nan"), 0.0, -1.0])
def test_non_finite_or_non_positive_learning_rates_are_refused(lr: float) -> None:
    with pytest.raises(InvalidArgumentError, match="'lr'"):
        TrainSettings(steps=1, lr=lr)


class _Diverges(LearnedGaussian):
    def train_step(self, batch):  # type: ignore[no-untyped-def]
        losses = super().train_step(batch)
        if batch.step >= 5:
            with torch.no_grad():
                self.net.weight.fill_(float("nan"))
            return {"nll": float("nan")}
        return losses


def test_a_diverging_run_stops_with_a_typed_error_and_saves_nothing_new(tmp_path: Path) -> None:
    directory = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="step 5.*'nll'"):
        fit(_Diverges(), directory, settings=TrainSettings(
            steps=12, batch_size=64, lr=0.05, save_every=4, report_every=6), **QUIET)
    assert read_state(directory).step == 4  # the last good save, untouched


@pytest.mark.parametrize("directory", ["", "a\0b", None, 3])
def test_a_bad_training_folder_is_refused_before_training(directory: object) -> None:
    with pytest.raises(GenprotoError):
        fit(LearnedGaussian(), directory, settings=TrainSettings(steps=1), **QUIET)  # type: ignore[arg-type]
