"""The Open Inference Protocol (KServe v2) against the official Triton client, unmodified.

Every built-in model with a tensor form is called with `tritonclient.http`, its
outputs compared with what the same server's own API answers for the same input;
binary and JSON tensors both ways; errors in the protocol's shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from inferline.testing.server import ServerProcess, http_server, sqlite_url

MODELS = "minilm,moving-average,lstm-forecast,smollm2"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("kserve")
    process = http_server(
        "serve", sqlite_url(folder / "inferline.db"), folder / "server.log", models=MODELS
    )
    process.start().wait_ready(timeout=110)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server: ServerProcess) -> Iterator[triton.InferenceServerClient]:
    url = server.url.removeprefix("http://")
    with triton.InferenceServerClient(url, network_timeout=60.0) as grpc_free_client:
        yield grpc_free_client


@pytest.fixture(scope="module")
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as session:
        yield session


def test_server_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "inferline"
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_metadata_comes_from_the_schemas(client: triton.InferenceServerClient) -> None:
    minilm = client.get_model_metadata("minilm")
    assert minilm["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    outputs = {o["name"]: o for o in minilm["outputs"]}
    assert outputs["embedding"] == {"name": "embedding", "datatype": "FP32", "shape": [-1, -1]}
    assert outputs["tokens"]["datatype"] == "INT64"
    assert outputs["truncated"]["datatype"] == "BOOL"
    average = client.get_model_metadata("moving-average", model_version="1")
    assert {i["name"]: i["datatype"] for i in average["inputs"]} == {
        "series": "FP64",
        "window": "INT64",
    }
    assert client.is_model_ready("minilm")
    assert client.is_model_ready("lstm-forecast", model_version="1")


def test_minilm_embeddings_match_the_native_route(
    client: triton.InferenceServerClient, http: httpx.Client
) -> None:
    texts = ["the cat sat on the mat", "a quarterly earnings report", "ünïcödé text"]
    for binary in (True, False):
        tensor = triton.InferInput("text", [len(texts)], "BYTES")
        tensor.set_data_from_numpy(np.array(texts, dtype=object), binary_data=binary)
        result = client.infer(
            "minilm",
            [tensor],
            outputs=[
                triton.InferRequestedOutput("embedding", binary_data=binary),
                triton.InferRequestedOutput("tokens", binary_data=binary),
            ],
        )
        embeddings = result.as_numpy("embedding")
        assert embeddings is not None
        assert embeddings.shape == (3, 384)
        assert embeddings.dtype == np.float32
        tokens = result.as_numpy("tokens")
        assert tokens is not None and tokens.dtype == np.int64 and (tokens > 2).all()
        assert result.as_numpy("truncated") is None  # not asked for
        native = http.post("/batch-embed", json={"texts": texts}).json()
        expected = np.asarray(native["embeddings"])
        np.testing.assert_allclose(embeddings, expected, atol=1e-5)


def test_forecasters_match_the_native_route(
    client: triton.InferenceServerClient, http: httpx.Client
) -> None:
    series = np.array([[1.0, 2.0, 4.0, 8.0, 16.0], [3.0, 3.5, 4.0, 4.5, 5.0]])
    window = np.array([[2], [3]], dtype=np.int64)  # [batch, 1] is accepted for a scalar
    inputs = [triton.InferInput("series", list(series.shape), "FP64")]
    inputs[0].set_data_from_numpy(series)
    inputs.append(triton.InferInput("window", list(window.shape), "INT64"))
    inputs[1].set_data_from_numpy(window, binary_data=False)
    with pytest.raises(InferenceServerException, match="rows of different lengths"):
        client.infer("moving-average", inputs)  # `smoothed` is 4 values, then 3
    result = client.infer(
        "moving-average", inputs, outputs=[triton.InferRequestedOutput("forecast")]
    )
    forecast = result.as_numpy("forecast")
    assert forecast is not None
    assert forecast.tolist() == [12.0, 4.5]  # mean of the last 2 and the last 3 values

    horizon = triton.InferInput("horizon", [2], "INT32")  # a narrower integer widens
    horizon.set_data_from_numpy(np.array([3, 3], dtype=np.int32))
    values = triton.InferInput("series", list(series.shape), "FP32")
    values.set_data_from_numpy(series.astype(np.float32))
    lstm = client.infer("lstm-forecast", [values, horizon], model_version="1")
    predicted = lstm.as_numpy("forecast")
    assert predicted is not None and predicted.shape == (2, 3)
    for row, expected_series in enumerate(series):
        native = http.post(
            "/api/v1/models/lstm-forecast/infer",
            json={"input": {"series": expected_series.tolist(), "horizon": 3}},
        ).json()
        np.testing.assert_allclose(predicted[row], native["output"]["forecast"], rtol=1e-6)


def test_errors_speak_the_protocol(
    client: triton.InferenceServerClient, http: httpx.Client
) -> None:
    with pytest.raises(InferenceServerException, match="no tensor form"):
        client.get_model_metadata("smollm2")
    with pytest.raises(InferenceServerException, match="no version '7'"):
        client.get_model_metadata("minilm", model_version="7")
    wrong_type = triton.InferInput("text", [1], "FP32")
    wrong_type.set_data_from_numpy(np.array([1.0], dtype=np.float32))
    with pytest.raises(InferenceServerException, match="must be BYTES, not FP32"):
        client.infer("minilm", [wrong_type])
    too_long = triton.InferInput("series", [1, 2], "FP64")
    too_long.set_data_from_numpy(np.array([[1.0, 2.0]]))
    window = triton.InferInput("window", [1], "INT64")
    window.set_data_from_numpy(np.array([5], dtype=np.int64))
    with pytest.raises(InferenceServerException, match="larger than the series"):
        client.infer("moving-average", [too_long, window])

    cases = [
        ({"inputs": []}, "non-empty list"),
        (
            {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]},
            "1 values",
        ),
        (
            {"inputs": [{"name": "txt", "datatype": "BYTES", "shape": [1], "data": ["a"]}]},
            "unknown input",
        ),
        (
            {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [" "]}]},
            "must not be empty",
        ),
    ]
    for body, message in cases:
        answer = http.post("/v2/models/minilm/infer", content=json.dumps(body))
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["error"]
    cut = http.post(
        "/v2/models/minilm/infer",
        content=b'{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],'
        b'"parameters":{"binary_data_size":9}}]}\x05\x00\x00\x00ab',
        headers={"Inference-Header-Content-Length": "95"},
    )
    assert cut.status_code == 400
    unknown = http.post("/v2/models/nope/infer", content=b"{}")
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]
