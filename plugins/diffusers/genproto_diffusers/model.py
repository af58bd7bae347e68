"""Any diffusers UNet and scheduler as a genproto diffusion model, with the loop owned here.

The maths is the diffusers scheduler's own: each ``scheduler.step`` is one reverse step of
the sampler it implements -- DDPM's ancestral step (Ho, Jain & Abbeel 2020, "Denoising
Diffusion Probabilistic Models", Algorithm 2), DDIM's (Song, Meng & Ermon 2021, "Denoising
Diffusion Implicit Models", eq. 12, with ``eta`` scaling the noise of eq. 16), DPM-Solver++
(Lu et al. 2022, "DPM-Solver++", Algorithm 2, multistep) or Euler's method on the
probability-flow ODE in the sigma parameterisation (Karras et al. 2022, "Elucidating the
Design Space of Diffusion-Based Generative Models", Algorithm 2, ``S_churn`` = 0). The UNet
predicts the noise (or ``v``, or ``x_0``: whatever the scheduler's ``prediction_type`` says);
classifier-free guidance (Ho & Salimans 2022) mixes ``eps_u + w (eps_c - eps_u)`` from ONE
UNet call on the 2B rows ``[x; x]`` with ``[condition; null]``.

**What genproto adds to the pipeline loop** (what ``DDPMPipeline.__call__`` does, owned
here so that every random number is keyed):

1. ``x_T = init_noise_sigma * z``, ``z`` from ``streams.fork("latents").normal(C, H, W)``:
   sample ``i``'s starting noise depends only on ``(seed, i)``, never on ``torch.randn``
   or a ``generator=``.
2. For each of the scheduler's timesteps ``t`` (``set_timesteps(steps)``): the scaled
   input (``scale_model_input``), one UNet call (guided or not), then ``scheduler.step``.
3. Step noise: a scheduler whose ``step`` takes ``variance_noise`` (DDIM, DPM-Solver) gets
   ``streams.fork(f"step{k}").normal(...)`` when it uses noise (``eta > 0``; an SDE
   variant of DPM-Solver); one that draws its own noise through diffusers'
   ``randn_tensor`` (DDPM, Euler with ``s_churn``) has that function replaced, during its
   step only and under a lock, by the same keyed draw. A scheduler that still touches
   torch's global generator is refused with a :class:`~genproto.errors.PluginError`.
4. The result is clamped to the declared range ``[-1, 1]`` (``output="float"``) or mapped
   to 256 levels (``output="uint8"``, diffusers' ``(x / 2 + 0.5) * 255`` rounded).

The network evaluations the sampler counts are the UNet's calls: one a timestep, guidance
included, so the cost is ``per_step(len(scheduler.timesteps))`` -- ``steps`` for DDIM, DDPM,
DPM-Solver and Euler. CPU convolutions differ in the last bits between batch sizes; over
the default steps that drift is measured and declared as a :class:`BatchTolerance`
(docs/plugins/diffusers.md). There is no likelihood (``Likelihood.NONE``): a scheduler gives
no density, and an estimate is not offered.
"""

from __future__ import annotations

import copy
import inspect
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genproto.errors import OptionError, PluginError
from genproto.model import Model
from genproto.options import Option
from genproto.protocol import (
    BatchCondition,
    BatchTolerance,
    Capabilities,
    ConditionSpec,
    EventSpace,
    Likelihood,
    Paradigm,
    SampleCost,
)
from genproto.streams import KeyedStreams
from genproto_diffusers.loading import (
    Description,
    build_scheduler,
    describe,
    load_unet,
    resolve_device,
)

__all__ = ["OUTPUTS", "DiffusersModel", "capabilities", "count_steps"]

OUTPUTS = ("float", "uint8")
DEFAULT_STEPS = 50
#: Batch drift declared for float samples: the trained digits UNet drifts by at most 8e-6
#: over K = 50 DDIM steps between batch sizes 1, 7, 64 and 256 on CPU (benchmarks/
#: bench_diffusers.py --drift); this keeps a 100x margin. An untrained (random) UNet is
#: chaotic over many steps and can drift far more (docs/plugins/diffusers.md). uint8
#: outputs may flip a level in this share of rows.
FLOAT_TOLERANCE = BatchTolerance(atol=1e-3, rtol=1e-3)
FLIP_FRACTION = 0.05
OBJECTIVE = "noise-prediction MSE (Ho et al. 2020), as the UNet was trained"

_PATCH_LOCK = threading.RLock()


def _step_parameters(scheduler: Any) -> frozenset[str]:
    return frozenset(inspect.signature(scheduler.step).parameters)


