"""Root-cause analysis of an incident by the chat model (the LLM port), with the past
incidents like it as context.

The model answers one JSON object validated as `RootCause` (`application/llm.py`'s
`complete_json`: JSON mode, the schema in the instructions, one more try when the answer
does not validate). Ids of similar incidents the model was not shown are dropped. The
prompt is bounded (three samples, three past incidents, each clipped) so that it and the
answer fit a 2,048-token context such as SmolLM2-135M's, even with the retry's turn.

Without a chat model (`LLMUnavailable`: none configured, endpoint down, circuit open),
after a timeout, or when no answer validates, the analysis says that it did not run and
why, and still carries the similar incidents: they are useful on their own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from inferline.application.llm import InvalidLLMOutput, complete_json
from inferline.application.resilience import (
    CircuitOpen,
    Resilience,
    Retry,
    describe,
    worth_retrying,
)
from inferline.apps.logs.memory import IncidentDigest, PastIncident, clip
from inferline.domain.errors import InferlineError
from inferline.ports.llm import ChatMessage, ChatModel, LLMUnavailable

Severity = Literal["low", "medium", "high", "critical"]
PROMPT_SAMPLES = 3
PROMPT_SIMILAR = 3
SAMPLE_CHARS = 160
TEMPLATE_CHARS = 240
PAST_TEMPLATE_CHARS = 160
RESOLUTION_CHARS = 240
MAX_ACTIONS = 5
# an answer's shape, not the schema: small models copy a schema back instead of filling it
ANSWER_EXAMPLE = (
    '{"summary": "...", "probable_cause": "...", "severity": "high", '
    '"suggested_actions": ["..."], "similar_incident_ids": ["..."]}'
)


class RootCause(BaseModel):
    """The model's structured answer."""

    summary: str = Field(min_length=1, description="One sentence: what is failing.")
    probable_cause: str = Field(min_length=1, description="The most likely cause.")
    severity: Severity
    suggested_actions: list[str] = Field(
        default_factory=list, description="Concrete steps, most useful first."
    )
    similar_incident_ids: list[str] = Field(
        default_factory=list, description="Ids of the past incidents that share this cause."
    )

    @field_validator("summary", "probable_cause", mode="before")
    @classmethod
    def _clip(cls, value: object) -> object:
        # a small model's long answer is still an answer: cut it rather than refuse it
        return clip(value, 600) if isinstance(value, str) else value

    @field_validator("severity", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("suggested_actions")
    @classmethod
    def _actions(cls, values: list[str]) -> list[str]:
        actions = [clip(v, 200) for v in values if v.strip()]
        return actions[:MAX_ACTIONS]


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome for one incident: the root cause, or why there is none, and the
    similar past incidents either way."""

    incident_id: str
    root_cause: RootCause | None
    similar: list[PastIncident]
    model: str | None
    unavailable: str | None
    seconds: float

    @property
    def analysed(self) -> bool:
        return self.root_cause is not None

    def view(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "analysed": self.analysed,
            "root_cause": self.root_cause.model_dump() if self.root_cause else None,
            "unavailable": self.unavailable,
            "model": self.model,
            "similar": [p.view() for p in self.similar],
            "seconds": round(self.seconds, 3),
        }


def _retry_llm(exc: BaseException) -> bool:
    # a timed-out generation keeps a served model busy: asking again only queues behind it
    return worth_retrying(exc) and not isinstance(exc, TimeoutError)


def build_prompt(digest: IncidentDigest, similar: list[PastIncident]) -> str:
    """The user message: the incident, a few samples, and the similar past incidents."""
    lines = [
        f"Incident {digest.id} in service {clip(digest.service, 80)}: {digest.count} "
        f"{digest.level} logs from {digest.first_seen.isoformat(timespec='seconds')} to "
        f"{digest.last_seen.isoformat(timespec='seconds')}.",
        f"Message pattern (<*> varies): {clip(digest.template, TEMPLATE_CHARS)}",
    ]
    samples = list(digest.samples)[:PROMPT_SAMPLES]
    if samples:
        lines.append("Samples:")
        lines += [f"- {clip(s, SAMPLE_CHARS)}" for s in samples]
    if similar:
        lines.append("Similar past incidents and how they were resolved:")
        for past in similar[:PROMPT_SIMILAR]:
            lines.append(
                f"- id {past.id} ({past.service}): {clip(past.template, PAST_TEMPLATE_CHARS)} "
                f"| resolved by: {clip(past.resolution, RESOLUTION_CHARS)}"
            )
    else:
        lines.append("No similar past incident is known.")
    lines.append(
        "Give the probable root cause, a severity (low, medium, high or critical), up to "
        f"{MAX_ACTIONS} suggested actions, and the ids of the past incidents above that share "
        "the cause (none if no id is listed). Answer as " + ANSWER_EXAMPLE
    )
    return "\n".join(lines)


class RootCauseAnalyst:
    """Asks the chat model for an incident's root cause under a timeout, a breaker and a
    bulkhead (the `logs-llm` policy), and reports when it could not."""

    def __init__(
        self,
        llm: ChatModel,
        *,
        timeout_seconds: float = 60.0,
        max_tokens: int = 220,
        policy: Resilience | None = None,
    ) -> None:
        self.llm = llm
        self.timeout_seconds = timeout_seconds
        self.max_tokens = max_tokens
        self.policy = policy or Resilience.standard(
            "logs-llm", retry=Retry(jitter=0.2, retry_on=_retry_llm)
        )

    async def analyse(self, digest: IncidentDigest, similar: list[PastIncident]) -> Analysis:
        """The root cause of `digest`, or an analysis that says why there is none."""
        started = time.perf_counter()
        shown = similar[:PROMPT_SIMILAR]
        prompt = build_prompt(digest, shown)

        async def ask() -> RootCause | str:
            try:
                return await asyncio.wait_for(
                    complete_json(
                        self.llm,
                        [ChatMessage(role="user", content=prompt)],
                        RootCause,
                        max_tokens=self.max_tokens,
                    ),
                    self.timeout_seconds,
                )
            except InvalidLLMOutput as exc:  # the back-end works; its answers did not
                return f"the LLM's answer was not valid: {exc.message}"

        def done(cause: RootCause | None, problem: str | None) -> Analysis:
            return Analysis(
                digest.id, cause, similar, self.llm.name, problem, time.perf_counter() - started
            )

        try:
            answer = (await self.policy.call(ask)).value
        except (LLMUnavailable, CircuitOpen) as exc:
            reason = str(exc)
            return done(None, reason if reason.startswith("no LLM") else f"no LLM: {reason}")
        except TimeoutError:
            return done(None, f"the LLM did not answer within {self.timeout_seconds:g} s")
        except InferlineError as exc:
            return done(None, f"the LLM failed: {exc.kind.value}: {exc.message}")
        except Exception as exc:
            return done(None, f"the LLM failed: {describe(exc)}")
        if isinstance(answer, str):
            return done(None, answer)
        given = {p.id for p in shown}
        kept = [i for i in dict.fromkeys(answer.similar_incident_ids) if i in given]
        return done(answer.model_copy(update={"similar_incident_ids": kept}), None)
