"""Where MiniLM's time goes, stage by stage, beside sentence-transformers (in-process).

Times each step of `MiniLM.predict_batch` on N texts (best of 3 after a warm-up):
tokenising, packing, the encoder at several rows per pass, pooling (NumPy, and on the
device), the output objects, and predict_batch whole; then sentence-transformers'
tokenising and encode. On a GPU the numbers say whether the GPU or the Python around
it sets the pace (benchmarks/README.md, "MiniLM on a GPU").

    python benchmarks/embedding_stages.py cuda 16384
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import torch
from embeddings import sentences

from inferline.models.minilm import MiniLM, model_dir
from inferline.models.packing import mean_pool, pack
from inferline.models.text_encoders import TorchEncoder
from inferline.ports.embedding import EmbeddingOutput, TextInput


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cuda"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
    texts = sentences(count)

    def timed(label: str, work: Callable[[], Any]) -> Any:
        result = work()  # warm-up
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            result = work()
            if device == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - started)
        print(f"{label:<56} {best * 1000:9.1f} ms {count / best:10.0f} texts/s", flush=True)
        return result

    started = time.perf_counter()
    sum(range(10**7))
    print(f"python loop 1e7: {(time.perf_counter() - started) * 1000:.0f} ms")
    model = MiniLM(device="cuda" if device == "cuda" else "cpu")
    model.load()
    model.warmup()
    encoder, tokenizer = model._encoder, model._tokenizer
    assert isinstance(encoder, TorchEncoder) and tokenizer is not None
    encodings = timed("tokenize (encode_batch)", lambda: tokenizer.encode_batch(texts))
    packed = timed("pack", lambda: pack([e.ids for e in encodings], model.pack_width))
    rows = len(packed.input_ids)
    hidden: list[Any] = []
    for per_pass in (256, 1024, 4096):

        def encode(per_pass: int = per_pass) -> list[Any]:
            return [
                (part, encoder.encode_packed(part))
                for part in (packed.rows(s, s + per_pass) for s in range(0, rows, per_pass))
            ]

        hidden = timed(f"encode_packed rows/pass {per_pass} ({rows} rows)", encode)
    timed(
        "mean_pool (NumPy, of those hidden states)",
        lambda: [mean_pool(h, p.spans) for p, h in hidden],
    )
    timed(
        "mean_states (encode + pool on the device) rows/pass 1024",
        lambda: [encoder.mean_states(packed.rows(s, s + 1024)) for s in range(0, rows, 1024)],
    )
    vectors = np.random.default_rng(0).standard_normal((count, 384)).astype(np.float32)
    timed(
        "EmbeddingOutput + model_dump",
        lambda: [
            EmbeddingOutput(embedding=v.tolist(), dim=384, tokens=20, truncated=False).model_dump(
                mode="json"
            )
            for v in vectors
        ],
    )
    for size in (512, 2048):
        timed(
            f"predict_batch whole, chunks of {size}",
            partial(
                lambda size: [
                    model.predict_batch([TextInput(text=t) for t in texts[i : i + size]])
                    for i in range(0, count, size)
                ],
                size,
            ),
        )
    from sentence_transformers import SentenceTransformer

    dtype = torch.float16 if device == "cuda" else torch.float32
    st = SentenceTransformer(str(model_dir()), device=device, model_kwargs={"dtype": dtype})
    for size in (256, 1024):
        timed(
            f"ST tokenize bs {size}",
            partial(
                lambda size: [st.tokenize(texts[i : i + size]) for i in range(0, count, size)], size
            ),
        )
        timed(f"ST encode bs {size}", partial(st.encode, texts, batch_size=size))


if __name__ == "__main__":
    main()