def count_steps(scheduler: Any, steps: int) -> int:
    """UNet calls a sample takes with ``steps``: the length of ``scheduler.timesteps``."""
    probe = copy.deepcopy(scheduler)
    probe.set_timesteps(steps)
    return len(probe.timesteps)


def _condition_spec(description: Description | None, null_class: int | None,
                    embedding_length: int) -> ConditionSpec | None:
    if description is None:
        return None
    if description.cross_attention_dim is not None:
        return ConditionSpec.vector(
            (embedding_length, description.cross_attention_dim),
            description="encoder hidden states (embedding_length x cross_attention_dim); "
            "None: zeros",
        )
    if description.classes is None:
        if null_class is not None:
            raise OptionError(
                "option 'null_class' on a UNet without class embeddings", option="null_class",
                value=null_class, allowed="None (the UNet has no num_class_embeds)",
                fix="Leave null_class unset",
            )
        return None
    if null_class is None:
        return ConditionSpec(description.classes, "class label")
    if null_class != description.classes - 1:
        raise OptionError(
            "option 'null_class'", option="null_class", value=null_class,
            allowed=f"{description.classes - 1}, the last of the UNet's "
            f"{description.classes} class embeddings (the label it was trained to drop to)",
            fix=f"Pass null_class={description.classes - 1}, or leave it unset (no guidance)",
        )
    return ConditionSpec(description.classes - 1, "class label")


def _check_default_steps(scheduler: Any, default_steps: int) -> None:
    train_steps = int(scheduler.config.get("num_train_timesteps", 1000))
    if default_steps > train_steps:
        raise OptionError(
            "option 'default_steps'", option="default_steps", value=default_steps,
            allowed=f"1..{train_steps} (the scheduler's num_train_timesteps)",
            fix=f"Pass default_steps <= {train_steps}",
        )


def _event(shape: tuple[int, int, int], output: str) -> EventSpace:
    if output == "uint8":
        return EventSpace.discrete(shape, 256, storage="uint8", layout="image")
    return EventSpace.continuous(shape, low=-1.0, high=1.0, layout="image")


def _sampling_text(scheduler: Any, steps: int) -> str:
    return (f"{type(scheduler).__name__} over {steps} steps by default (keyed noise); "
            "classifier-free guidance in one batched UNet call per step")


def capabilities(
    path: str | None = None, scheduler: str = "saved", output: str = "float",
    null_class: int | None = None, default_steps: int = DEFAULT_STEPS,
    embedding_length: int = 1,
) -> Capabilities:
    """What the model in ``path`` declares, read from its JSON files (no weights loaded).

    Without a path (the registration's defaults) the event is a placeholder 3x32x32 image:
    a configured model declares its own shape and condition.
    """
    description = describe(path) if path is not None else None
    shape = description.shape if description is not None else (3, 32, 32)
    if description is not None:
        sched = build_scheduler(description, scheduler)
        _check_default_steps(sched, default_steps)
        cost = SampleCost.per_step(count_steps(sched, default_steps))
        sampling = _sampling_text(sched, default_steps)
    else:
        cost = SampleCost.per_step(default_steps)
        sampling = "the folder's diffusers scheduler (keyed noise), guidance batched"
    return Capabilities(
        paradigms=(Paradigm.DIFFUSION,),
        likelihood=Likelihood.NONE,
        cost=cost,
        event=_event(shape, output),
        condition=_condition_spec(description, null_class, embedding_length),
        objective=OBJECTIVE,
        sampling=sampling,
        batch_tolerance=(FLOAT_TOLERANCE if output == "float"
                         else BatchTolerance(flip_fraction=FLIP_FRACTION)),
    )


