"""Fluent Bit's classic configuration read in Python, for the tests of deploy/fluent-bit.

No Fluent Bit binary installs here, so the tests check its configuration the way Fluent
Bit would use it: `sections` reads the `[SECTION]` / `Key Value` format, `python_regex`
turns an Onigmo regex (Fluent Bit's engine) into Python's (`(?<name>...)` becomes
`(?P<name>...)`, the only difference the parsers use), and `run_filters` applies the
parser and modify filters of fluent-bit.conf to a record as Fluent Bit applies them, in
order: the parser filter's first matching parser wins, a modify filter adds its keys when
all its conditions hold."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_NAMED_GROUP = re.compile(r"\(\?<(?=[A-Za-z_])")


@dataclass
class Section:
    """One `[NAME]` section: its entries in order (keys repeat: `Parser`, `Condition`)."""

    name: str
    entries: list[tuple[str, str]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        values = self.all(key)
        return values[0] if values else None

    def all(self, key: str) -> list[str]:
        return [value for name, value in self.entries if name.lower() == key.lower()]


def sections(path: Path) -> list[Section]:
    """The sections of a classic Fluent Bit file; comments and blank lines skipped."""
    found: list[Section] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            found.append(Section(line[1:-1]))
            continue
        assert found, f"{path}: an entry before any section: {raw}"
        key, _, value = line.partition(" ")
        found[-1].entries.append((key, value.strip()))
    return found


def python_regex(onigmo: str) -> re.Pattern[str]:
    """An Onigmo regex as Python's: named groups `(?<name>` become `(?P<name>`."""
    return re.compile(_NAMED_GROUP.sub("(?P<", onigmo))


@dataclass(frozen=True)
class Parser:
    """A `[PARSER]` of parsers.conf with its regex compiled for Python."""

    name: str
    regex: re.Pattern[str]
    time_key: str | None
    time_format: str | None

    def parse(self, line: str) -> dict[str, Any] | None:
        """The record Fluent Bit makes of `line` (unmatched optional groups are absent),
        the time key taken out as the event time; None when the regex does not match."""
        match = self.regex.match(line)
        if match is None:
            return None
        record: dict[str, Any] = {k: v for k, v in match.groupdict().items() if v is not None}
        if self.time_key and self.time_key in record:
            record["__event_time"] = self.event_time(record.pop(self.time_key))
        return record

    def event_time(self, text: str) -> datetime:
        """`text` read with Time_Format (Fluent Bit's %L, fractional seconds, is %f)."""
        assert self.time_format is not None, f"{self.name}: Time_Key without Time_Format"
        return datetime.strptime(text, self.time_format.replace("%L", "%f"))


def parsers(path: Path) -> dict[str, Parser]:
    found: dict[str, Parser] = {}
    for section in sections(path):
        assert section.name == "PARSER", f"{path}: unexpected section [{section.name}]"
        name, regex = section.get("Name"), section.get("Regex")
        assert name and regex and section.get("Format") == "regex", section
        found[name] = Parser(
            name, python_regex(regex), section.get("Time_Key"), section.get("Time_Format")
        )
    return found


def _holds(condition: str, record: dict[str, Any]) -> bool:
    kind, _, rest = condition.partition(" ")
    key, _, argument = rest.strip().partition(" ")
    if kind == "Key_exists":
        return key in record
    if kind == "Key_does_not_exist":
        return key not in record
    if kind == "Key_value_matches":
        return key in record and python_regex(argument.strip()).search(str(record[key])) is not None
    raise AssertionError(f"a modify condition the tests do not know: {condition}")


def run_filters(
    config: list[Section], available: dict[str, Parser], record: dict[str, Any]
) -> dict[str, Any]:
    """`record` (after the kubernetes filter) through the parser and modify filters."""
    result = dict(record)
    for section in config:
        if section.name != "FILTER":
            continue
        kind = section.get("Name")
        if kind == "parser":
            key = section.get("Key_Name") or "log"
            if key not in result:
                continue
            for name in section.all("Parser"):
                parsed = available[name].parse(str(result[key]))
                if parsed is not None:
                    kept = {k: v for k, v in result.items() if k != key}
                    if section.get("Reserve_Data") != "On":
                        kept = {}
                    result = {**kept, **parsed}
                    break
        elif kind == "modify" and all(_holds(c, result) for c in section.all("Condition")):
            for added in section.all("Add"):
                name, _, value = added.partition(" ")
                result.setdefault(name, value.strip())
    return result
