"""Tests of genproto.streams: known answers, batch invariance, independence, statistics, errors.

Statistical tests use fixed seeds, so they are deterministic; each states the false-alarm rate it
would have for a seed drawn at random (<= 1e-3 per test function, split over its checks by
Bonferroni). Critical values are computed here (chi-square and Kolmogorov tails), not by scipy.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from genproto import streams
from genproto.errors import ArgumentTypeError, DeviceError, InvalidArgumentError
from genproto.streams import KeyedStreams, fresh_seed, selftest

ALPHA = 1e-3  # false-alarm rate of each statistical test function

# ---------------------------------------------------------------------------------------------
# An independent pure-Python reference (Python ints mod 2^64), written from the docstring
# ---------------------------------------------------------------------------------------------

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def ref_mix64(z: int) -> int:
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def ref_word(seed: int, index: int, j: int, path: tuple[str, ...] = ()) -> int:
    """Word j of sample index, as an int64 (two's complement) like torch returns it."""
    family = ref_mix64(seed + GOLDEN)
    for name in path:
        h = hashlib.blake2b(name.encode(), digest_size=8, person=b"genproto.fork").digest()
        family = ref_mix64(family ^ int.from_bytes(h, "little"))
    key = ref_mix64(family + (2 * index + 1) * GOLDEN)
    gamma = ref_mix64(family + (2 * index + 2) * GOLDEN) | 1
    if bin(gamma ^ (gamma >> 1)).count("1") < 24:
        gamma ^= 0xAAAAAAAAAAAAAAAA
    word = ref_mix64(key + (j + 1) * gamma)
    return word - (1 << 64) if word >> 63 else word


# ---------------------------------------------------------------------------------------------
# Statistics, computed here
# ---------------------------------------------------------------------------------------------


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for X ~ chi-square(df), integer df, by the recurrence Q(k + 2) = Q(k) + term."""
    half = x / 2.0
    if df % 2:
        q, k = math.erfc(math.sqrt(half)), 1
    else:
        q, k = math.exp(-half), 2
    while k < df:
        q += math.exp((k / 2.0) * math.log(half) - half - math.lgamma(k / 2.0 + 1.0))
        k += 2
    return min(q, 1.0)


def ks_pvalue(sorted_cdf: torch.Tensor) -> float:
    """Kolmogorov-Smirnov p-value of F(x_(1)) <= ... <= F(x_(n)) against uniform (Stephens 1970)."""
    n = sorted_cdf.numel()
    ranks = torch.arange(1, n + 1, dtype=torch.float64)
    d = max(
        float((ranks / n - sorted_cdf).max()),
        float((sorted_cdf - (ranks - 1) / n).max()),
    )
    return kolmogorov_sf((math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d)


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for the Kolmogorov distribution, by its two series (each fast on its side)."""
    if lam < 1.18:  # 1 - sqrt(2 pi) / lam * sum exp(-(2k - 1)^2 pi^2 / (8 lam^2))
        if lam <= 0:
            return 1.0
        terms = (math.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * lam * lam)) for k in range(1, 20))
        return min(max(1.0 - math.sqrt(2 * math.pi) / lam * sum(terms), 0.0), 1.0)
    p = 2.0 * math.fsum((-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam) for k in range(1, 20))
    return min(max(p, 0.0), 1.0)


def ks_test(x: torch.Tensor, cdf: Callable[[torch.Tensor], torch.Tensor]) -> float:
    return ks_pvalue(cdf(x.reshape(-1).double().sort().values))


def z_crit(alpha: float) -> float:
    """Two-sided normal critical value for false-alarm rate alpha (bisection on erfc)."""
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if math.erfc(mid / math.sqrt(2)) > alpha else (lo, mid)
    return hi