class DiffusersModel(Model):
    """A diffusers UNet and scheduler behind the protocol (see the module docstring).

    Args:
        path: a local folder written by ``save_pretrained`` (see :mod:`.loading`).
        scheduler: ``"saved"`` (the folder's), ``"ddim"``, ``"ddpm"``, ``"dpm-solver"``,
            ``"euler"`` or any diffusers scheduler class name.
        output: ``"float"`` (C x H x W in [-1, 1]) or ``"uint8"`` (levels 0..255).
        null_class: the class embedding a class-conditional UNet was trained to drop labels
            to (the last one); enables guidance. ``None``: no guidance.
        default_steps: the ``steps`` a sample takes unless told.
        embedding_length: rows of a UNet2DConditionModel's embedding condition.
        device: ``"auto"`` (the first GPU when there is one), ``"cpu"`` or ``"cuda[:N]"``.
    """

    def __init__(
        self,
        *,
        path: str | None = None,
        scheduler: str = "saved",
        output: str = "float",
        null_class: int | None = None,
        default_steps: int = DEFAULT_STEPS,
        embedding_length: int = 1,
        device: str = "auto",
        name: str = "diffusers",
        pretrained: bool = True,
        init_seed: int = 0,
        caps: Capabilities | None = None,
    ) -> None:
        description = describe(path)
        self.scheduler = build_scheduler(description, scheduler)
        if caps is None:
            caps = capabilities(str(description.folder), scheduler, output, null_class,
                                default_steps, embedding_length)
        super().__init__(caps, name=name)
        self.description = description
        self.output = output
        self.null_class = null_class
        self.unet = load_unet(description, pretrained=pretrained, init_seed=init_seed)
        self._step_args = _step_parameters(self.scheduler)
        self._steps_cache: dict[int, int] = {}
        train_steps = int(self.scheduler.config.get("num_train_timesteps", 1000))
        _check_default_steps(self.scheduler, default_steps)
        condition = self.capabilities.condition
        self.guided = condition is not None and (
            null_class is not None or description.cross_attention_dim is not None)
        options = [Option("steps", int, default_steps,
                          "denoising steps K (diffusers' num_inference_steps)", minimum=1,
                          maximum=train_steps)]
        if self.guided:
            options.append(Option("guidance", float, 1.0,
                                  "classifier-free guidance scale w (1: plain conditional; "
                                  "diffusers' guidance_scale)", minimum=0.0, maximum=50.0))
        if "eta" in self._step_args:
            options.append(Option("eta", float, 0.0,
                                  "DDIM noise: 0 deterministic, 1 DDPM-like (Song et al. eq. 16)",
                                  minimum=0.0, maximum=1.0))
        self.sample_options = tuple(options)
        self.to(resolve_device(device))

    def networks(self) -> Mapping[str, torch.nn.Module]:
        return {"unet": self.unet}

    @property
    def folder(self) -> Path:
        """The folder the UNet and scheduler were read from."""
        return self.description.folder

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape the UNet works on, ``(C, H, W)``."""
        return self.description.shape

    def bytes_per_sample(self, **options: Any) -> int:
        widths = self.description.unet_config.get("block_out_channels") or [320]
        c, h, w = self.shape
        return int(2 * 4 * h * w * sum(int(v) for v in widths) * 12) + 4 * c * h * w * 8

    # -- cost ------------------------------------------------------------------------------

    def _calls(self, steps: int) -> int:
        if steps not in self._steps_cache:
            self._steps_cache[steps] = count_steps(self.scheduler, steps)
        return self._steps_cache[steps]

    def cost(self, **options: Any) -> SampleCost:
        values = self.check_sample_options(options)
        return SampleCost.per_step(self._calls(int(values["steps"])))

    # -- the network with guidance ---------------------------------------------------------

    def _unet_kwargs(self, condition: Tensor | None, rows: int) -> dict[str, Any]:
        if self.description.cross_attention_dim is not None:
            if condition is None:
                spec = self.capabilities.condition
                length = spec.shape[0] if spec is not None and spec.shape else 1
                condition = torch.zeros(rows, length, self.description.cross_attention_dim)
            return {"encoder_hidden_states": condition.to(self.device)}
        if condition is not None:
            return {"class_labels": condition.to(self.device)}
        return {}

    def predict(self, x: Tensor, t: Tensor, condition: Tensor | None,
                guidance: float = 1.0) -> Tensor:
        """The UNet's output at ``(x, t, c)``; guided, ``u + w (c - u)`` from ONE call."""
        b = x.shape[0]
        if not self.guided or guidance == 1.0:
            out: Tensor = self.unet(x, t, return_dict=False, **self._unet_kwargs(condition, b))[0]
            return out
        if self.description.cross_attention_dim is not None:
            cond = self._unet_kwargs(condition, b)["encoder_hidden_states"]
            null = {"encoder_hidden_states": torch.cat([cond, torch.zeros_like(cond)])}
        else:
            labels = (condition if condition is not None
                      else torch.full((b,), int(self.null_class or 0), dtype=torch.int64))
            labels = labels.to(self.device)
            null = {"class_labels": torch.cat([labels, torch.full_like(labels,
                                                                       int(self.null_class or 0))])}
        both = self.unet(torch.cat([x, x]), t, return_dict=False, **null)[0]  # (2B, C, H, W)
        eps_c, eps_u = both.chunk(2)
        guided: Tensor = eps_u + guidance * (eps_c - eps_u)
        return guided

    # -- sampling --------------------------------------------------------------------------

    def sample_batch(self, streams: KeyedStreams, condition: BatchCondition,
                     **options: Any) -> Tensor:
        if condition is not None and not isinstance(condition, Tensor):
            raise PluginError(f"model {self.name!r} got a condition of type "
                              f"{type(condition).__name__}", fix="This is a bug; report it")
        x = self.denoise(streams, condition, **options)
        return self.to_events(x)

    def denoise(self, streams: KeyedStreams, condition: Tensor | None, **options: Any) -> Tensor:
        """The owned loop: keyed latents, one UNet call a timestep, keyed step noise.
        Returns the final ``x_0`` batch ``(B, C, H, W)`` in the UNet's space."""
        steps = int(options["steps"])
        guidance = float(options.get("guidance", 1.0))
        eta = float(options.get("eta", 0.0))
        scheduler = copy.deepcopy(self.scheduler)  # schedulers keep state between steps
        scheduler.set_timesteps(steps, device=self.device)
        dev, shape = self.device, self.shape
        state = torch.get_rng_state()
        # 1. x_T = init_noise_sigma * z, z ~ N(0, I) from sample i's own stream.
        x: Tensor = streams.fork("latents").normal(*shape).to(dev) * scheduler.init_noise_sigma
        sde = "sde" in str(scheduler.config.get("algorithm_type", ""))
        for k, t in enumerate(scheduler.timesteps):
            noise = _KeyedNoise(streams, f"step{k}", shape, len(streams))
            # 2. One UNet call (guided on 2B rows), at the scheduler's scaled input.
            model_input = scheduler.scale_model_input(x, t)
            out = self.predict(model_input, t, condition, guidance)
            # 3. The scheduler's step with keyed noise: as an argument, or by its randn_tensor.
            kwargs: dict[str, Any] = {"return_dict": False}
            if "eta" in self._step_args:
                kwargs["eta"] = eta
            if "variance_noise" in self._step_args:
                if eta > 0 or sde:
                    kwargs["variance_noise"] = noise.draw(dev, x.dtype)
                x = scheduler.step(out, t, x, **kwargs)[0]
            else:
                with noise.patched(scheduler):
                    x = scheduler.step(out, t, x, **kwargs)[0]
        if not torch.equal(state, torch.get_rng_state()):
            torch.set_rng_state(state)
            raise PluginError(
                f"scheduler {type(scheduler).__name__} drew from torch's global generator",
                fix="Use a scheduler whose step() takes variance_noise or draws through "
                "diffusers' randn_tensor (DDIM, DDPM, DPM-Solver, Euler, ...)",
            )
        return x

    def to_events(self, x: Tensor) -> Tensor:
        """The UNet's space back to events: clamped floats, or 256 levels."""
        x = x.clamp(-1.0, 1.0)
        if self.output == "uint8":
            return ((x + 1.0) * 127.5).round().to(torch.uint8)
        return x.float()

    def state_tensors(self) -> dict[str, Tensor]:
        return {f"unet.{k}": v for k, v in self.unet.state_dict().items()}


