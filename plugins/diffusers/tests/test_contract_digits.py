"""genproto's contract suite on the shipped ``digits-unet`` (5 DDIM steps by default here, to
keep CI short: the loop, the UNet and the weights are the shipped ones)."""

import genproto
from genproto.testing import contract_tests


def _shipped() -> genproto.Model:
    return genproto.registry.get("digits-unet", default_steps=5, device="cpu")


globals().update(contract_tests(factory=_shipped))