def chi2_counts(counts: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of Pearson's chi-square of observed counts against probabilities."""
    expected = probs.double() * counts.sum()
    stat = float(((counts.double() - expected) ** 2 / expected).sum())
    return chi2_sf(stat, counts.numel() - 1)


def normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.erfc(-x / math.sqrt(2.0))


def test_statistics_helpers_match_known_values() -> None:
    # chi-square(4) 0.999 quantile 18.467, chi-square(5) 0.999 quantile 20.515; z_0.001 = 3.2905
    assert chi2_sf(18.467, 4) == pytest.approx(1e-3, rel=1e-3)
    assert chi2_sf(20.515, 5) == pytest.approx(1e-3, rel=1e-3)
    assert z_crit(1e-3) == pytest.approx(3.2905, abs=1e-4)
    # Kolmogorov: 0.001 and 0.05 upper quantiles 1.9495 and 1.3581; both series agree at 1.18
    assert kolmogorov_sf(1.9495) == pytest.approx(1e-3, rel=1e-3)
    assert kolmogorov_sf(1.3581) == pytest.approx(0.05, rel=1e-3)
    assert kolmogorov_sf(0.5) == pytest.approx(0.9639, abs=1e-4)
    n = 10_000
    uniform_grid = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    assert ks_pvalue(uniform_grid) > 0.999
    assert ks_pvalue(uniform_grid**1.1) < 1e-3


# ---------------------------------------------------------------------------------------------
# Known answers
# ---------------------------------------------------------------------------------------------

# (seed, index, word j, fork path) -> the int64 word. Frozen: changing the streams changes every
# user's samples, so a change here must be deliberate and bump streams.STREAMS_VERSION.
FROZEN = [
    (0, 0, 0, (), 1924524316055572561),
    (0, 0, 1, (), -3689733268790150753),
    (1, 0, 0, (), 3227854791255311350),
    (0, 1, 0, (), -6427004994260101354),
    (42, 1000, 7, (), -8236525388753528931),
    (2**63 - 1, 2**63 - 1, 5, (), -7695623288571144867),
    (7, 3, 2, ("likelihood",), 4088673728150549554),
    (7, 3, 2, ("a", "b"), -43225777216135347),
]


def test_frozen_answers_belong_to_this_version() -> None:
    assert streams.STREAMS_VERSION == 1  # update FROZEN together with the version


def test_reference_mixer_is_splitmix64() -> None:
    # The first outputs of Vigna's splitmix64.c seeded with 0.
    want = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    assert [ref_mix64(k * GOLDEN) for k in (1, 2, 3, 4)] == want


@pytest.mark.parametrize(("seed", "index", "j", "path", "want"), FROZEN)
def test_known_answers(seed: int, index: int, j: int, path: tuple[str, ...], want: int) -> None:
    assert ref_word(seed, index, j, path) == want
    s = KeyedStreams(seed, torch.tensor([index, 5, index]))
    for name in path:
        s = s.fork(name)
    s.words(j)  # skip to word j
    got = s.words(1)
    assert got[0, 0].item() == want
    assert got[2, 0].item() == want


def test_words_match_reference_in_bulk() -> None:
    """A block wide enough for torch's vectorised loops and their scalar tails."""
    indices = [0, 1, 2, 17, 2**31, 2**40 + 3, 2**62, 2**63 - 1]
    for seed in (0, 99, 2**63 - 1):
        got = KeyedStreams(seed, torch.tensor(indices)).words(37).tolist()
        want = [[ref_word(seed, i, j) for j in range(37)] for i in indices]
        assert got == want, f"seed={seed}"


def test_uniform_matches_reference_rounding() -> None:
    """float32 uniforms are (2k + 1) 2^-33 rounded once (numpy's cast), for every 32-bit half.

    A block of 8 x 600 values, so torch's vectorised conversion loops are the ones checked.
    """
    words = KeyedStreams.for_range(3, 4, 12).words(300).numpy().view(np.uint64)  # (8, 300)
    halves = np.stack((words >> np.uint64(32), words & np.uint64(0xFFFFFFFF)), axis=-1)
    odd = (halves.reshape(8, 600).astype(np.int64) * 2 + 1).astype(np.float32)
    want = np.minimum(odd * np.float32(2.0**-33), np.float32(1 - 2**-24))
    got = KeyedStreams.for_range(3, 4, 12).uniform(600).numpy()
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    w64 = KeyedStreams.for_range(3, 4, 12).words(50).numpy().view(np.uint64)
    want64 = ((w64 >> np.uint64(11)) | np.uint64(1)).astype(np.float64) * 2.0**-53
    got64 = KeyedStreams.for_range(3, 4, 12).uniform(50, dtype=torch.float64).numpy()
    assert np.array_equal(got64, want64)


def test_conversions_at_extreme_words() -> None:
    """All-zero and all-one words give the extreme values, finite and strictly inside (0, 1)."""
    words = torch.tensor([[0, -1]], dtype=torch.int64)
    scratch = torch.empty_like(words)
    u = streams._uniform_converter(4, torch.float32)(words, scratch.clone())
    assert u.tolist() == [[2.0**-33, 2.0**-33, 1 - 2.0**-24, 1 - 2.0**-24]]
    u16 = streams._uniform_converter(4, torch.float16)(words, scratch.clone())
    assert bool((u16 > 0).all() and (u16 < 1).all())
    u64 = streams._uniform_converter(2, torch.float64)(words, scratch.clone())
    assert u64.tolist() == [[2.0**-53, 1 - 2.0**-53]]
    z = streams._normal_converter(4, torch.float32)(words, scratch.clone())
    assert bool(torch.isfinite(z).all())
    assert float(z.abs().max()) == pytest.approx(math.sqrt(66 * math.log(2)), rel=1e-6)
    z64 = streams._normal_converter(2, torch.float64)(words, scratch.clone())
    assert float(z64.abs().max()) == pytest.approx(math.sqrt(106 * math.log(2)), rel=1e-9)
    g = streams._gumbel_converter(4, torch.float32)(words, scratch.clone())
    assert bool(torch.isfinite(g).all())
    assert float(g.max()) == pytest.approx(33 * math.log(2), rel=1e-5)
    t = streams._truncated_normal_converter(3.0, torch.float32)(words, scratch.clone())
    assert bool((t.abs() <= 3.0).all())
    assert float(t.abs().max()) == pytest.approx(3.0, rel=1e-6)


def test_selftest_passes_and_detects_broken_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    selftest()
    selftest("cpu")
    real = streams._words_at

    def off_by_one(*args: torch.Tensor | int) -> torch.Tensor:
        return real(*args) + 1  # type: ignore[arg-type]

    monkeypatch.setattr(streams, "_words_at", off_by_one)
    with pytest.raises(DeviceError, match=r"does not reproduce the keyed streams.*word 0"):
        selftest("cpu")


# ---------------------------------------------------------------------------------------------
# Batch invariance, determinism, independence
# ---------------------------------------------------------------------------------------------


def logits_for(s: KeyedStreams) -> torch.Tensor:
    """Per-row logits that depend only on the row's sample index, (B, 3, 6)."""
    i = s.indices.double()[:, None, None]
    c = torch.arange(6, dtype=torch.float64)
    return torch.sin(i * 0.37 + c * 1.3 + torch.arange(3.0, dtype=torch.float64)[:, None])


def draw_sequence(s: KeyedStreams) -> list[torch.Tensor]:
    """Several draws of every kind, >= 16 values per sample where it matters (torch's pitfall)."""
    return [
        s.words(3),
        s.uniform(4, 5),
        s.normal(4, 5),
        s.normal(1),
        s.normal(3, dtype=torch.float64),
        s.uniform(2, dtype=torch.float64),
        s.uniform(3, dtype=torch.float16),
        s.normal(17, dtype=torch.bfloat16),
        s.gumbel(17),
        s.categorical(logits_for(s)),
        s.randint(10, 5),
        s.truncated_normal(1.5, 7),
        s.rademacher(70),
        s.uniform(0),
        s.fork("likelihood").normal(20),
        s.normal(16),
    ]


def assert_rows_equal(whole: list[torch.Tensor], parts: list[list[torch.Tensor]]) -> None:
    for k, draw in enumerate(whole):
        joined = torch.cat([p[k] for p in parts])
        assert draw.dtype == joined.dtype, f"draw {k}"
        assert draw.shape == joined.shape, f"draw {k}"
        assert torch.equal(draw, joined), f"draw {k} differs"


@pytest.mark.parametrize("sizes", [[1] * 12, [7, 5], [12], [1, 7, 3, 1], [2, 3, 5, 2]])
def test_batch_invariance(sizes: list[int]) -> None:
    seed, n = 20240601, sum(sizes)
    whole = draw_sequence(KeyedStreams.for_range(seed, 100, 100 + n))
    parts, start = [], 100
    for size in sizes:
        parts.append(draw_sequence(KeyedStreams.for_range(seed, start, start + size)))
        start += size
    assert_rows_equal(whole, parts)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**63 - 1),
    start=st.integers(0, 2**62),
    cuts=st.lists(st.integers(1, 6), min_size=1, max_size=5),
)
def test_batch_invariance_any_split(seed: int, start: int, cuts: list[int]) -> None:
    stop = start + sum(cuts)
    whole = draw_sequence(KeyedStreams.for_range(seed, start, stop))
    parts, a = [], start
    for size in cuts:
        parts.append(draw_sequence(KeyedStreams.for_range(seed, a, a + size)))
        a += size
    assert_rows_equal(whole, parts)


