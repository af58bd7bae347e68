"""Settings for every test folder (``tests/`` and each plugin's ``tests/``).

Under pytest-xdist (``pytest -n auto``: one worker process per core) each worker gets one
torch thread, and so do the processes its tests start (``OMP_NUM_THREADS``): N workers of N
threads each would fight over N cores and run slower than one worker. A test that measures
thread counts sets its own.
"""

from __future__ import annotations

import os

import torch


def pytest_configure() -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)
