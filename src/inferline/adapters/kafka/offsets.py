"""Which offset of a partition may be committed: the lowest one not yet done.

Records are handed out in offset order but finish in any order. Committing offset
N tells the group that everything below N is done, so the commit position is the
lowest offset still outstanding (or, when none is, one past the last handed out).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    """Offsets of one partition handed out and not yet done, and what was committed."""

    outstanding: set[int] = field(default_factory=set)
    next_offset: int | None = None
    committed: int | None = None

    def handed_out(self, offset: int) -> None:
        self.outstanding.add(offset)
        if self.next_offset is None or offset >= self.next_offset:
            self.next_offset = offset + 1

    def done(self, offset: int) -> bool:
        """Mark one offset done; False when it was not outstanding here."""
        if offset in self.outstanding:
            self.outstanding.remove(offset)
            return True
        return False

    def holds(self, offset: int) -> bool:
        return offset in self.outstanding

    def position(self) -> int | None:
        """The offset to commit: everything below it is done."""
        if self.outstanding:
            return min(self.outstanding)
        return self.next_offset

    def to_commit(self) -> int | None:
        """The position, when it moved past the last commit; else None."""
        position = self.position()
        if position is None or (self.committed is not None and position <= self.committed):
            return None
        return position
