"""ImagePool: fill phase, disabled pool, 50 % swaps once full, tensor state round trip."""

from __future__ import annotations

import io

import pytest
import torch

from lit_translate.image_pool import ImagePool


def images(n: int, start: float = 0.0) -> torch.Tensor:
    """``n`` distinct (1, 2, 2) images: image ``i`` is filled with ``start + i``."""
    return (start + torch.arange(n, dtype=torch.float32)).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()


def ids(batch: torch.Tensor) -> list[float]:
    return [float(img[0, 0, 0]) for img in batch]


def full_pool(size: int = 4) -> ImagePool:
    pool = ImagePool(size)
    pool.query(images(size))
    return pool


def test_returns_inputs_unchanged_while_filling():
    pool = ImagePool(5)
    first = images(3).requires_grad_()
    out = pool.query(first * 1)
    assert torch.equal(out, first.detach()) and not out.requires_grad
    assert torch.equal(pool.query(images(2, 10.0)), images(2, 10.0))
    assert ids(torch.cat(pool.images)) == [0, 1, 2, 10, 11]


def test_fill_then_swap_within_one_batch():
    pool = ImagePool(2)
    out = pool.query(images(6), generator=torch.Generator().manual_seed(0))
    assert ids(out)[:2] == [0, 1]  # the first two fill the pool and come back as they are
    assert len(pool.images) == 2


def test_pool_size_zero_returns_input_and_stores_nothing():
    pool = ImagePool(0)
    batch = images(4)
    assert torch.equal(pool.query(batch), batch)
    assert pool.images == []
    state = pool.state_dict()
    assert state["pool_size"] == 0 and state["images"].numel() == 0


def test_negative_pool_size_raises():
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(-1)


def test_full_pool_swaps_a_stored_image_or_returns_the_new_one():
    pool = full_pool(4)
    generator = torch.Generator().manual_seed(0)
    outcomes = []
    for i in range(20):
        before, new = ids(torch.cat(pool.images)), 100.0 + i
        (returned,) = ids(pool.query(images(1, new), generator=generator))
        after = ids(torch.cat(pool.images))
        if returned == new:
            assert after == before
            outcomes.append("kept")
        else:
            # The stored image comes back and the new one takes its slot.
            slot = before.index(returned)
            assert after == before[:slot] + [new] + before[slot + 1 :]
            outcomes.append("swapped")
    assert {"kept", "swapped"} == set(outcomes)


def test_full_pool_batch_is_a_mix_of_stored_and_new_images():
    pool = full_pool(4)
    stored = ids(torch.cat(pool.images))
    new = images(8, 100.0)
    out = pool.query(new, generator=torch.Generator().manual_seed(0))
    assert out.shape == new.shape
    returned = ids(out)
    kept = [i for i, value in enumerate(returned) if value == 100.0 + i]
    assert 0 < len(kept) < 8
    for i, value in enumerate(returned):
        assert value == 100.0 + i or value in stored + [100.0 + j for j in range(i)]


def test_swap_fraction_is_one_half():
    pool = full_pool(10)
    generator = torch.Generator().manual_seed(1)
    draws, swaps = 4000, 0
    for i in range(draws):
        image = images(1, 1000.0 + i)
        swaps += int(not torch.equal(pool.query(image, generator=generator), image))
    assert abs(swaps / draws - 0.5) < 0.03


def test_same_generator_seed_gives_the_same_result():
    outs = []
    for _ in range(2):
        pool = full_pool(4)
        outs.append(pool.query(images(16, 50.0), generator=torch.Generator().manual_seed(3)))
    assert torch.equal(outs[0], outs[1])


def test_state_dict_round_trip_is_exact_and_continues_identically():
    pool = full_pool(6)
    pool.query(torch.randn(5, 1, 2, 2), generator=torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    torch.save(pool.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = ImagePool(6)
    restored.load_state_dict(state)
    assert len(restored.images) == 6
    for a, b in zip(pool.images, restored.images):
        assert torch.equal(a, b)
    new = torch.randn(8, 1, 2, 2)
    out_a = pool.query(new, generator=torch.Generator().manual_seed(7))
    out_b = restored.query(new, generator=torch.Generator().manual_seed(7))
    assert torch.equal(out_a, out_b)


def test_partially_filled_and_empty_pools_round_trip():
    for filled in (0, 3):
        pool = ImagePool(5)
        if filled:
            pool.query(images(filled))
        restored = ImagePool(5)
        restored.load_state_dict(pool.state_dict())
        assert len(restored.images) == filled
        assert all(torch.equal(a, b) for a, b in zip(pool.images, restored.images))


def test_mismatched_pool_size_raises():
    state = full_pool(4).state_dict()
    with pytest.raises(ValueError, match="pool_size"):
        ImagePool(5).load_state_dict(state)
