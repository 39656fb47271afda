"""Prometheus metrics on an injected registry (no global state)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inferline.ports.metrics import Sample

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
TOKEN_RATE_BUCKETS = (5, 10, 25, 50, 75, 100, 150, 200, 300, 500, 1000, 2000)


class Metrics:
    """Every metric Inferline exports, registered on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.jobs = Counter(
            "inferline_jobs",
            "Job state changes, by model and new status.",
            ["model", "status"],
            registry=r,
        )
        self.job_retries = Counter(
            "inferline_job_retries", "Failed attempts that will be retried.", ["model"], registry=r
        )
        self.job_latency = Histogram(
            "inferline_job_latency_seconds",
            "Submit-to-finish time of finished jobs.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "inferline_queue_wait_seconds",
            "Time from submit (or retry) to claim.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.service_time = Histogram(
            "inferline_batch_service_seconds",
            "Model compute time of one batch.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "inferline_batch_size",
            "Items per model batch.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.sync_requests = Counter(
            "inferline_sync_inferences",
            "Synchronous inference items, by outcome.",
            ["model", "outcome"],
            registry=r,
        )
        self.sync_abandoned = Counter(
            "inferline_sync_items_abandoned",
            "Synchronous inference items dropped from the model's batcher before their batch "
            "started, because the caller gave up (its HTTP client disconnected).",
            ["model"],
            registry=r,
        )
        self.batcher_pending = Gauge(
            "inferline_batcher_pending_items",
            "Items waiting in the model's micro-batcher for a batch (requests and jobs).",
            ["model"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "inferline_queue_depth",
            "Jobs waiting to run (queued or failed awaiting retry).",
            ["model"],
            registry=r,
        )
        self.in_flight = Gauge(
            "inferline_jobs_in_flight", "Jobs running, by model.", ["model"], registry=r
        )
        self.model_load = Gauge(
            "inferline_model_load_seconds",
            "Time the model took to load and warm up.",
            ["model"],
            registry=r,
        )
        self.model_loaded = Gauge(
            "inferline_model_loaded",
            "1 when the model is loaded in this process.",
            ["model"],
            registry=r,
        )
        self.http_requests = Counter(
            "inferline_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "inferline_http_request_duration_seconds",
            "HTTP request handling time.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.cache_hits = Counter(
            "inferline_cache_hits",
            "Cache lookups that found an entry, by what is cached.",
            ["cache"],
            registry=r,
        )
        self.cache_misses = Counter(
            "inferline_cache_misses",
            "Cache lookups that found nothing, by what is cached.",
            ["cache"],
            registry=r,
        )
        self.stream_records_in = Counter(
            "inferline_stream_records_in",
            "Records read from a stream route's input topic.",
            ["topic"],
            registry=r,
        )
        self.stream_records_out = Counter(
            "inferline_stream_records_out",
            "Job results produced to a stream route's output topic, by input topic.",
            ["topic"],
            registry=r,
        )
        self.stream_dead_lettered = Counter(
            "inferline_stream_dead_lettered",
            "Records (or their jobs) sent to a dead-letter topic, by input topic and reason.",
            ["topic", "reason"],
            registry=r,
        )
        self.stream_lag = Gauge(
            "inferline_stream_lag",
            "Records of an input topic not yet processed (consumer lag), by partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.domain_events_sent = Counter(
            "inferline_domain_events_sent",
            "Domain events the dispatcher sent and marked sent (acknowledged), by type.",
            ["type"],
            registry=r,
        )
        self.domain_events_failed = Counter(
            "inferline_domain_events_failed",
            "Domain event sends that failed and wait for a retry with backoff, by type.",
            ["type"],
            registry=r,
        )
        self.domain_events_backlog = Gauge(
            "inferline_domain_events_backlog",
            "Domain events in the outbox not sent yet (read by the dispatcher every 5 s).",
            registry=r,
        )
        self.domain_events_lag = Gauge(
            "inferline_domain_events_lag_seconds",
            "Age of the oldest unsent domain event (0 when none waits).",
            registry=r,
        )
        self.domain_events_leader = Gauge(
            "inferline_domain_events_leader",
            "1 while this process's domain event dispatcher holds the lease, else 0.",
            registry=r,
        )
        self.workers_alive = Gauge(
            "inferline_workers_alive",
            "Job workers in this process that are claiming jobs.",
            registry=r,
        )
        self.llm_prompt_tokens = Counter(
            "inferline_llm_prompt_tokens",
            "Prompt tokens (the formatted conversation) read by a served chat model.",
            ["model"],
            registry=r,
        )
        self.llm_tokens_generated = Counter(
            "inferline_llm_tokens_generated",
            "Tokens generated by a served chat model (requests, streams and jobs).",
            ["model"],
            registry=r,
        )
        self.llm_time_to_first_token = Histogram(
            "inferline_llm_time_to_first_token_seconds",
            "From a chat input's acceptance (batcher wait included) to its first generated text.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.llm_tokens_per_second = Histogram(
            "inferline_llm_tokens_per_second",
            "Decode speed of one generation: tokens after the first per second after the first.",
            ["model"],
            buckets=TOKEN_RATE_BUCKETS,
            registry=r,
        )

    def observe_generation(
        self,
        model: str,
        *,
        prompt_tokens: int,
        completion_tokens: int,
        first_token_seconds: float | None,
        decode_seconds: float,
    ) -> None:
        """Count one chat generation's tokens and time it (from the model's thread)."""
        self.llm_prompt_tokens.labels(model).inc(prompt_tokens)
        self.llm_tokens_generated.labels(model).inc(completion_tokens)
        if first_token_seconds is not None:
            self.llm_time_to_first_token.labels(model).observe(first_token_seconds)
        if completion_tokens > 1 and decode_seconds > 0:
            rate = (completion_tokens - 1) / decode_seconds
            self.llm_tokens_per_second.labels(model).observe(rate)

    def samples(self) -> Iterator[Sample]:
        """Every sample of every metric, as a scrape would see them."""
        for family in self.registry.collect():
            for sample in family.samples:
                yield Sample(sample.name, sample.labels, sample.value)

    def sample_value(self, name: str, labels: Mapping[str, str]) -> float | None:
        """One sample's value; None when it has not been recorded."""
        return self.registry.get_sample_value(name, dict(labels))