class _KeyedNoise:
    """One step's noise: ``N(0, I)`` of a sample's shape from the step's fork of the streams."""

    def __init__(self, streams: KeyedStreams, fork: str, shape: tuple[int, ...],
                 rows: int) -> None:
        self._parent, self._fork, self.shape, self.rows = streams, fork, shape, rows
        self._streams: KeyedStreams | None = None

    @property
    def streams(self) -> KeyedStreams:
        """The step's fork, made on the first draw (most steps of DDIM draw nothing)."""
        if self._streams is None:
            self._streams = self._parent.fork(self._fork)
        return self._streams

    def draw(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        return self.streams.normal(*self.shape).to(device=device, dtype=dtype)

    def randn_tensor(self, shape: Any, generator: Any = None, device: Any = None,
                     dtype: Any = None, layout: Any = None) -> Tensor:
        shape = tuple(shape)
        if not shape or shape[0] != self.rows:
            raise PluginError(f"a scheduler asked for noise of shape {shape}",
                              allowed=f"({self.rows}, ...): one row a sample",
                              fix="This scheduler's noise cannot be keyed; use another")
        out: Tensor = self.streams.normal(*shape[1:])
        return out.to(device=device or "cpu", dtype=dtype or torch.float32)

    @contextmanager
    def patched(self, scheduler: Any) -> Iterator[None]:
        """diffusers' ``randn_tensor`` in the scheduler's module is this draw, meanwhile."""
        module = sys.modules[type(scheduler).__module__]
        original: Callable[..., Tensor] | None = getattr(module, "randn_tensor", None)
        if original is None:
            yield
            return
        with _PATCH_LOCK:
            module.randn_tensor = self.randn_tensor  # type: ignore[attr-defined]
            try:
                yield
            finally:
                module.randn_tensor = original  # type: ignore[attr-defined]
