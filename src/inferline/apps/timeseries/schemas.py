"""Source S2's request body: a series to forecast or smooth, as a job."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from inferline.api.schemas import MAX_METADATA_KEYS, Strict


class S2SubmitRequest(Strict):
    """Source S2's `POST /api/v1/inference/submit`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "model_name": "lstm_timeseries",
                    "data": [1.0, 3.0, 5.0, 3.0, 1.0, 3.0, 5.0, 3.0],
                    "parameters": {"horizon": 4},
                }
            ]
        }
    )

    model_name: str = Field(min_length=1, max_length=128)
    data: list[float] = Field(min_length=1)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)
    parameters: dict[str, Any] = Field(
        default_factory=dict, description='Extra model inputs, e.g. {"window": 5}.'
    )
