import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from nlpbook import batching


def test_pad_batch_shapes_and_cpu_int64_lengths():
    ids, lengths = batching.pad_batch([[5, 6, 7], [8], [9, 10]])
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.tolist() == [3, 1, 2]
    assert lengths.dtype == torch.int64 and lengths.device.type == "cpu"
    with pytest.raises(ValueError, match="empty sequence"):
        batching.pad_batch([[1], []])


def test_collate_batch_and_pairs():
    ids, lengths, labels = batching.collate_batch([([1, 2], 1), ([3], 0)], pad_index=0)
    assert (
        ids.tolist() == [[1, 2], [3, 0]]
        and lengths.tolist() == [2, 1]
        and labels.tolist() == [1, 0]
    )
    a, la, b, lb, y = batching.collate_pairs([([1], [2, 3], 2), ([4, 5, 6], [7], 0)])
    assert a.shape == (2, 3) and b.shape == (2, 2)
    assert la.tolist() == [1, 3] and lb.tolist() == [2, 1] and y.tolist() == [2, 0]


def test_collate_targets_yields_the_ids_as_their_own_targets():
    ids, lengths, targets = batching.collate_targets([[2, 5, 3], [2, 3]])
    assert ids.tolist() == [[2, 5, 3], [2, 3, 0]] and lengths.tolist() == [3, 2]
    assert torch.equal(targets, ids)
    padded, _, _ = batching.collate_targets([[4], [4, 4]], pad_index=9)
    assert padded.tolist() == [[4, 9], [4, 4]]
    with pytest.raises(ValueError, match="empty sequence"):
        batching.collate_targets([[2, 3], []])


def test_bucket_sampler_covers_every_index_once_and_is_seeded():
    lengths = torch.randint(1, 200, (1000,), generator=torch.Generator().manual_seed(0)).tolist()
    sampler = batching.BucketBatchSampler(lengths, 32, generator=torch.Generator().manual_seed(1))
    batches = list(sampler)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1000)) and len(batches) == len(sampler) == 32
    again = list(
        batching.BucketBatchSampler(lengths, 32, generator=torch.Generator().manual_seed(1))
    )
    assert batches == again
    assert list(sampler) != batches  # the next epoch is shuffled differently


def test_bucket_sampler_interleaves_batches_of_different_pools():
    # Distinct lengths (length = index), 8 pools of 2 batches. Each pool's batches are cut
    # from its length-sorted indices, so batches that came pool by pool would form runs of
    # 2 in ascending length (the first batch's longest shorter than the next one's shortest);
    # the final shuffle over all batches breaks that up and mixes the pools.
    n, batch_size, pool_factor = 64, 4, 2
    lengths = list(range(n))
    first_run_sorted = []
    for seed in range(5):
        sampler = batching.BucketBatchSampler(
            lengths, batch_size, generator=torch.Generator().manual_seed(seed),
            pool_factor=pool_factor,
        )  # fmt: skip
        epochs = [list(sampler) for _ in range(3)]
        for batches in epochs:
            assert sorted(i for b in batches for i in b) == lengths
            assert all(b == sorted(b) for b in batches)  # each batch is length-sorted
            runs = [batches[k : k + pool_factor] for k in range(0, len(batches), pool_factor)]
            pool_by_pool = all(
                max(run[j]) < min(run[j + 1]) for run in runs for j in range(pool_factor - 1)
            )
            assert not pool_by_pool, seed
            first_run_sorted.append(max(batches[0]) < min(batches[1]))
        assert epochs[0] != epochs[1] != epochs[2] != epochs[0], seed  # each epoch differs
    # the first batches do not always come as the first pool's sorted run
    assert not all(first_run_sorted)


def test_bucketing_cuts_padding():
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 500, (2000,), generator=gen).tolist()
    random_batches = torch.randperm(2000, generator=gen).split(64)
    bucketed = list(batching.BucketBatchSampler(lengths, 64, generator=gen))
    random_pad = batching.padding_fraction(random_batches, lengths)
    bucket_pad = batching.padding_fraction(bucketed, lengths)
    assert random_pad > 0.4 and bucket_pad < 0.05


def test_eval_order_is_sorted_and_drop_last():
    sampler = batching.BucketBatchSampler([5, 1, 3, 2, 4], 2, shuffle=False)
    assert list(sampler) == [[1, 3], [2, 4], [0]]
    dropping = batching.BucketBatchSampler([5, 1, 3, 2, 4], 2, shuffle=False, drop_last=True)
    assert list(dropping) == [[1, 3], [2, 4]] and len(dropping) == 2
    with pytest.raises(ValueError):
        batching.BucketBatchSampler([1], 0)


def test_padding_fraction_exact():
    assert batching.padding_fraction([[0, 1]], [4, 2]) == pytest.approx(0.25)
    assert batching.padding_fraction([], []) == 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=8), st.integers(1, 4), st.booleans())
def test_pad_pack_unpack_returns_the_input(lengths, features, batch_first):
    sequences = [torch.randn(n, features) for n in lengths]
    padded = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=batch_first)
    packed = pack_padded_sequence(
        padded, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False
    )
    unpacked, out_lengths = pad_packed_sequence(packed, batch_first=batch_first)
    assert out_lengths.tolist() == lengths
    assert torch.equal(unpacked, padded)


# ---------------------------------------------------------------- bad input (issue 22, item 14)


@pytest.mark.parametrize(
    "collate",
    [batching.collate_batch, batching.collate_pairs, batching.collate_targets, batching.pad_batch],
)
def test_an_empty_batch_is_a_clear_error(collate):
    with pytest.raises(ValueError, match="cannot collate an empty batch"):
        collate([])


@pytest.mark.parametrize("sequence", [[1.7], [1, 2.5], torch.tensor([0.9]), [True, False]])
def test_pad_batch_refuses_ids_that_are_not_integers(sequence):
    # as_tensor(..., dtype=long) would have truncated 1.7 to 1 without a word
    with pytest.raises(TypeError, match="token ids must be integers"):
        batching.pad_batch([[3, 4], sequence])


def test_pad_batch_takes_integer_ids_of_any_width():
    ids, lengths = batching.pad_batch([[1, 2], torch.tensor([3], dtype=torch.int32)], pad_index=9)
    assert (
        ids.dtype == torch.long and ids.tolist() == [[1, 2], [3, 9]] and lengths.tolist() == [2, 1]
    )


@pytest.mark.parametrize("name", ["batch_size", "pool_factor"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bucket_sampler_refuses_sizes_below_one(name, bad):
    with pytest.raises(ValueError, match=f"{name} must be a positive int, not {bad!r}"):
        batching.BucketBatchSampler([3, 1, 2], **{"batch_size": 2, name: bad})
