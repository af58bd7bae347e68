"""``Model``: the base a plugin's torch model derives from.

A plugin writes the paradigm's maths in two methods and declares its networks:

* :meth:`Model.sample_batch` — the batch primitive: keyed streams and conditions in,
  samples out. The shared sampler (:mod:`genproto.sampling`) does the rest.
* :meth:`Model.log_likelihood_batch` — per-sample nats for validated input
  (models with ``Likelihood.NONE`` leave it out).
* :meth:`Model.networks` — the ``nn.Module`` s whose forward calls are the
  "network evaluations" a :class:`SampleCost` counts.

The base hands every public call to the shared engine (:mod:`genproto.sampling`:
validation, batching, keyed streams, the class marginal over the declared prior,
counting, provenance), persists weights through :mod:`genproto.checkpoint`, and
validates options against the declared :class:`~genproto.options.Option` s. It is
deliberately small: it holds no paradigm logic. ``genproto.load`` lives in
:mod:`genproto.loading`, above the registry.
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Self

import torch

from genproto import sampling
from genproto.checkpoint import PluginInfo, check_tensors_fit, read_checkpoint, save_checkpoint
from genproto.errors import CheckpointError, LikelihoodUnavailable
from genproto.options import Option, validate_options
from genproto.protocol import BatchCondition, Capabilities, Condition, Origin, SampleCost
from genproto.streams import KeyedStreams
from genproto.validation import check_device

__all__ = ["Model", "Origin"]


class Model(abc.ABC):
    """Base class of genproto's torch models (see the module docstring).

    Subclasses set ``sample_options`` / ``likelihood_options`` to the options
    their primitives accept; genproto validates user input against them. They are
    read from the instance, so a configuration may set its own in ``__init__``
    (an option valid for one vocabulary or dataset need not exist for another).
    """

    sample_options: tuple[Option, ...] = ()
    likelihood_options: tuple[Option, ...] = ()

    def __init__(self, capabilities: Capabilities, *, name: str) -> None:
        self._capabilities = capabilities
        self._name = name
        self._origin: Origin | None = None
        self._device = torch.device("cpu")
        self._weights_hash: tuple[tuple[Any, ...], str] | None = None

    # -- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def origin(self) -> Origin | None:
        return self._origin

    def bind_origin(
        self,
        *,
        name: str,
        options: Mapping[str, Any],
        distribution: str | None,
        version: str | None,
    ) -> None:
        """Called by the registry: records how to rebuild this model (for ``save``)."""
        self._name = name
        self._origin = Origin(name, dict(options), distribution, version)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.device}>"

    # -- what a plugin implements ----------------------------------------------------------

    @abc.abstractmethod
    def networks(self) -> Mapping[str, torch.nn.Module]:
        """The top-level modules whose forward calls count as network evaluations."""

    @abc.abstractmethod
    def sample_batch(
        self, streams: KeyedStreams, condition: BatchCondition, **options: Any
    ) -> torch.Tensor:
        """Turn a batch's keyed streams (and conditions) into samples ``(B, *event.shape)``.

        ``condition`` is the batch's rows of the validated condition, of the declared
        kind (:data:`~genproto.protocol.BatchCondition`: int64 labels ``(B,)``, int64 ids
        ``(B, L)``, float32 embeddings ``(B, *shape)``, or a list of B str to tokenize),
        classes drawn from the prior for the marginal, or ``None`` (unconditional, or
        the null condition where ``none_means`` is ``NULL``).

        Every random number must come from ``streams``, in the same order and
        per-sample shape for every sample, so results do not depend on batching.
        """

    def log_likelihood_batch(
        self, x: torch.Tensor, condition: BatchCondition, streams: KeyedStreams,
        **options: Any,
    ) -> torch.Tensor:
        """Per-sample nats for validated ``x`` and its conditions, as ``sample_batch`` gets
        them (``None`` only for an unconditional model or the null condition: the class
        marginal is composed by the engine)."""
        raise LikelihoodUnavailable(self.name, [p.value for p in self.capabilities.paradigms])

    def cost(self, **options: Any) -> SampleCost:
        """Evaluations one sample costs with these sample options (default: as declared)."""
        self.check_sample_options(options)
        return self.capabilities.cost

    def bytes_per_sample(self, **options: Any) -> int:
        """Activation memory one sample needs while sampling; sizes automatic batches."""
        return 16 * 1024

    # -- validation ------------------------------------------------------------------------

    def check_sample_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Every sample option's value, defaults filled in; a typed error for a bad one.

        The sampler calls this once per run and passes the result to every
        :meth:`sample_batch` call. Override it (calling ``super()``) for rules that
        tie options together, so they too are checked once, before any sampling.
        """
        return validate_options(options, self.sample_options, where=f"{self.name!r} sample")

    def check_likelihood_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Like :meth:`check_sample_options`, for :meth:`log_likelihood_batch`'s options."""
        return validate_options(
            options, self.likelihood_options, where=f"{self.name!r} likelihood"
        )

    # -- device ----------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: torch.device | str) -> Self:
        """Move every network to ``device`` (which must exist); returns ``self``."""
        dev = check_device(device)
        for net in self.networks().values():
            net.to(dev)
        self._device = dev
        return self

    # -- sampling --------------------------------------------------------------------------

    def sample(
        self,
        n: int,
        *,
        condition: Condition = None,
        seed: int | None = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """``n`` samples ``(n, *event.shape)``; sample ``i`` depends only on ``(seed, i)``."""
        return sampling.run(
            self, n, condition=condition, seed=seed, batch_size=batch_size, **options
        ).samples

    def sample_run(self, n: int, **kwargs: Any) -> sampling.SampleResult:
        """Like :meth:`sample` but returns a :class:`genproto.sampling.SampleResult`
        (samples, the seed used, counted evaluations per sample, provenance)."""
        return sampling.run(self, n, **kwargs)

    def sample_iter(
        self,
        n: int,
        *,
        condition: Condition = None,
        seed: int | None = None,
        batch_size: int | None = None,
        **options: Any,
    ) -> Iterator[torch.Tensor]:
        """Yield the samples of :meth:`sample` batch by batch (memory stays flat)."""
        p = sampling.plan(
            self, n, condition=condition, seed=seed, batch_size=batch_size, in_memory=False,
            options=options,
        )
        for _, chunk in sampling.iter_chunks(self, p):
            yield chunk

    # -- likelihood ------------------------------------------------------------------------

    def log_likelihood(
        self,
        x: torch.Tensor,
        condition: Condition = None,
        *,
        seed: int = 0,
        batch_size: int | None = None,
        **options: Any,
    ) -> torch.Tensor:
        """Per-sample log-likelihood in nats; its meaning is ``capabilities.likelihood``.

        Estimators that draw random numbers (IWAE, Hutchinson) draw them from the
        keyed streams of ``(seed, row)``, so the result is reproducible and does not
        depend on ``batch_size``. A conditional model given ``condition=None``
        returns the class marginal ``log sum_c p(x|c) p(c)`` over its declared prior
        (uniform by default), or ``log p(x | null)`` where ``None`` is the null condition
        (a bound stays a bound: log-sum-exp is monotone). The loop is
        :func:`genproto.sampling.log_likelihood`.
        """
        return sampling.log_likelihood(
            self, x, condition, seed=seed, batch_size=batch_size, **options
        )

    # -- persistence -----------------------------------------------------------------------

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor that defines the model, keyed ``network.parameter``."""
        return {
            f"{net_name}.{key}": value
            for net_name, net in sorted(self.networks().items())
            for key, value in net.state_dict().items()
        }

    def load_state_tensors(self, tensors: Mapping[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_tensors`; a ``CheckpointError`` unless every tensor has
        the name, dtype and shape of the model's own and holds only finite values."""
        check_tensors_fit(tensors, self.state_tensors(), model=self.name)
        for net_name, net in self.networks().items():
            prefix = net_name + "."
            state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                raise CheckpointError(
                    f"weights of network {net_name!r} do not fit model {self.name!r}: {exc}",
                    fix="Load the checkpoint with the options it was saved with",
                ) from None
            net.to(self.device)

    def load_packaged_weights(self, package: str, *parts: str) -> None:
        """Load a checkpoint shipped inside ``package`` (e.g. ``"genproto_vae", "weights",
        "digits"``): how a plugin's default configuration gets its trained weights."""
        with resources.as_file(resources.files(package).joinpath(*parts)) as folder:
            _, tensors = read_checkpoint(folder)
        self.load_state_tensors(tensors)

    def weights_sha256(self) -> str:
        """A hash of every weight tensor (names, dtypes, shapes, bytes), for provenance.

        Every sampling run reports it, so it is cached: the cache is keyed by each tensor's
        storage address and autograd version counter, which every in-place change made
        through the tensor (optimiser steps, ``copy_`` under ``no_grad``,
        ``load_state_dict``) and every move (``to``) changes. A write through
        ``tensor.data`` bypasses version counters (as it bypasses autograd's own checks):
        call :meth:`forget_weights_hash` after one, as after changing a tensor that a network's
        own ``state_dict`` adds beyond its parameters and persistent buffers.
        """
        key = self._weights_key()
        cached = getattr(self, "_weights_hash", None)
        if cached is not None and cached[0] == key:
            return str(cached[1])
        tensors = sorted(self.state_tensors().items())
        digest = hashlib.sha256()
        for name, value in tensors:
            tensor = value.detach().to("cpu").contiguous()
            digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
            if tensor.numel():
                digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
        self._weights_hash = (key, digest.hexdigest())
        return self._weights_hash[1]

    def _weights_key(self) -> tuple[Any, ...]:
        """What :meth:`weights_sha256`'s cache is keyed by: every parameter's and persistent
        buffer's storage address, version counter, dtype, shape and device, network by network
        in module order. A walk of the modules' own tables: ~4x cheaper than ``state_dict``
        (which builds prefixed names and runs its hooks), and every run pays it."""
        key: list[Any] = []
        for name, net in sorted(self.networks().items()):
            key.append(name)
            for module in sampling.all_modules((net,)):
                params, buffers = module._parameters, module._buffers
                if not params and not buffers:  # containers, activations: most modules
                    continue
                saved: list[torch.Tensor | None] = list(params.values())
                if buffers:
                    skip = module._non_persistent_buffers_set
                    saved += [t for b, t in buffers.items() if b not in skip]
                key += [(t.data_ptr(), t._version, t.dtype, t.shape, t.device)
                        for t in saved if t is not None]
        return tuple(key)

    def forget_weights_hash(self) -> None:
        """Drop the cached :meth:`weights_sha256` (after writing weights through ``.data``)."""
        self._weights_hash = None

    def save(self, directory: str | Path, *, metadata: Mapping[str, str] | None = None) -> Path:
        """Write a checkpoint (safetensors weights + JSON config) atomically."""
        origin = self._origin or Origin(self.name, {}, None, None)
        return save_checkpoint(
            directory,
            model=origin.name,
            options=origin.options,
            plugin=PluginInfo(origin.distribution or "<in-process>", origin.version or "0"),
            capabilities=self.capabilities,
            tensors=self.state_tensors(),
            metadata=metadata,
        )

