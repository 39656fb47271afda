"""The processor: reads `news.raw` in batches and stores every article analysed.

A batch closes at `batch_size` records or `batch_timeout` seconds after its first
record, whichever comes first (Faust's `take(BATCH_SIZE, within=BATCH_TIMEOUT)`). The
batch's articles are analysed at once, stored in one transaction, and only then
committed on the stream: a process that dies in between reads the batch again, and
the store keeps one article per id with one result per analyser (analysers already
stored are not run again). A record that is not an article is recorded as a reject
and committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from pydantic import ValidationError

from inferline.apps.news.models import RawNewsArticle
from inferline.apps.news.service import NewsService
from inferline.apps.news.store import Reject
from inferline.core.validation import field_problems, problems_summary
from inferline.ports.streams import StreamRecord, StreamSource

log = logging.getLogger(__name__)


class NewsProcessor:
    """One consumer of the news stream, in the process that runs it."""

    def __init__(
        self,
        source: StreamSource,
        service: NewsService,
        topic: str,
        *,
        batch_size: int = 10,
        batch_timeout: float = 2.0,
        lag_every_seconds: float = 2.0,
        wait_ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`wait_ready`: awaited before the first batch (the process's models loading),
        so that the backlog is not analysed by models that are not there yet."""
        self.wait_ready = wait_ready
        self.source = source
        self.service = service
        self.topic = topic
        self.batch_size = batch_size
        self.batch_timeout = batch_timeout
        self.lag_every_seconds = lag_every_seconds
        self._pending: list[StreamRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._lag_measured = 0.0

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name=f"news-processor-{self.topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.source.close()

    async def _run(self) -> None:
        if self.wait_ready is not None:
            with contextlib.suppress(Exception):  # a model that failed to load: go on;
                await self.wait_ready()  # its analyser records the failure
        delay = 0.1
        while True:
            try:
                await self.process_once()
                delay = 0.1
            except Exception as exc:
                log.warning("news processor: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            with contextlib.suppress(Exception):
                await self._measure_lag()

    async def next_batch(self) -> list[StreamRecord]:
        """Up to `batch_size` records, waiting at most `batch_timeout` after the first."""
        records = await self.source.read(self.batch_size, self.batch_timeout)
        deadline = time.monotonic() + self.batch_timeout
        while records and len(records) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            more = await self.source.read(self.batch_size - len(records), left)
            if not more:
                break
            records.extend(more)
        return records

    async def process_once(self) -> int:
        """Analyse and store one batch (or retry the one that failed); returns its size."""
        if not self._pending:
            self._pending = await self.next_batch()
        records = self._pending
        if not records:
            return 0
        articles: dict[str, RawNewsArticle] = {}
        rejects: list[Reject] = []
        for record in records:
            try:
                article = RawNewsArticle.model_validate_json(record.value)
            except ValidationError as exc:
                reason = f"not an article: {problems_summary(field_problems(exc.errors()))}"
                rejects.append(Reject(None, f"{self.topic}/{record.position}", reason))
                continue
            articles.setdefault(article.article_id, article)  # a record read twice: once
        await self.service.analyse_and_store(list(articles.values()), origin="feed")
        if rejects:
            await self.service.store.add_rejects(rejects)
            self.service.metrics.entries_rejected.labels("invalid_record").inc(len(rejects))
        await self.source.commit(records)
        self._pending = []
        return len(records)

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_measured < self.lag_every_seconds:
            return
        self._lag_measured = now
        lag = sum((await self.source.lag()).values())
        self.service.metrics.stream_lag.labels(self.topic).set(lag)
        self.service.stream_lag = lag
