"""Time-ordered job ids: sorting by id sorts by creation time (UUIDv7).

Within one process ids are strictly increasing: ids made in the same millisecond
carry a counter in the 12 `rand_a` bits (RFC 9562, section 6.2, method 1), so
"newest first" is exact for jobs submitted through one API process. Across
processes, ids of the same millisecond order arbitrarily.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import uuid

_COUNTER_BITS = 12
_lock = threading.Lock()
_last_millis = 0
_counter = 0


def new_job_id() -> str:
    """A UUIDv7: 48 bits of milliseconds, a 12-bit counter, 62 random bits."""
    global _last_millis, _counter
    with _lock:
        millis = time.time_ns() // 1_000_000
        if millis <= _last_millis:
            millis = _last_millis
            _counter += 1
            if _counter >> _COUNTER_BITS:  # 4,096 ids in one millisecond: borrow the next one
                millis, _counter = millis + 1, 0
        else:
            _counter = secrets.randbelow(1 << (_COUNTER_BITS - 1))  # room to count upwards
        _last_millis = millis
        counter = _counter
    value = (millis << 80) | (0x7 << 76) | (counter << 64)
    value |= (0b10 << 62) | int.from_bytes(os.urandom(8), "big") >> 2
    return str(uuid.UUID(int=value))
