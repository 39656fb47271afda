"""Mining a batch of `logs.raw`: each record parsed, its template mined with Drain, its
sightings counted and its errors kept for the incidents (`mine_batch`).

Mining is the consumer's CPU work. `BatchMiner` is where it runs, and where the tenants'
miners live:

- `ProcessMiner` (the default): in a child process of its own, so it has its own core
  and GIL and the API, the ingest and the stores keep theirs. The miners' state lives
  in the child; a child that dies is replaced and its miners restored from the store
  (the batch it was mining is mined again).
- `ThreadMiner`: in a worker thread of the consumer's process (one core, or tests).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ValidationError

from inferline.apps.logs.incidents import ErrorLine
from inferline.apps.logs.records import LogRecord
from inferline.apps.logs.templates import MinerConfig, TemplateMiners
from inferline.ports.log_archive import ArchiveLine
from inferline.ports.logs import TemplateSighting
from inferline.ports.streams import StreamRecord

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sighting:
    count: int
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class Mining:
    """What mining one batch found."""

    sightings: list[TemplateSighting] = field(default_factory=list)
    errors: list[ErrorLine] = field(default_factory=list)
    states: dict[str, bytes] = field(default_factory=dict)
    lines: dict[str, list[ArchiveLine]] = field(default_factory=dict)
    """Per tenant, every valid line with its template id, in the stream's order, as the
    archive stores it."""
    invalid: int = 0
    newest: float | None = None
    templates: int = 0
    """How many templates the miners know after the batch (every tenant's)."""


def mine_batch(miners: TemplateMiners, records: Sequence[StreamRecord]) -> Mining:
    """Parse and mine `records` (CPU work: a `BatchMiner` runs it off the event loop)."""
    mining = Mining()
    seen: dict[tuple[str, int, str], _Sighting] = {}
    errors: list[tuple[LogRecord, float, int, tuple[tuple[str, str], ...], str]] = []
    for record in records:
        try:
            line = LogRecord.model_validate_json(record.value)
        except ValidationError as exc:
            mining.invalid += 1
            log.warning(
                "logs processor: %s/%s is not a log record: %s",
                record.topic,
                record.position,
                exc.error_count(),
            )
            continue
        is_error = line.level.is_error
        mined = miners.miner(line.tenant).mine(line.message, with_parameters=is_error)
        archived = line.archive_line(str(mined.template_id))
        mining.lines.setdefault(line.tenant, []).append(archived)
        at = archived.timestamp
        key = (line.tenant, mined.template_id, line.service)
        found = seen.get(key)
        if found is None:
            seen[key] = _Sighting(1, at, at)
        else:
            found.count += 1
            found.first_seen = min(found.first_seen, at)
            found.last_seen = max(found.last_seen, at)
        if is_error:
            origin = f"{record.topic}/{record.partition}/{record.position}"
            errors.append((line, at, mined.template_id, mined.parameters or (), origin))
        mining.newest = at if mining.newest is None else max(mining.newest, at)
    for (tenant, template_id, service), sighting in seen.items():
        text = miners.miner(tenant).template(template_id) or ""
        mining.sightings.append(
            TemplateSighting(
                tenant,
                template_id,
                service,
                text,
                sighting.count,
                sighting.first_seen,
                sighting.last_seen,
            )
        )
    for line, at, template_id, parameters, origin in errors:
        mining.errors.append(
            ErrorLine(
                tenant=line.tenant,
                service=line.service,
                template_id=template_id,
                template=miners.miner(line.tenant).template(template_id) or "",
                level=line.level,
                at=at,
                message=line.message,
                trace_id=line.trace_id,
                parameters=parameters,
                origin=origin,
            )
        )
    mining.states = miners.snapshots()
    # The batch is stored with these snapshots or, when its store fails, stored again
    # with the same ones (a batch is mined once), or the consumer restarts from the store.
    miners.stored(list(mining.states))
    mining.templates = miners.template_count()
    return mining


class BatchMiner(Protocol):
    """Where batches are mined and the tenants' miners live (see the module)."""

    @property
    def restored(self) -> bool:
        """Whether the miners hold their stored state (False at first, and after a
        `ProcessMiner`'s child was lost)."""

    async def restore(self, states: dict[str, bytes]) -> int:
        """Load the stored snapshots; how many templates the miners know then."""

    async def mine(self, records: Sequence[StreamRecord]) -> Mining:
        """`mine_batch` of these records."""

    async def close(self) -> None:
        """Release what the miner holds (a child process)."""


class ThreadMiner:
    """The miners in this process; each batch mined in a worker thread."""

    def __init__(self, miners: TemplateMiners) -> None:
        self.miners = miners
        self.restored = False

    async def restore(self, states: dict[str, bytes]) -> int:
        self.miners.restore(states)
        self.restored = True
        return self.miners.template_count()

    async def mine(self, records: Sequence[StreamRecord]) -> Mining:
        return await asyncio.to_thread(mine_batch, self.miners, records)

    async def close(self) -> None:
        return None


# -- the child process's side ------------------------------------------------------------
_child_miners: TemplateMiners | None = None


def _child_start(config: MinerConfig) -> None:
    global _child_miners
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="exit-with-parent", daemon=True).start()
    _child_miners = TemplateMiners(config)


def _exit_with_parent() -> None:
    """A parent that is killed (SIGKILL, OOM) cannot stop its child: the child ends itself."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()
        os._exit(0)


def _child_miners_now() -> TemplateMiners:
    assert _child_miners is not None, "the mining process was not started"
    return _child_miners


def _child_restore(states: dict[str, bytes]) -> tuple[int, int]:
    miners = _child_miners_now()
    miners.restore(states)
    return os.getpid(), miners.template_count()


def _child_mine(rows: list[tuple[str, int, str, str | None, bytes]]) -> Mining:
    return mine_batch(_child_miners_now(), [StreamRecord(*row) for row in rows])


class MiningProcessLost(RuntimeError):
    """The mining process died; a new one is started, its miners restored from the store."""


class ProcessMiner:
    """The miners in a child process (spawned, one): batches go to it as plain tuples
    and come back as `Mining`s. The child starts with the first `restore`."""

    def __init__(self, config: MinerConfig) -> None:
        self.config = config
        self.pid: int | None = None
        """The mining process's id, once started (for operators and tests)."""
        self._pool: ProcessPoolExecutor | None = None

    @property
    def restored(self) -> bool:
        return self._pool is not None

    async def restore(self, states: dict[str, bytes]) -> int:
        await self.close()
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_child_start,
            initargs=(self.config,),
        )
        self.pid, count = await self._call(_child_restore, states)
        log.info("logs: mining templates in process %s", self.pid)
        return int(count)

    async def mine(self, records: Sequence[StreamRecord]) -> Mining:
        rows = [(r.topic, r.partition, r.position, r.key, r.value) for r in records]
        mining: Mining = await self._call(_child_mine, rows)
        return mining

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def _call(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None:
            raise MiningProcessLost("the mining process is not running: restore first")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, function, *args)
        except BrokenProcessPool as exc:
            await self.close()  # not `restored`: the next batch restores a new child first
            raise MiningProcessLost(
                f"the mining process died ({exc}); where processes cannot be started, set "
                "INFERLINE_LOGS_MINING_PROCESS=false to mine in a thread"
            ) from exc
