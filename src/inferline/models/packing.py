"""Sequence packing: several short texts share one row of the encoder's input, unpadded.

A batch of texts is usually padded to its longest text, and every pad token costs as
much compute as a real one: with texts of 11 to 27 tokens, a third of the work is
padding. Packing lays texts end to end in rows of `width` tokens (first fit,
longest first) and gives the encoder what keeps them apart: position ids that
restart at 0 for each text, and a segment id per token, from which the encoder
builds a block-diagonal attention mask (a token sees only its own text). For an
encoder with absolute positions and per-token layers, as BERT, each text's hidden
states are then the same as if it ran alone.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

PAD_SEGMENT = -1  # the unused tail of a row: its tokens attend only to each other


@dataclass(frozen=True, slots=True)
class Span:
    """Where one text (by its index in the input) lies in the packed rows."""

    text: int
    row: int
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class PackedRows:
    """Token rows of equal width, with the position and segment of every token."""

    input_ids: np.ndarray  # (rows, width) int64
    position_ids: np.ndarray  # (rows, width) int64, from 0 within each text
    segment_ids: np.ndarray  # (rows, width) int64, PAD_SEGMENT on the unused tail
    spans: list[Span]  # one per text

    def rows(self, start: int, stop: int) -> PackedRows:
        """Rows `start` to `stop` as a batch of their own, as wide as their fullest row."""
        segments = self.segment_ids[start:stop]
        width = int((segments != PAD_SEGMENT).sum(axis=1).max())
        return PackedRows(
            self.input_ids[start:stop, :width],
            self.position_ids[start:stop, :width],
            segments[:, :width],
            [
                Span(s.text, s.row - start, s.start, s.length)
                for s in self.spans
                if start <= s.row < stop
            ],
        )


def pack(sequences: list[list[int]], width: int) -> PackedRows:
    """Lay token sequences in rows of at most `width` tokens (wider if one text is longer).

    First fit decreasing: the longest texts are placed first, each in the first row
    with room. The rows are as wide as the fullest one. Rows are indexed by their free
    room (a heap of row numbers per room), so that a text looks at the rooms it fits
    in, not at every row: thousands of texts (a GPU's batch) pack in linear time.
    """
    if not sequences:
        raise ValueError("nothing to pack")
    width = max(width, max(len(s) for s in sequences))
    fills: list[int] = []
    by_room: list[list[int]] = [[] for _ in range(width + 1)]  # room -> heap of rows
    placed: list[tuple[int, int]] = [(0, 0)] * len(sequences)  # (row, start) per text
    for index in sorted(range(len(sequences)), key=lambda i: -len(sequences[i])):
        length = len(sequences[index])
        fitting = [heap for heap in by_room[length:] if heap]
        if fitting:  # the first row with room: the lowest row number of any room that fits
            row = heapq.heappop(min(fitting, key=lambda heap: heap[0]))
        else:
            row = len(fills)
            fills.append(0)
        placed[index] = (row, fills[row])
        fills[row] += length
        heapq.heappush(by_room[width - fills[row]], row)
    shape = (len(fills), max(fills))
    input_ids = np.zeros(shape, dtype=np.int64)
    position_ids = np.zeros(shape, dtype=np.int64)
    segment_ids = np.full(shape, PAD_SEGMENT, dtype=np.int64)
    spans: list[Span] = []
    for index, (sequence, (row, start)) in enumerate(zip(sequences, placed, strict=True)):
        stop = start + len(sequence)
        input_ids[row, start:stop] = sequence
        position_ids[row, start:stop] = np.arange(len(sequence))
        segment_ids[row, start:stop] = index
        spans.append(Span(index, row, start, len(sequence)))
    return PackedRows(input_ids, position_ids, segment_ids, spans)


def mean_pool(hidden: np.ndarray, spans: list[Span]) -> np.ndarray:
    """The mean hidden state of each span's tokens: (len(spans), hidden)."""
    pooled = np.empty((len(spans), hidden.shape[-1]), dtype=np.float32)
    for index, span in enumerate(spans):
        pooled[index] = hidden[span.row, span.start : span.start + span.length].mean(axis=0)
    return pooled
