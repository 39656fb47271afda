"""Bodies of the OpenAI-compatible chat API (`POST /v1/chat/completions`).

The request accepts what the official `openai` client sends and ignores the
fields a served model cannot honour (`top_p`, `seed`, `user`, ...); what it
cannot ignore (more than one choice, a JSON schema) is refused by name.
Errors have OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from inferline.ports.chat import (
    MAX_MESSAGES,
    MAX_NEW_TOKENS,
    MAX_STOP_SEQUENCES,
)

DEFAULT_MAX_TOKENS = 512
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default


class TextPart(BaseModel):
    """A text part of a message's content (the only kind a text model reads)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessageIn(BaseModel):
    """One message; `developer` is OpenAI's newer name for `system`."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class ResponseFormat(BaseModel):
    """`json_object` makes the answer one JSON object (constrained sampling)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object"]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request, as far as a served model honours it."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessageIn] = Field(min_length=1, max_length=MAX_MESSAGES)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=MAX_NEW_TOKENS)
    stop: str | Annotated[list[str], Field(max_length=MAX_STOP_SEQUENCES)] | None = Field(
        default=None, description=f"Up to {MAX_STOP_SEQUENCES} sequences that end the answer."
    )
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    n: int | None = Field(default=None, ge=1, le=1, description="Only one choice is generated.")

    def model_input(self) -> dict[str, Any]:
        """The served model's input (`ChatInput`) for this request."""
        stop = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        return {
            "messages": [
                {
                    "role": "system" if message.role == "developer" else message.role,
                    "content": message.text(),
                }
                for message in self.messages
            ],
            "temperature": DEFAULT_TEMPERATURE if self.temperature is None else self.temperature,
            "max_tokens": self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS,
            "stop": stop,
            "json_output": self.response_format is not None
            and self.response_format.type == "json_object",
        }

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletionResponse(BaseModel):
    """OpenAI's `chat.completion` object."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None


class OpenAIError(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, not_found_error, rate_limit_error, ...")
    param: str | None = Field(default=None, description="The request field at fault, if one.")
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """OpenAI's error shape, which its clients read."""

    error: OpenAIError