def test_permuted_and_duplicated_indices_give_the_same_rows() -> None:
    s = KeyedStreams(5, torch.tensor([3, 1, 2, 3]))
    t = KeyedStreams.for_range(5, 0, 4)
    a, b = s.normal(18), t.normal(18)
    assert torch.equal(a, b[[3, 1, 2, 3]])


def test_cpu_blocks_change_no_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CPU path splits big batches into blocks of rows; the split must not show."""
    whole = draw_sequence(KeyedStreams.for_range(11, 0, 23))
    monkeypatch.setattr(streams, "_CPU_BLOCK_WORDS", 7)
    monkeypatch.setattr(streams, "_NUMPY_MAX_WORDS", 0)  # small draws would skip the blocks
    blocked = draw_sequence(KeyedStreams.for_range(11, 0, 23))
    assert_rows_equal(whole, [blocked])


def test_deterministic() -> None:
    a = draw_sequence(KeyedStreams.for_range(77, 0, 9))
    b = draw_sequence(KeyedStreams.for_range(77, 0, 9))
    assert_rows_equal(a, [b])


def test_numpy_integer_seed_is_the_same_seed() -> None:
    a = KeyedStreams(np.int64(77), torch.arange(3)).words(4)
    b = KeyedStreams(77, torch.arange(3)).words(4)
    assert torch.equal(a, b)


def test_different_seeds_and_indices_differ() -> None:
    words = KeyedStreams.for_range(1, 0, 500).words(2)
    assert len({tuple(r) for r in words.tolist()}) == 500
    for other in (2, 2**62, 2**63 - 1):
        assert not torch.equal(KeyedStreams.for_range(other, 0, 500).words(2), words)
    # same words only where seed and index agree
    assert (KeyedStreams.for_range(2, 0, 500).words(2) == words).sum() == 0
    # no two streams overlap (shifted copies would repeat words): 128k words, all distinct
    many = KeyedStreams.for_range(1, 0, 2000).words(64)
    assert len(set(many.reshape(-1).tolist())) == many.numel()


def test_position_advances_by_words_per_sample() -> None:
    s = KeyedStreams.for_range(0, 0, 3)
    counts: list[tuple[Callable[[], object], int]] = [
        (lambda: s.words(5), 5),
        (lambda: s.uniform(7), 4),
        (lambda: s.uniform(7, dtype=torch.float64), 7),
        (lambda: s.normal(3, 3), 5),
        (lambda: s.normal(3, dtype=torch.float64), 4),
        (lambda: s.gumbel(2), 1),
        (lambda: s.categorical(torch.zeros(3, 2, 5)), 5),
        (lambda: s.randint(3, 4), 4),
        (lambda: s.truncated_normal(1.0, 3), 3),
        (lambda: s.rademacher(65), 2),
        (lambda: s.normal(0), 0),
    ]
    for draw, used in counts:
        before = s.position
        draw()
        assert s.position - before == used


def test_fork_independence() -> None:
    root = KeyedStreams.for_range(9, 0, 64)
    plain = KeyedStreams.for_range(9, 0, 64)
    fork_a = root.fork("a")
    assert fork_a.family == ("a",)
    assert fork_a.position == 0
    drawn_in_fork = fork_a.normal(20)
    # drawing in a fork does not move the root, and the root sees what it would have alone
    assert root.position == 0
    assert torch.equal(root.normal(20), plain.normal(20))
    # a fork depends on its name and path only, not on the root's position
    assert torch.equal(root.fork("a").normal(20), drawn_in_fork)
    # different names and orders give different streams
    w = [KeyedStreams.for_range(9, 0, 64).words(4)]
    for path in (("a",), ("b",), ("a", "b"), ("b", "a")):
        s = KeyedStreams.for_range(9, 0, 64)
        for name in path:
            s = s.fork(name)
        w.append(s.words(4))
    for x in range(len(w)):
        for y in range(x):
            assert int((w[x] == w[y]).sum()) == 0, (x, y)


def test_select_equals_rows_and_shares_position() -> None:
    full = KeyedStreams.for_range(4, 10, 30)
    part = KeyedStreams.for_range(4, 10, 30)
    rows = torch.tensor([0, 3, 4, 19])
    full_first = full.normal(20)
    full_second = full.uniform(5)
    sub = part.select(rows)
    assert torch.equal(sub.indices, torch.tensor([10, 13, 14, 29]))
    assert torch.equal(sub.normal(20), full_first[rows])
    assert part.position == sub.position == 10  # shared and advanced
    mask = torch.zeros(20, dtype=torch.bool)
    mask[rows] = True
    assert torch.equal(part.select(mask).uniform(5), full_second[rows])
    # a selection of a selection, and an empty selection
    assert torch.equal(sub.select(torch.tensor([1, 2])).indices, torch.tensor([13, 14]))
    assert part.select(torch.zeros(20, dtype=torch.bool)).normal(3).shape == (0, 3)


def test_empty_batch() -> None:
    s = KeyedStreams.for_range(1, 5, 5)
    assert len(s) == 0
    assert s.normal(4).shape == (0, 4)
    assert s.categorical(torch.zeros(0, 3)).shape == (0,)


def test_global_rngs_untouched() -> None:
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state(legacy=False)
    py_state = random.getstate()
    draw_sequence(KeyedStreams.for_range(fresh_seed(), 0, 10))
    selftest()
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state(legacy=False)
    assert np.array_equal(after["state"]["key"], np_state["state"]["key"])
    assert after["state"]["pos"] == np_state["state"]["pos"]
    assert after["has_gauss"] == np_state["has_gauss"]
    assert random.getstate() == py_state


def test_fresh_seed() -> None:
    seeds = {fresh_seed() for _ in range(20)}
    assert len(seeds) == 20
    assert all(isinstance(s, int) and 0 <= s <= 2**63 - 1 for s in seeds)
    KeyedStreams(max(seeds), torch.arange(2))  # accepted


# ---------------------------------------------------------------------------------------------
# Statistics (fixed seeds; false-alarm rate ALPHA per test function)
# ---------------------------------------------------------------------------------------------


def test_uniform_distribution() -> None:
    u = KeyedStreams.for_range(101, 0, 4000).uniform(50)  # 200k values
    assert float(u.min()) > 0
    assert float(u.max()) < 1
    assert ks_test(u, lambda x: x) > ALPHA / 3
    counts = torch.bincount((u.reshape(-1) * 256).long(), minlength=256)
    assert chi2_counts(counts, torch.full((256,), 1 / 256)) > ALPHA / 3
    u64 = KeyedStreams.for_range(102, 0, 2000).uniform(50, dtype=torch.float64)
    assert ks_test(u64, lambda x: x) > ALPHA / 3


def test_normal_distribution() -> None:
    checks = 4 * 2
    crit = z_crit(ALPHA / checks)
    for dtype, seed in ((torch.float32, 201), (torch.float64, 202)):
        z = KeyedStreams.for_range(seed, 0, 4000).normal(50, dtype=dtype).double().reshape(-1)
        n = z.numel()
        assert abs(float(z.mean())) * math.sqrt(n) < crit
        assert abs(float(z.var()) - 1.0) / math.sqrt(2.0 / n) < crit
        assert ks_test(z, normal_cdf) > ALPHA / checks
        p_tail = 2 * float(normal_cdf(torch.tensor(-2.5, dtype=torch.float64)))
        tail = float((z.abs() > 2.5).double().mean())
        assert abs(tail - p_tail) / math.sqrt(p_tail * (1 - p_tail) / n) < crit


def test_gumbel_distribution() -> None:
    g = KeyedStreams.for_range(301, 0, 4000).gumbel(25)
    assert bool(torch.isfinite(g).all())
    assert ks_test(g, lambda x: torch.exp(-torch.exp(-x))) > ALPHA


def test_categorical_frequencies() -> None:
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0, 0.5, -math.inf])
    batch = 20_000
    s = KeyedStreams.for_range(401, 0, batch)
    draws = s.categorical(logits.expand(batch, 3, 7))  # 60k draws
    counts = torch.bincount(draws.reshape(-1), minlength=7)
    assert int(counts[6]) == 0  # -inf is impossible
    probs = torch.softmax(logits[:6].double(), dim=0)
    assert chi2_counts(counts[:6], probs) > ALPHA


def test_inverse_categorical_frequencies_and_zero_probabilities() -> None:
    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, -3.0, 0.5, -math.inf, -math.inf])
    batch = 20_000
    s = KeyedStreams.for_range(402, 0, batch)
    draws = s.categorical(logits.expand(batch, 3, 8), method="inverse")
    assert draws.shape == (batch, 3)
    assert draws.dtype == torch.int64
    counts = torch.bincount(draws.reshape(-1), minlength=8)
    assert int(counts[6:].sum()) == 0  # -inf is impossible, the last category included
    probs = torch.softmax(logits[:6].double(), dim=0)
    assert chi2_counts(counts[:6], probs) > ALPHA


def test_inverse_categorical_uses_one_word_per_draw_and_is_batch_invariant() -> None:
    vocab = 50_000
    logits = torch.randn(6, vocab, generator=torch.Generator().manual_seed(3))
    whole = KeyedStreams.for_range(7, 0, 6)
    drawn = whole.categorical(logits, method="inverse")
    assert whole.position == 1  # one float64 uniform, one word, whatever the vocabulary
    parts = [KeyedStreams.for_range(7, i, i + 2).categorical(logits[i : i + 2], method="inverse")
             for i in (0, 2, 4)]
    assert torch.equal(torch.cat(parts), drawn)
    # the row's draw is the first category whose running probability sum passes u * total
    u = KeyedStreams.for_range(7, 0, 6).uniform(dtype=torch.float64)
    cdf = torch.softmax(logits.double(), -1).cumsum(-1)
    expected = (cdf <= u[:, None] * cdf[:, -1:]).sum(-1)
    assert torch.equal(drawn, expected)


def test_inverse_categorical_never_lands_on_trailing_zeros_when_rounding_reaches_the_total(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """u * total can round to the total itself (a total just above 1 and u = 1 - 2^-53 tie to
    it): the search then runs off the end, and the draw must fall back to the last category of
    positive probability. Simulated with u = 1 exactly."""
    monkeypatch.setattr(KeyedStreams, "uniform",
                        lambda self, *shape, dtype=torch.float32: torch.ones(
                            (len(self), *shape), dtype=dtype))
    logits = torch.log(torch.tensor([[0.2, 0.5, 0.0, 0.0], [0.7, 0.0, 0.0, 0.0],
                                     [0.1, 0.1, 0.1, 0.7]]))
    drawn = KeyedStreams.for_range(0, 0, 3).categorical(logits, method="inverse")
    assert drawn.tolist() == [1, 0, 3]


def test_inverse_categorical_point_mass_and_bad_method() -> None:
    logits = torch.full((4, 5), -math.inf)
    logits[:, 4] = 0.0  # all mass on the last category
    assert torch.equal(KeyedStreams.for_range(1, 0, 4).categorical(logits, method="inverse"),
                       torch.full((4,), 4))
    logits = torch.full((4, 5), -math.inf)
    logits[:, 0] = 3.0  # ... and on the first
    assert int(KeyedStreams.for_range(1, 0, 4).categorical(logits, method="inverse").sum()) == 0
    with pytest.raises(InvalidArgumentError, match="'gumbel' or 'inverse'"):
        KeyedStreams.for_range(1, 0, 4).categorical(logits, method="icdf")  # type: ignore[arg-type]


def test_randint_frequencies() -> None:
    s = KeyedStreams.for_range(501, 0, 5000)
    x = s.randint(7, 20)
    assert x.dtype == torch.int64
    assert int(x.min()) >= 0
    assert int(x.max()) <= 6
    assert chi2_counts(torch.bincount(x.reshape(-1), minlength=7), torch.full((7,), 1 / 7)) > ALPHA
    assert int(s.randint(1, 5).abs().sum()) == 0
    big = s.randint(2**32, 100)
    assert int(big.min()) >= 0
    assert int(big.max()) < 2**32


@pytest.mark.parametrize(("bound", "dtype"), [(0.5, torch.float32), (2.0, torch.float64)])
def test_truncated_normal(bound: float, dtype: torch.dtype) -> None:
    x = KeyedStreams.for_range(601, 0, 2000).truncated_normal(bound, 50, dtype=dtype)
    assert x.dtype == dtype
    assert float(x.abs().max()) <= bound
    a = float(normal_cdf(torch.tensor(-bound, dtype=torch.float64)))

    def cdf(v: torch.Tensor) -> torch.Tensor:
        return (normal_cdf(v) - a) / (1 - 2 * a)

    assert ks_test(x, cdf) > ALPHA / 2  # two parameter cases
    wide = KeyedStreams.for_range(602, 0, 100).truncated_normal(9.0, 100)
    assert bool(torch.isfinite(wide).all())


def test_rademacher_balance_per_bit() -> None:
    r = KeyedStreams.for_range(701, 0, 3000).rademacher(128)  # 2 words a sample
    assert set(r.reshape(-1).tolist()) <= {-1.0, 1.0}
    plus = (r > 0).reshape(-1, 64).double().sum(0)  # per bit position of the word
    n = r.numel() / 64
    stat = float(((plus - n / 2) ** 2 / (n / 4)).sum())
    assert chi2_sf(stat, 64) > ALPHA


def test_no_correlation_between_neighbours() -> None:
    """Neighbouring indices, neighbouring words, neighbouring seeds and forks look independent."""
    n = 20_000
    a = KeyedStreams.for_range(801, 0, n + 1)
    z = a.normal(4).double()  # (n + 1, 4): words 0, 1
    pairs = {
        "index i vs i + 1": (z[:-1, 0], z[1:, 0]),
        "cos vs sin of one word": (z[:-1, 0], z[:-1, 1]),
        "word j vs j + 1": (z[:-1, 0], z[:-1, 2]),
        "seed s vs s + 1": (z[:-1, 0], KeyedStreams.for_range(802, 0, n).normal(1)[:, 0].double()),
        "root vs fork": (z[:-1, 0], a.fork("x").normal(1)[:-1, 0].double()),
    }
    words = KeyedStreams.for_range(801, 0, n + 1).words(2)
    checks = len(pairs) + 2
    crit = z_crit(ALPHA / checks)
    for name, (x, y) in pairs.items():
        r = float(torch.corrcoef(torch.stack((x, y)))[0, 1])
        assert abs(r) * math.sqrt(n) < crit, f"{name}: r = {r}"
    # bit level: Hamming distance between neighbouring words averages 32 bits (sd 4)
    for name, (x, y) in {
        "index": (words[:-1, 0], words[1:, 0]),
        "word": (words[:, 0], words[:, 1]),
    }.items():
        flips = np.unpackbits((x ^ y).numpy().view(np.uint8)).reshape(x.numel(), 64).sum(1)
        assert abs(float(flips.mean()) - 32) / (4 / math.sqrt(x.numel())) < crit, name


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

S3: Any = KeyedStreams.for_range(0, 0, 3)  # Any: the cases pass wrongly typed values on purpose
KS: Any = KeyedStreams
IDX = torch.arange(3)

BAD: list[tuple[str, Callable[[], object], type[Exception], str]] = [
    ("float seed", lambda: KS(1.0, IDX), ArgumentTypeError, r"seed.*1\.0.*2\*\*63"),
    ("bool seed", lambda: KS(True, IDX), ArgumentTypeError, r"seed.*True"),
    ("numpy float", lambda: KS(np.float64(2), IDX), ArgumentTypeError, r"seed.*float64"),
    ("str seed", lambda: KS("1", IDX), ArgumentTypeError, r"seed.*'1'.*fresh_seed"),
    ("negative seed", lambda: KS(-1, IDX), InvalidArgumentError, r"seed.*-1.*\[0, 2\*\*63 - 1\]"),
    (
        "huge seed",
        lambda: KS(2**63, IDX),
        InvalidArgumentError,
        r"seed.* out of range.*9223372036854775808",
    ),
    (
        "negative index",
        lambda: KS(0, torch.tensor([0, -4])),
        InvalidArgumentError,
        r"indices must be >= 0.*-4.*\[0, 2\*\*63 - 1\]",
    ),
    ("float indices", lambda: KS(0, torch.zeros(3)), ArgumentTypeError, r"integer dtype.*float32"),
    ("list indices", lambda: KS(0, [0, 1]), ArgumentTypeError, r"torch\.Tensor.*for_range"),
    (
        "2-D indices",
        lambda: KS(0, torch.zeros(2, 2, dtype=torch.int64)),
        InvalidArgumentError,
        r"1-D.*\(2, 2\)",
    ),
    ("range backwards", lambda: KS.for_range(0, 5, 2), InvalidArgumentError, r"stop.*2.*\[5, "),
    ("negative dim", lambda: S3.normal(2, -1), InvalidArgumentError, r"normal\(\) shape entry.*-1"),
    (
        "tuple shape",
        lambda: S3.uniform((2, 3)),
        ArgumentTypeError,
        r"uniform\(\) shape entry.*separate ints",
    ),
    (
        "int dtype",
        lambda: S3.normal(2, dtype=torch.int64),
        ArgumentTypeError,
        r"normal\(\) dtype.*torch\.int64.*float32",
    ),
    ("words count", lambda: S3.words(-1), InvalidArgumentError, r"words\(\) count.*-1"),
    (
        "randint 0",
        lambda: S3.randint(0, 2),
        InvalidArgumentError,
        r"randint\(\) high.*0.*\[1, 4294967296\]",
    ),
    (
        "randint huge",
        lambda: S3.randint(2**33),
        InvalidArgumentError,
        r"randint\(\) high.*8589934592",
    ),
    ("bound 0", lambda: S3.truncated_normal(0.0, 2), InvalidArgumentError, r"bound.*0\.0.*> 0"),
    ("bound nan", lambda: S3.truncated_normal(math.nan, 2), InvalidArgumentError, r"bound.*nan"),
    ("bound str", lambda: S3.truncated_normal("1", 2), ArgumentTypeError, r"bound.*'1'"),
    (
        "int logits",
        lambda: S3.categorical(torch.zeros(3, 4, dtype=torch.int64)),
        ArgumentTypeError,
        r"logits.*floating",
    ),
    (
        "logits batch",
        lambda: S3.categorical(torch.zeros(4, 5)),
        InvalidArgumentError,
        r"logits shape \(4, 5\).*B = 3",
    ),
    (
        "logits 1-D",
        lambda: S3.categorical(torch.zeros(3)),
        InvalidArgumentError,
        r"logits shape \(3,\)",
    ),
    ("fork empty", lambda: S3.fork(""), ArgumentTypeError, r"fork\(\) name.*''"),
    ("fork int", lambda: S3.fork(3), ArgumentTypeError, r"fork\(\) name.*3"),
    (
        "select range",
        lambda: S3.select(torch.tensor([0, 3])),
        InvalidArgumentError,
        r"row out of range.*\[0, 3\)",
    ),
    (
        "select mask",
        lambda: S3.select(torch.ones(4, dtype=torch.bool)),
        InvalidArgumentError,
        r"mask shape \(4,\)",
    ),
    (
        "select float",
        lambda: S3.select(torch.zeros(2)),
        ArgumentTypeError,
        r"rows must be integers",
    ),
]


@pytest.mark.parametrize(("case", "call", "error", "pattern"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_raise_typed_errors(
    case: str, call: Callable[[], object], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert re.search(pattern, message, flags=re.S), message
    assert "allowed:" in message  # every message names what is allowed
    assert isinstance(info.value, ValueError | TypeError)


def test_bad_input_consumes_no_words() -> None:
    s = KeyedStreams.for_range(0, 0, 3)
    with pytest.raises(InvalidArgumentError):
        s.randint(0, 4)
    assert s.position == 0


# ---------------------------------------------------------------------------------------------
# Devices
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree() -> None:
    selftest("cuda")
    cpu = KeyedStreams.for_range(123, 0, 257)
    gpu = KeyedStreams.for_range(123, 0, 257, device="cuda")
    assert gpu.indices.is_cuda
    assert torch.equal(cpu.words(33), gpu.words(33).cpu())
    assert torch.equal(cpu.uniform(40), gpu.uniform(40).cpu())
    assert torch.equal(
        cpu.uniform(9, dtype=torch.float64), gpu.uniform(9, dtype=torch.float64).cpu()
    )
    assert torch.equal(cpu.randint(1000, 9), gpu.randint(1000, 9).cpu())
    assert torch.equal(cpu.rademacher(100), gpu.rademacher(100).cpu())
    torch.testing.assert_close(cpu.normal(64), gpu.normal(64).cpu(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cpu.gumbel(8), gpu.gumbel(8).cpu(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        cpu.truncated_normal(2.0, 8), gpu.truncated_normal(2.0, 8).cpu(), rtol=1e-5, atol=1e-5
    )
    assert cpu.position == gpu.position
