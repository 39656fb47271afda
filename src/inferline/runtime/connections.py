"""Connecting to the servers a process needs, whenever they come up.

A process may start before PostgreSQL or Redis: it keeps trying with capped
exponential backoff and says, per server, why it is not connected yet. Once
connected, a light check keeps the state current for `/readyz`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[None]]


@dataclass
class Dependency:
    """One server: how to connect (and migrate) once, and how to check it later."""

    name: str
    connect: Step
    check: Step | None = None
    connected: bool = False
    error: str | None = "not connected yet"
    attempts: int = 0


class Connections:
    """The servers of one process, connected in order, each retried until it answers."""

    def __init__(
        self, *, first_delay: float = 0.2, max_delay: float = 5.0, check_every: float = 2.0
    ) -> None:
        self.dependencies: list[Dependency] = []
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.check_every = check_every
        self._checker: asyncio.Task[None] | None = None

    def add(self, name: str, connect: Step, check: Step | None = None) -> None:
        self.dependencies.append(Dependency(name, connect, check))

    @property
    def all_connected(self) -> bool:
        return all(d.connected and d.error is None for d in self.dependencies)

    def problems(self) -> list[str]:
        """`name: reason` for each server that is not usable right now."""
        return [f"{d.name}: {d.error}" for d in self.dependencies if d.error is not None]

    async def connect_once(self) -> bool:
        """One attempt at each server not yet connected; True when all are."""
        for dependency in self.dependencies:
            if not dependency.connected and not await self._attempt(dependency):
                return False
        return True

    async def connect(self) -> None:
        """Keep trying until every server is connected, then watch them."""
        delay = self.first_delay
        while not await self.connect_once():
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
        self._checker = asyncio.create_task(self._watch(), name="dependency-checks")

    async def _attempt(self, dependency: Dependency) -> bool:
        dependency.attempts += 1
        try:
            await dependency.connect()
        except Exception as exc:
            dependency.error = f"cannot connect (attempt {dependency.attempts}): {_describe(exc)}"
            log.warning("%s: %s", dependency.name, dependency.error)
            return False
        dependency.connected, dependency.error = True, None
        log.info("%s: connected", dependency.name)
        return True

    def watch(self) -> None:
        """Start the periodic checks (after a successful `connect_once`)."""
        if self._checker is None:
            self._checker = asyncio.create_task(self._watch(), name="dependency-checks")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_every)
            for dependency in self.dependencies:
                if dependency.check is None:
                    continue
                try:
                    await dependency.check()
                    dependency.error = None
                except Exception as exc:
                    dependency.error = f"unreachable: {_describe(exc)}"

    async def stop(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            await asyncio.gather(self._checker, return_exceptions=True)
            self._checker = None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}"[:300] if text else type(exc).__name__
