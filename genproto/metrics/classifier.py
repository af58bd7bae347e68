"""The reference digits classifier: the judge of sample quality for the 8x8 digits.

A small CNN (two 3x3 convolutions, one max-pool, a 128-unit hidden layer and a
10-way head) trained on the *train* split of :func:`genproto.data.load_digits`
only, with random one-pixel shifts as augmentation. It plays the role Inception
v3 plays for FID on natural images (Heusel et al. 2017): its logits give the
conditional accuracy of samples, its 128 penultimate activations the features
of the Frechet distance. It is never trained on model samples.

The weights ship with genproto as ``digits_classifier.safetensors`` (about
600 KB) and are rebuilt by one command, which prints the test accuracy, the
training time and the file's SHA-256::

    python -m genproto.metrics.classifier --train

Training is deterministic: initial weights, shuffles and shifts all come from
one seeded ``torch.Generator`` (the global RNG is never touched) and
deterministic algorithms are enforced, so the command rewrites the shipped file
bit for bit on the same CPU kind, torch version and thread count (shipped: torch
2.13 CPU, 2 threads, 0.9944 test accuracy, about 15 s). Another thread count
sums in another order, and training amplifies that: with one thread the weights
differ by up to 0.1 although the test accuracy is the same. Every metric number
depends on the judge, so :data:`WEIGHTS_SHA256` records the shipped file and a
test fails when it changes; retrain only on purpose, and then update it.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load as _load_safetensors
from safetensors.torch import save_file
from torch import Tensor, nn

from genproto.errors import CheckpointNotFoundError
from genproto.metrics._checks import LEVELS, NUM_CLASSES, check_labels, check_levels
from genproto.validation import check_device

__all__ = [
    "FEATURE_DIM",
    "WEIGHTS_FILE",
    "WEIGHTS_SHA256",
    "DigitsClassifier",
    "accuracy",
    "classifier_features",
    "classify",
    "reference_classifier",
    "train_classifier",
]

#: Width of :meth:`DigitsClassifier.features`, the space of the Frechet distance.
FEATURE_DIM = 128
#: The shipped weights, next to this module.
WEIGHTS_FILE = "digits_classifier.safetensors"
#: SHA-256 of the shipped weights file (checked by the test suite, not at load time).
WEIGHTS_SHA256 = "1c1875571b2d39206e1c9936e77964b41774bc70762c6116f859498d78cb0c67"
#: The training recipe of the shipped weights.
SEED = 0
EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
WEIGHT_DECAY = 1e-4
#: Images per forward pass in :func:`classify` and friends (bounds peak memory).
_CHUNK = 4096


class DigitsClassifier(nn.Module):
    """A CNN from digit levels ``(N, 8, 8)`` to 10 class logits.

    The parameters are initialised from ``torch.Generator().manual_seed(seed)``
    (PyTorch's default schemes, drawn from that generator), so building one
    never reads or advances the global RNG. Load the shipped weights with
    :func:`reference_classifier`.
    """

    def __init__(self, *, seed: int = SEED) -> None:
        super().__init__()
        # Built on the meta device: nn.Conv2d/nn.Linear would otherwise initialise
        # themselves from the global RNG. Real storage and seeded values follow.
        with torch.device("meta"):
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3, padding=1)
            self.conv2 = nn.Conv2d(32, 64, kernel_size=3, padding=1)
            self.hidden = nn.Linear(64 * 4 * 4, FEATURE_DIM)
            self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.to_empty(device="cpu")
        self.reset_parameters(torch.Generator().manual_seed(seed))

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation (Kaiming-uniform weights), drawn from ``generator``."""
        for layer in (self.conv1, self.conv2, self.hidden, self.head):
            nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(layer.weight[0].numel())  # 1 / sqrt(fan_in)
            if layer.bias is not None:
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def _features(self, x: Tensor) -> Tensor:
        """Penultimate activations from float input ``(N, 1, 8, 8)`` in [0, 1]."""
        h = F.relu(self.conv1(x))  # (N, 32, 8, 8)
        h = F.relu(self.conv2(h))  # (N, 64, 8, 8)
        h = F.max_pool2d(h, 2)  # (N, 64, 4, 4)
        return F.relu(self.hidden(h.flatten(1)))  # (N, 128)

    def _input(self, x_levels: Tensor) -> Tensor:
        x = check_levels(x_levels, "digit images x")  # (N, 8, 8) int64
        return (x.to(self.head.weight) / (LEVELS - 1)).unsqueeze(1)  # (N, 1, 8, 8)

    def features(self, x_levels: Tensor) -> Tensor:
        """The 128 penultimate activations (after ReLU) of levels ``(N, 8, 8)``: ``(N, 128)``."""
        return self._features(self._input(x_levels))

    def forward(self, x_levels: Tensor) -> Tensor:
        """Class logits ``(N, 10)`` of integer levels ``(N, 8, 8)`` in ``0..16``."""
        logits: Tensor = self.head(self._features(self._input(x_levels)))  # (N, 10)
        return logits


# ---------------------------------------------------------------------------
# the shipped reference
# ---------------------------------------------------------------------------


@functools.cache
def _load(device: str) -> DigitsClassifier:
    resource = resources.files("genproto.metrics").joinpath(WEIGHTS_FILE)
    if not resource.is_file():
        raise CheckpointNotFoundError(
            f"the reference digits classifier's weights ({WEIGHTS_FILE}) are missing",
            value=str(resource),
            allowed="the file shipped inside the genproto.metrics package",
            fix="Rebuild it with `python -m genproto.metrics.classifier --train`, or reinstall "
            "genproto",
        )
    tensors = _load_safetensors(resource.read_bytes())
    model = DigitsClassifier()
    model.load_state_dict(tensors)  # strict: a file for another architecture fails here
    model.requires_grad_(False)
    return model.eval().to(device)


def reference_classifier(device: str | torch.device = "cpu") -> DigitsClassifier:
    """The shipped classifier on ``device``: loaded once, in eval mode, without gradients.

    The instance is shared by every caller; do not train or modify it.
    """
    dev = check_device(device, what="reference_classifier() argument 'device'")
    return _load(str(dev))


def _chunked(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    with torch.inference_mode():
        return torch.cat([fn(part) for part in torch.split(x, _CHUNK)])


def classify(x: Tensor) -> Tensor:
    """The reference classifier's labels (int64, ``(N,)``) for digit levels ``(N, 8, 8)``."""
    x = check_levels(x, "classify() argument 'x'")
    model = reference_classifier(x.device)
    return _chunked(lambda part: model(part).argmax(1), x)


def classifier_features(x: Tensor) -> Tensor:
    """The reference classifier's penultimate features (float32, ``(N, 128)``) of ``x``."""
    x = check_levels(x, "classifier_features() argument 'x'")
    model = reference_classifier(x.device)
    return _chunked(model.features, x)


def accuracy(x: Tensor, y: Tensor) -> float:
    """Fraction of images ``x`` (levels ``(N, 8, 8)``) the reference classifier labels ``y``."""
    predicted = classify(x)
    y = check_labels(y, len(predicted), "accuracy() argument 'y'")
    return float((predicted == y.to(predicted.device)).double().mean())


# ---------------------------------------------------------------------------
# training (python -m genproto.metrics.classifier --train)
# ---------------------------------------------------------------------------


def _random_shift(x: Tensor, generator: torch.Generator) -> Tensor:
    """Shift each image ``(N, 8, 8)`` by -1, 0 or +1 pixels in each direction, zero-filled."""
    n = x.shape[0]
    padded = F.pad(x, (1, 1, 1, 1))  # (N, 10, 10)
    dy, dx = torch.randint(0, 3, (2, n), generator=generator)  # (N,), (N,) offsets 0..2
    grid = torch.arange(8)
    rows = (dy[:, None] + grid)[:, :, None]  # (N, 8, 1)
    cols = (dx[:, None] + grid)[:, None, :]  # (N, 1, 8)
    return padded[torch.arange(n)[:, None, None], rows, cols]  # (N, 8, 8)


def train_classifier(
    *, seed: int = SEED, epochs: int = EPOCHS, log: Callable[[str], None] | None = None
) -> DigitsClassifier:
    """Train a :class:`DigitsClassifier` on the digits train split, deterministically.

    AdamW with cosine-decayed learning rate, cross-entropy, batches of 64 and a
    random one-pixel shift of every image; every random draw comes from one
    generator seeded with ``seed``.
    """
    from genproto.data import load_digits  # the data are only needed to train

    data = load_digits("train")
    assert data.y is not None  # the digits are labelled
    generator = torch.Generator().manual_seed(seed)
    model = DigitsClassifier(seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(data) / BATCH_SIZE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        model.train()
        for epoch in range(epochs):
            order = torch.randperm(len(data), generator=generator)
            total = 0.0
            for rows in torch.split(order, BATCH_SIZE):
                x = _random_shift(data.x[rows], generator)  # (B, 8, 8)
                loss = F.cross_entropy(model(x), data.y[rows])
                optimizer.zero_grad(set_to_none=True)
                torch.autograd.backward(loss)
                optimizer.step()
                schedule.step()
                total += loss.item() * len(rows)
            if log is not None:
                log(f"epoch {epoch + 1:2d}/{epochs}  loss {total / len(data):.4f}")
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
    model.requires_grad_(False)
    return model.eval()


def _save(model: DigitsClassifier, path: Path) -> str:
    """Write the weights and return the file's SHA-256.

    No safetensors metadata: its header stores metadata in hash-map order, which
    varies from run to run and would make identical weights hash differently.
    """
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m genproto.metrics.classifier --train [--out PATH]``."""
    from genproto.data import load_digits

    parser = argparse.ArgumentParser(
        prog="python -m genproto.metrics.classifier",
        description="Rebuild the reference digits classifier shipped with genproto.",
    )
    parser.add_argument("--train", action="store_true", help="train and write the weights")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name(WEIGHTS_FILE),
        help="where to write the weights (default: the shipped file)",
    )
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch log")
    args = parser.parse_args(argv)
    if not args.train:
        parser.print_help()
        return 2
    start = time.perf_counter()
    model = train_classifier(seed=args.seed, epochs=args.epochs, log=None if args.quiet else print)
    seconds = time.perf_counter() - start
    test = load_digits("test")
    assert test.y is not None
    with torch.inference_mode():
        test_accuracy = float((model(test.x).argmax(1) == test.y).double().mean())
    digest = _save(model, args.out)
    print(f"test accuracy {test_accuracy:.4f} ({len(test)} images)")
    print(f"trained in {seconds:.1f} s ({args.epochs} epochs, seed {args.seed})")
    print(f"wrote {args.out}")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
