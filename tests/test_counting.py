"""genproto.counting: network calls counted through a counting forward (a tap), not a hook.

The tap must count what a forward hook counted (calls, rows, per thread), keep the module on
torch's fast call path, and leave every module exactly as it found it however counters nest,
overlap or fail -- including a ``forward`` someone else installed on the instance.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch

from genproto.counting import EvaluationCounter, call_rows


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 2))


def test_calls_and_rows_are_counted_and_the_module_is_left_as_it_was() -> None:
    net = _net()
    with EvaluationCounter({"net": net}) as counter:
        net(torch.zeros(5, 3))
        net(torch.zeros(2, 3))
        assert counter.settle(4) == 4 + 2  # min(rows, batch) a call
    assert counter.calls == 2
    assert counter.by_network == {"net": 2}
    assert counter.evaluations_per_sample == 1.5
    assert "forward" not in net.__dict__  # the class's forward again


def test_counting_keeps_the_modules_fast_call_path() -> None:
    net = _net()
    with EvaluationCounter({"net": net}):
        assert not net._forward_hooks
        assert not net._forward_pre_hooks
        assert net.__dict__["forward"] is not type(net).forward


def test_the_counted_forward_computes_what_the_module_computes() -> None:
    net, x = _net(), torch.randn(4, 3)
    expected = net(x)
    with EvaluationCounter({"net": net}):
        torch.testing.assert_close(net(x), expected, rtol=0, atol=0)


def test_nested_counters_both_count_and_the_last_to_leave_restores() -> None:
    net = _net()
    with EvaluationCounter({"net": net}) as outer:
        net(torch.zeros(1, 3))
        with EvaluationCounter({"net": net}) as inner:
            net(torch.zeros(1, 3))
        net(torch.zeros(1, 3))  # the inner counter left: the outer still counts
        assert "forward" in net.__dict__
    assert (outer.calls, inner.calls) == (3, 1)
    assert "forward" not in net.__dict__


def test_counters_leaving_out_of_order_restore_the_module_once_both_are_gone() -> None:
    net = _net()
    first, second = EvaluationCounter({"net": net}), EvaluationCounter({"net": net})
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # not the last one in: the tap stays for `second`
    net(torch.zeros(1, 3))
    assert (first.calls, second.calls) == (0, 1)
    second.__exit__(None, None, None)
    assert "forward" not in net.__dict__
    net(torch.zeros(1, 3))
    assert second.calls == 1


def test_each_thread_counts_only_its_own_calls() -> None:
    net = _net()
    barrier = threading.Barrier(2)
    counts: dict[int, int] = {}

    def work(calls: int) -> None:
        with EvaluationCounter({"net": net}) as counter:
            barrier.wait()  # both counters hold the module at once
            for _ in range(calls):
                net(torch.zeros(1, 3))
            barrier.wait()
        counts[calls] = counter.calls

    threads = [threading.Thread(target=work, args=(k,)) for k in (3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {3: 3, 5: 5}
    assert "forward" not in net.__dict__


def test_an_instance_forward_installed_by_someone_else_is_called_and_put_back() -> None:
    net = _net()
    seen: list[int] = []
    original = net.forward

    def theirs(x: torch.Tensor) -> Any:  # e.g. a library's offloading wrapper
        seen.append(x.shape[0])
        return original(x)

    net.forward = theirs
    with EvaluationCounter({"net": net}) as counter:
        net(torch.zeros(4, 3))
    assert seen == [4]
    assert counter.calls == 1
    assert net.__dict__["forward"] is theirs


def test_a_forward_replaced_while_counting_is_not_clobbered_on_exit() -> None:
    net = _net()
    with EvaluationCounter({"net": net}) as counter:
        tap: Any = net.forward

        def wrapper(x: torch.Tensor) -> Any:
            return tap(x)

        net.forward = wrapper
    assert net.__dict__["forward"] is wrapper  # theirs stays; the tap inside counts no one
    net(torch.zeros(1, 3))
    assert counter.calls == 0


def test_a_module_under_two_names_counts_for_each_and_a_failed_call_for_none() -> None:
    net = _net()
    with EvaluationCounter({"a": net, "b": net}) as counter:
        net(torch.zeros(2, 3))
        with pytest.raises(RuntimeError):
            net(torch.zeros(2, 7))  # a shape error: the call never completed
    assert counter.by_network == {"a": 1, "b": 1}
    assert "forward" not in net.__dict__


def test_a_direct_forward_call_is_an_evaluation_too() -> None:
    net = _net()
    with EvaluationCounter({"net": net}) as counter:
        net.forward(torch.zeros(1, 3))
    assert counter.calls == 1


def test_a_torchscript_network_is_counted_too() -> None:
    scripted = torch.jit.script(_net())
    before = scripted.forward
    with EvaluationCounter({"net": scripted}) as counter:
        scripted(torch.zeros(3, 3))
        assert counter.settle(3) == 3
    assert counter.calls == 1
    assert scripted.forward == before  # its own forward again


@pytest.mark.parametrize(("args", "kwargs", "rows"), [
    ((torch.zeros(4, 2),), {}, 4),
    ((torch.tensor(1.0), torch.zeros(6, 2)), {}, 6),  # a 0-d first argument is skipped
    (((torch.zeros(5, 1), 1),), {}, 5),  # one level into a tuple
    ((3,), {"x": torch.zeros(7, 1)}, 7),  # then keywords
    ((3,), {}, None),  # no tensor: the whole batch
])
def test_call_rows_reads_the_leading_dimension_of_the_first_tensor(
    args: tuple[Any, ...], kwargs: dict[str, Any], rows: int | None
) -> None:
    assert call_rows(args, kwargs) == rows
