"""Registers ``diffusers`` (any local UNet + scheduler folder) and ``digits-unet`` (shipped)."""

from __future__ import annotations

from typing import Any

from genproto.hookspecs import hookimpl
from genproto.options import Option, Shipped
from genproto_diffusers.digits import DigitsUNet, digits_capabilities
from genproto_diffusers.model import DEFAULT_STEPS, OUTPUTS, DiffusersModel, capabilities

SCHEDULER_HELP = ("'ddim', 'ddpm', 'dpm-solver', 'euler' or any diffusers scheduler class "
                  "name, built from the folder's scheduler config")

OPTIONS = (
    Option("path", str, None, "a local folder written by save_pretrained (never a hub id)",
           nullable=True),
    Option("scheduler", str, "saved", "'saved' (the folder's own) or " + SCHEDULER_HELP),
    Option("output", str, "float", "samples as floats in [-1, 1] or uint8 levels 0..255",
           choices=OUTPUTS),
    Option("null_class", int, None, "the class embedding the UNet was trained to drop labels "
           "to (the last); enables guidance", minimum=0, nullable=True),
    Option("default_steps", int, DEFAULT_STEPS, "the steps a sample takes unless told",
           minimum=1, maximum=10_000),
    Option("embedding_length", int, 1, "rows of a UNet2DConditionModel's embedding condition",
           minimum=1, maximum=4096),
    Option("device", str, "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N"),
)

DIGITS_OPTIONS = (
    Option("scheduler", str, "ddim", SCHEDULER_HELP),
    Option("default_steps", int, 50, "the steps a sample takes unless told", minimum=1,
           maximum=1000),
    Option("init_seed", int, 0, "seed of a fresh initialisation", minimum=0,
           maximum=2**63 - 1),
    Option("device", str, "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N"),
)


@hookimpl
def register_models(register: Any) -> None:
    register("diffusers", DiffusersModel, capabilities=capabilities, options=OPTIONS,
             description="any local diffusers UNet2DModel / UNet2DConditionModel and scheduler "
             "(keyed noise, counted steps, batched guidance, images out)")
    register("digits-unet", DigitsUNet, capabilities=digits_capabilities,
             options=DIGITS_OPTIONS,
             shipped=Shipped("genproto_diffusers", ("weights", "digits-unet"), {"init_seed": 0}),
             description="class-conditional diffusers UNet2DModel trained here on the 8x8 "
             "digits (DDPMScheduler, DDIM sampling, guidance)")
