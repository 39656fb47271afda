"""The lease lock on Redis: one key per lock with a TTL, one INCR counter for tokens.

`<prefix>:lock:<name>` holds `<holder>|<token>` with a millisecond TTL (PX);
`<prefix>:lock:<name>:token` is the fencing counter, incremented by every
acquisition (never reset by a release or an expiry). Acquire, renew and release are
Lua scripts, so each is one atomic step on the server: a renew or release by a
holder whose lease ran out (and perhaps went to another) changes nothing.
"""

from __future__ import annotations

from typing import Any

from inferline.adapters.redis.connection import LazyRedis
from inferline.ports.locks import Lease

ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

RAISE_FLOOR = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class RedisLeaseLock(LazyRedis):
    """`LeaseLock` on one Redis server (keys under `prefix`)."""

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url)
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}:lock:{name}"

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> int:
        result: Any = await self.client.eval(script, len(keys), *keys, *args)
        return int(result)

    async def acquire(self, name: str, holder: str, ttl_seconds: float) -> Lease | None:
        if "|" in holder:
            raise ValueError(f"a lock holder's name has no '|': {holder!r}")
        key = self.key(name)
        token = await self._run(ACQUIRE, [key, f"{key}:token"], [holder, _millis(ttl_seconds)])
        return Lease(name, holder, token) if token else None

    async def renew(self, lease: Lease, ttl_seconds: float) -> bool:
        value = f"{lease.holder}|{lease.token}"
        return bool(await self._run(RENEW, [self.key(lease.name)], [value, _millis(ttl_seconds)]))

    async def release(self, lease: Lease) -> None:
        await self._run(RELEASE, [self.key(lease.name)], [f"{lease.holder}|{lease.token}"])

    async def raise_floor(self, name: str, token: int) -> None:
        await self._run(RAISE_FLOOR, [f"{self.key(name)}:token"], [token])

    async def holder(self, name: str) -> str | None:
        """Who holds the lock now (`holder|token`), for operators and tests."""
        value: Any = await self.client.get(self.key(name))
        return None if value is None else str(value)


def _millis(seconds: float) -> int:
    return max(1, int(seconds * 1000))
