"""The cache keys of source S3 (`rec:user:{id}`, `rec:popular:category:{c}`, `rec:trending`,
`rec:similar:{productId}`, `user:preference:{id}`), each under the tenant."""

from __future__ import annotations

ALL = "_all"


def user_recommendations(tenant: str, user_id: str) -> str:
    return f"{tenant}:rec:user:{user_id}"


def popular(tenant: str, category: str | None) -> str:
    return f"{tenant}:rec:popular:category:{category or ALL}"


def trending(tenant: str) -> str:
    return f"{tenant}:rec:trending"


def similar(tenant: str, product_id: str) -> str:
    return f"{tenant}:rec:similar:{product_id}"


def user_preference(tenant: str, user_id: str) -> str:
    return f"{tenant}:user:preference:{user_id}"
