"""Log templates mined with Drain: the eight synthetic templates are each found once with
their variable parts masked, per tenant, and a miner restored from its stored state keeps
its template ids."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

import pytest

from inferline.apps.logs.templates import TemplateMiners, TenantMiner

EXPECTED: dict[str, Callable[[random.Random], str]] = {
    "user <NUM> logged in from <IP>": lambda r: (
        f"user {r.randint(1, 99999)} logged in from 10.{r.randint(0, 255)}.{r.randint(0, 255)}.7"
    ),
    "payment <UUID> failed: card declined": lambda r: (
        f"payment {uuid.UUID(int=r.getrandbits(128))} failed: card declined"
    ),
    "GET /api/orders/<NUM> returned <NUM> in <DURATION>": lambda r: (
        f"GET /api/orders/{r.randint(1, 10**6)} returned {r.choice([200, 404, 500])} "
        f"in {r.randint(1, 900)}ms"
    ),
    "cache miss for key <HEX>": lambda r: f"cache miss for key {r.getrandbits(64):016x}",
    "request <ID> exceeded the rate limit of tenant <ID>": lambda r: (
        f"request req-{r.randint(1000, 9999)}ab exceeded the rate limit of tenant "
        f"t_{r.randint(1, 50)}"
    ),
    "worker <NUM> processed <NUM> jobs in <DURATION>": lambda r: (
        f"worker {r.randint(1, 16)} processed {r.randint(0, 500)} jobs in {r.random() * 9:.2f}s"
    ),
    "segfault at address <HEX> in module libfoo": lambda r: (
        f"segfault at address 0x{r.getrandbits(32):x} in module libfoo"
    ),
    "disk usage at <NUM> percent on volume data": lambda r: (
        f"disk usage at {r.randint(50, 99)} percent on volume data"
    ),
}


def synthetic(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """(expected template, line) pairs, the templates interleaved."""
    rng = random.Random(seed)
    pairs = [(template, make(rng)) for template, make in EXPECTED.items() for _ in range(count)]
    rng.shuffle(pairs)
    return pairs


def test_the_eight_synthetic_templates_are_each_found_with_their_parameters_masked() -> None:
    miner = TenantMiner(TemplateMiners().config)
    ids: dict[str, set[int]] = {}
    for template, line in synthetic(60):
        mined = miner.mine(line, with_parameters=False)
        ids.setdefault(template, set()).add(mined.template_id)
    assert miner.template_count() == 8
    for template, found in ids.items():
        assert len(found) == 1, template
        assert miner.template(found.pop()) == template


def test_parameters_are_the_masked_values_in_order() -> None:
    miner = TenantMiner(TemplateMiners().config)
    miner.mine("user 1 logged in from 10.0.0.1", with_parameters=False)
    mined = miner.mine("user 42 logged in from 10.0.0.7", with_parameters=True)
    assert mined.text == "user <NUM> logged in from <IP>"
    assert mined.parameters == (("NUM", "42"), ("IP", "10.0.0.7"))


def test_tenants_have_their_own_template_ids() -> None:
    miners = TemplateMiners()
    a = miners.miner("a").mine("disk usage at 80 percent on volume data", False)
    miners.miner("b").mine("worker 1 processed 3 jobs in 2s", False)
    b = miners.miner("b").mine("disk usage at 80 percent on volume data", False)
    assert (a.template_id, b.template_id) == (1, 2)
    assert miners.template_count() == 3


def test_a_restored_miner_keeps_its_ids_and_numbers_new_templates_after_them() -> None:
    miners = TemplateMiners()
    first = {t: miners.miner("acme").mine(line, False).template_id for t, line in synthetic(5)}
    states = miners.snapshots()
    assert set(states) == {"acme"}
    miners.stored(["acme"])
    assert miners.snapshots() == {}  # unchanged since stored

    restarted = TemplateMiners()
    restarted.restore(states)
    again = {
        t: restarted.miner("acme").mine(line, False).template_id for t, line in synthetic(3, 9)
    }
    assert again == first
    new = restarted.miner("acme").mine("shutting down the scheduler now", False)
    assert new.template_id == 9


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        ("took 12ms", "took <DURATION>"),
        ("took 1.5s", "took <DURATION>"),
        ("from 192.168.1.20:8080", "from <IP>"),
        ("id 0xdeadBEEF", "id <HEX>"),
        ("sha 3f9a2b4c5d6e7f80", "sha <HEX>"),
        ("trace 6f1c1c2e-4b1a-4c1e-9b1a-1c2e4b1a4c1e", "trace <UUID>"),
        ("job job_123 done", "job <ID> done"),
        ("retry -3 of 4.5", "retry <NUM> of <NUM>"),
        ("version v2 and http2 stay", "version v2 and http2 stay"),
    ],
)
def test_masks(line: str, masked: str) -> None:
    miner = TenantMiner(TemplateMiners().config)
    assert miner.mask(line) == masked
