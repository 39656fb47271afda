"""Sequence packing: texts laid end to end in rows, positions per text, segments, pooling."""

from __future__ import annotations

import numpy as np
import pytest

from inferline.models.packing import PAD_SEGMENT, mean_pool, pack

SEQUENCES = [[11, 12, 13], [21, 22], [31], [41, 42, 43, 44]]


def test_longest_first_into_the_first_row_with_room() -> None:
    packed = pack(SEQUENCES, width=5)
    assert packed.input_ids.tolist() == [[41, 42, 43, 44, 31], [11, 12, 13, 21, 22]]
    assert packed.position_ids.tolist() == [[0, 1, 2, 3, 0], [0, 1, 2, 0, 1]]
    assert packed.segment_ids.tolist() == [[3, 3, 3, 3, 2], [0, 0, 0, 1, 1]]


def test_every_text_is_found_whole_at_its_span() -> None:
    rng = np.random.default_rng(7)
    sequences = [list(rng.integers(1, 1000, rng.integers(1, 30))) for _ in range(50)]
    packed = pack(sequences, width=64)
    assert sorted(span.text for span in packed.spans) == list(range(50))
    for span in packed.spans:
        tokens = packed.input_ids[span.row, span.start : span.start + span.length]
        positions = packed.position_ids[span.row, span.start : span.start + span.length]
        assert tokens.tolist() == sequences[span.text]
        assert positions.tolist() == list(range(span.length))
    assert packed.input_ids.shape[1] <= 64
    real_tokens = sum(len(s) for s in sequences)
    assert (packed.segment_ids != PAD_SEGMENT).sum() == real_tokens
    assert packed.input_ids.size < 1.1 * real_tokens  # little padding is left


def test_a_text_longer_than_the_width_gets_a_row_of_its_own() -> None:
    packed = pack([[1] * 10, [2, 2]], width=4)
    assert packed.input_ids.shape == (2, 10)
    assert packed.segment_ids[1].tolist() == [1, 1] + [PAD_SEGMENT] * 8


def test_a_slice_of_rows_is_as_wide_as_its_fullest_row() -> None:
    packed = pack([[1] * 6, [2] * 3, [3] * 2], width=6)  # rows: 6 | 3 + 2
    tail = packed.rows(1, 2)
    assert tail.input_ids.tolist() == [[2, 2, 2, 3, 3]]
    assert [(s.text, s.row, s.start, s.length) for s in tail.spans] == [(1, 0, 0, 3), (2, 0, 3, 2)]


def test_mean_pool_averages_each_span_only() -> None:
    packed = pack([[5, 5], [7]], width=3)
    hidden = np.arange(1 * 3 * 2, dtype=np.float32).reshape(1, 3, 2)  # (rows, tokens, dim)
    pooled = mean_pool(hidden, packed.spans)
    assert pooled.tolist() == [[1.0, 2.0], [4.0, 5.0]]


def test_nothing_to_pack_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to pack"):
        pack([], width=8)
