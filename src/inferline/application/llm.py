"""Structured answers from whichever chat model backs the features (the LLM port).

`complete_json` asks for one JSON object matching a Pydantic model (JSON mode,
and the model's JSON schema in the instructions), parses the answer into that
model, and when it does not parse or validate, asks once more, showing the
model its answer and what was wrong. A second bad answer raises
`InvalidLLMOutput` with the reason and the answer. `LLMUnavailable` (no model
configured, endpoint down, circuit open) passes through: features catch it and
say in their answer that the LLM part is missing.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from inferline.core.validation import field_problems, problems_summary
from inferline.domain.errors import ModelError
from inferline.ports.llm import ChatMessage, ChatModel, ChatRequest

T = TypeVar("T", bound=BaseModel)

JSON_ATTEMPTS = 2


class InvalidLLMOutput(ModelError):
    """The chat model did not answer the JSON asked for, even when asked again."""

    def __init__(self, message: str, *, content: str) -> None:
        super().__init__(message, details={"content": content[:2000]})
        self.content = content


def json_instructions(schema: type[BaseModel]) -> str:
    """The system message that asks for one JSON object of `schema`."""
    return (
        "Answer with one JSON object and nothing else. It must match this JSON schema: "
        + json.dumps(schema.model_json_schema(), separators=(",", ":"))
    )


async def complete_json(
    llm: ChatModel,
    messages: list[ChatMessage],
    schema: type[T],
    *,
    max_tokens: int = 256,
    temperature: float = 0.0,
) -> T:
    """The answer to `messages` as a `schema` instance; one retry on invalid JSON."""
    conversation = [ChatMessage(role="system", content=json_instructions(schema)), *messages]
    problem = ""
    content = ""
    for attempt in range(JSON_ATTEMPTS):
        if attempt:
            conversation += [
                ChatMessage(role="assistant", content=content),
                ChatMessage(
                    role="user",
                    content=f"That answer is not valid: {problem}. Answer again with one "
                    "JSON object only, matching the schema.",
                ),
            ]
        completion = await llm.complete(
            ChatRequest(
                messages=conversation,
                temperature=temperature,
                max_tokens=max_tokens,
                json_output=True,
            )
        )
        content = completion.content
        try:
            return schema.model_validate_json(content)
        except ValidationError as exc:
            problem = problems_summary(field_problems(exc.errors(include_url=False)))
    raise InvalidLLMOutput(
        f"{llm.name} did not answer a valid {schema.__name__} in {JSON_ATTEMPTS} tries: {problem}",
        content=content,
    )
