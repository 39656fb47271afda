"""Request bodies of the recommendation API (source S3)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from inferline.api.schemas import Strict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}$"
Id = Annotated[str, Field(pattern=ID_PATTERN, description="1-128 letters, digits, _ . : @ -")]


class ProductBody(Strict):
    id: Id
    name: str = Field(min_length=1, max_length=500)
    description: str = Field(default="", max_length=5000)
    category: str = Field(min_length=1, max_length=100)
    price: float = Field(ge=0, le=1e9, strict=True)
    tags: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )

    @field_validator("name", "category")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class ProductsBody(Strict):
    """`POST /api/v1/products`: 1 to 1,000 products, inserted or replaced by id."""

    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "products": [
                        {
                            "id": "sku-1",
                            "name": "Trail running shoes",
                            "description": "Light shoes with a grippy sole",
                            "category": "shoes",
                            "price": 89.0,
                            "tags": ["running", "outdoor"],
                        }
                    ]
                }
            ]
        }
    }

    products: list[ProductBody] = Field(min_length=1)


class EventBody(Strict):
    """One behaviour event; `product_id` is required except for `message`."""

    user_id: Id
    type: Literal["view", "like", "cart", "order", "message"]
    product_id: Id | None = None
    at: str | None = Field(
        default=None,
        max_length=40,
        description="When, ISO-8601 (a time without zone is UTC); default: now.",
        json_schema_extra={"format": "date-time"},
    )

    @field_validator("at")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO-8601 time, e.g. 2026-12-03T10:00:00Z") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.isoformat()

    @model_validator(mode="after")
    def _product_for_items(self) -> EventBody:
        if self.type != "message" and self.product_id is None:
            raise ValueError(f"a {self.type} event needs a product_id")
        return self

    def at_seconds(self) -> float | None:
        return None if self.at is None else datetime.fromisoformat(self.at).timestamp()


class ConversationBody(Strict):
    user_id: Id


class MessageBody(Strict):
    content: str = Field(min_length=1, max_length=4000)

    @field_validator("content")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value
