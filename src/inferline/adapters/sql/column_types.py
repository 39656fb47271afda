"""Column types every store table uses, the same on SQLite, PostgreSQL and MySQL/MariaDB.

Times are UNIX seconds in double precision everywhere (a MySQL FLOAT is single
precision: seconds would be off by minutes). Bytes are a BLOB on SQLite and PostgreSQL
and base64 in a MEDIUMTEXT on MySQL/MariaDB, whose async driver (aiomysql) fails to
bind a bytes parameter.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import JSON, BigInteger, Double, Integer, LargeBinary, Text, TypeDecorator
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

JsonType = JSON().with_variant(JSONB(), "postgresql")
SeqType = BigInteger().with_variant(Integer(), "sqlite")
TimeType: Double[float] = Double(asdecimal=False)
LongText = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")

MYSQL = ("mysql", "mariadb")


class BlobType(TypeDecorator[bytes]):
    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name in MYSQL:
            return dialect.type_descriptor(MEDIUMTEXT())
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> Any:
        if value is not None and dialect.name in MYSQL:
            return base64.b64encode(value).decode("ascii")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is not None and dialect.name in MYSQL:
            return base64.b64decode(value)
        return None if value is None else bytes(value)
