"""Counting the network evaluations of a sampling run: what checks a model's declared cost.

:class:`EvaluationCounter` counts the calls of the modules a model declares as its networks
(``Model.networks()``), per calling thread, and weighs each call by the rows it covers
(:meth:`EvaluationCounter.settle`); :func:`genproto.sampling.run` reports the result and the
contract suite compares it with :class:`~genproto.protocol.SampleCost`.

How a call is seen. While any counter holds a module, the module's instance attribute
``forward`` is a *tap*: a function that calls the forward found before it (the class's method,
or an instance ``forward`` someone else installed) and then tells every counter holding the
module. ``Module.__call__`` looks ``forward`` up on the instance, so the module keeps torch's
fast call path. A forward hook would make every call take the slow path with hooks
(``Module._call_impl``): ~7-10 us more a call on this project's CPU, measured against ~2 us for
the tap -- the most for the many-call paradigms at small batch (64 calls a batch for the
autoregressive model, 50 for a diffusion run). One tap serves every counter of every thread
(:data:`_TAPS`, under a lock): the first counter to hold a module installs it, the last to
leave puts the previous ``forward`` back, so counters may nest and threads may overlap in
any order. A TorchScript module is counted the same way (it takes no forward hooks at all).

Differences from a forward hook, none of which a plugin that calls its networks sees: a direct
call of ``net.forward(...)`` is counted too (it evaluates the network as much as ``net(...)``
does); and a module deep-copied while a counter holds it would carry the tap in its copy, so do
not copy or pickle networks inside ``sample_batch`` (nothing in genproto does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["EvaluationCounter", "call_rows"]


def call_rows(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int | None:
    """The rows of a forward call: the leading dimension of its first tensor argument with
    a dimension (positional first, one level into a tuple or list, then keyword); ``None``
    when there is none (the call is taken to cover the whole batch)."""
    if args and isinstance(args[0], torch.Tensor) and args[0].ndim:  # the common call
        return int(args[0].shape[0])
    for value in (*args, *kwargs.values()):
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, torch.Tensor) and item.ndim:
                return int(item.shape[0])
    return None


_Listener = tuple["EvaluationCounter", str]


class _Tap:
    """The counting ``forward`` of one module: the previous forward, then each listener.

    ``listeners`` is replaced, never mutated, so a call iterates a snapshot without the lock.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module
        self.had_own = "forward" in module.__dict__  # an instance forward to restore on exit
        self.previous: Callable[..., Any] = module.forward
        self.listeners: tuple[_Listener, ...] = ()
        previous = self.previous

        def forward(*args: Any, **kwargs: Any) -> Any:
            out = previous(*args, **kwargs)
            for counter, name in self.listeners:
                counter._record(name, args, kwargs)
            return out

        self.forward = forward
        module.__dict__["forward"] = forward

    def remove(self) -> None:
        """Put the previous forward back, unless someone has replaced the tap since (then the
        tap stays inside their forward, listening to no one)."""
        if self.module.__dict__.get("forward") is self.forward:
            if self.had_own:
                self.module.__dict__["forward"] = self.previous
            else:
                del self.module.__dict__["forward"]


_TAPS: dict[int, _Tap] = {}  # id(module) -> its tap, while a counter holds the module
_TAPS_LOCK = threading.Lock()


class EvaluationCounter:
    """Counts forward calls of a set of modules, and what each sample waited for.

    Used as a context manager; ``calls`` is the total since entry (``by_network`` per
    network). A model whose output changes while no evaluation is counted is bypassing
    the networks it declared (the contract suite checks for that). Only calls made by
    the thread that entered the counter count, so two threads sampling one model each
    count their own. A module declared under two names counts once for each.

    Per sample (the meaning of :class:`~genproto.protocol.SampleCost`): each call
    records its rows (the leading dimension of its first tensor argument), and
    :meth:`settle`, called by the engine after each batch of B samples, counts every
    call of that batch as ``min(rows, B)`` sample evaluations -- a call on the rows of
    a few samples counts for those, a call on all of them (or on 2B rows of batched
    guidance) once for each. ``evaluations_per_sample`` is the mean over the settled
    samples, ``peak_evaluations_per_sample`` the largest of the batches' means.
    """

    def __init__(self, networks: Mapping[str, torch.nn.Module]) -> None:
        self._networks = dict(networks)
        self._thread = threading.get_ident()
        self.calls = 0
        self.by_network: dict[str, int] = dict.fromkeys(self._networks, 0)
        self.samples = 0
        self.sample_evaluations = 0
        self.peak_evaluations_per_sample = 0.0
        self._pending: list[int | None] = []  # rows of each call since the last settle

    def _record(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        if threading.get_ident() == self._thread:
            self.calls += 1
            self.by_network[name] += 1
            self._pending.append(call_rows(args, kwargs))

    def settle(self, batch: int) -> int:
        """End a batch of ``batch`` samples: its calls count ``min(rows, batch)`` each.

        Returns the batch's sample evaluations and adds them to the totals.
        """
        counted = sum(batch if rows is None else min(rows, batch) for rows in self._pending)
        self._pending.clear()
        self.samples += batch
        self.sample_evaluations += counted
        if batch:
            self.peak_evaluations_per_sample = max(
                self.peak_evaluations_per_sample, counted / batch
            )
        return counted

    @property
    def evaluations_per_sample(self) -> float:
        """Sample evaluations per settled sample (0.0 before any)."""
        return self.sample_evaluations / self.samples if self.samples else 0.0

    def __enter__(self) -> EvaluationCounter:
        self._thread = threading.get_ident()
        with _TAPS_LOCK:
            for name, net in self._networks.items():
                tap = _TAPS.get(id(net))
                if tap is None:
                    tap = _TAPS[id(net)] = _Tap(net)
                tap.listeners = (*tap.listeners, (self, name))
        return self

    def __exit__(self, *exc: object) -> None:
        with _TAPS_LOCK:
            for net in self._networks.values():
                tap = _TAPS.get(id(net))
                if tap is None:
                    continue
                tap.listeners = tuple(entry for entry in tap.listeners if entry[0] is not self)
                if not tap.listeners:
                    tap.remove()
                    del _TAPS[id(net)]
