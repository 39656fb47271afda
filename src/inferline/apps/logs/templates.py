"""Log templates mined with Drain (the `drain3` package): one miner per tenant, so template
ids are a tenant's own and one tenant's logs never reshape another's templates.

Variable parts are masked before Drain sees a line, most specific first (UUIDs before hex
strings before numbers), so `user 42 took 13ms from 10.0.0.7` and `user 7 took 2s from
10.0.0.9` are one template: `user <NUM> took <DURATION> from <IP>`. Tokens Drain finds
varying on its own become `<*>`.

Persistence: the template id is Drain's cluster id, stable only if the miner keeps its
tree. Rebuilding the tree from stored template texts would renumber the clusters, so each
tenant's Drain state (drain3's own snapshot, through its `PersistenceHandler`) is stored
with the batch that changed it, in the batch's transaction; a restart loads it and goes on
numbering where it stopped. Drain3 snapshots after every changed cluster by default (the
whole tree each time); here it snapshots once per batch instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.persistence_handler import PersistenceHandler
from drain3.template_miner_config import TemplateMinerConfig

# drain3 logs every snapshot at INFO (here: every batch that mined a new template).
logging.getLogger("drain3").setLevel(logging.WARNING)

# (pattern, mask), applied in this order: a UUID contains hex and numbers, an IP numbers.
MASKS: tuple[tuple[str, str], ...] = (
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "UUID"),
    (r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?![\w.])", "IP"),
    (r"(?<![\w-])0x[0-9a-fA-F]+\b", "HEX"),
    (r"(?<![\w-])(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{8,}(?![\w-])", "HEX"),
    (r"(?<![\w.])\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h)(?!\w)", "DURATION"),
    (r"(?<![\w-])[A-Za-z][A-Za-z]*[-_#:][\w-]*\d[\w-]*(?![\w-])", "ID"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?!\w|\.\d)", "NUM"),
)


@dataclass(frozen=True, slots=True)
class MinerConfig:
    """Drain's knobs: `depth` of the prefix tree (tokens it routes on, plus two),
    `similarity` a line needs to join a template, `max_templates` per tenant (the least
    recently seen ones are forgotten past it)."""

    depth: int = 4
    similarity: float = 0.4
    max_children: int = 100
    max_templates: int = 5000


@dataclass(frozen=True, slots=True)
class Mined:
    """One line's template: its id and, when asked for its parameters, the template's
    text when the line was mined and the line's values of its parameters as (mask,
    value) pairs."""

    template_id: int
    text: str | None
    parameters: tuple[tuple[str, str], ...] | None


class _StateInMemory(PersistenceHandler):  # type: ignore[misc]
    """Hands a stored snapshot to the miner at construction and keeps the latest one."""

    def __init__(self, state: bytes | None) -> None:
        self.state = state

    def save_state(self, state: bytes) -> None:
        self.state = state

    def load_state(self) -> bytes | None:
        return self.state


class _BatchSnapshotMiner(TemplateMiner):  # type: ignore[misc]
    """A TemplateMiner that snapshots when told (once per batch), not on every change."""

    def get_snapshot_reason(self, change_type: str, cluster_id: int) -> str | None:
        return None


def _drain_config(config: MinerConfig) -> TemplateMinerConfig:
    drain = TemplateMinerConfig()
    drain.drain_depth = config.depth
    drain.drain_sim_th = config.similarity
    drain.drain_max_children = config.max_children
    drain.drain_max_clusters = config.max_templates
    drain.masking_instructions = [MaskingInstruction(p, mask) for p, mask in MASKS]
    drain.snapshot_compress_state = True
    drain.parametrize_numeric_tokens = True
    return drain


class TenantMiner:
    """One tenant's Drain miner and whether it changed since its last snapshot."""

    def __init__(self, config: MinerConfig, state: bytes | None = None) -> None:
        self._state = _StateInMemory(state)
        self._miner = _BatchSnapshotMiner(self._state, _drain_config(config))
        self.changed = False

    def mine(self, message: str, with_parameters: bool) -> Mined:
        """The line's template. Calls Drain under TemplateMiner's own `add_log_message`
        (masking, then Drain), which also renders the template's text and a result
        dict for every line: here the text is rendered only for lines that need their
        parameters (errors); `template` gives it for the rest once per batch."""
        cluster, change = self._miner.drain.add_log_message(self._miner.masker.mask(message))
        if change != "none":
            self.changed = True
        if not with_parameters:
            return Mined(int(cluster.cluster_id), None, None)
        text: str = cluster.get_template()
        found = self._miner.extract_parameters(text, message, exact_matching=True) or []
        parameters = tuple((p.mask_name, p.value) for p in found)
        return Mined(int(cluster.cluster_id), text, parameters)

    def mask(self, message: str) -> str:
        """The line with its variable parts masked, as Drain sees it."""
        masked: str = self._miner.masker.mask(message)
        return masked

    def template(self, template_id: int) -> str | None:
        """The template's text now (Drain generalises a template as lines join it)."""
        cluster = self._miner.drain.id_to_cluster.get(template_id)
        return None if cluster is None else str(cluster.get_template())

    def template_count(self) -> int:
        return len(self._miner.drain.clusters)

    def snapshot(self) -> bytes:
        """Drain3's compressed state of this miner, for `TenantMiner(config, state)`."""
        self._miner.save_state("batch")
        state = self._state.state
        assert state is not None
        return state


class TemplateMiners:
    """Every tenant's miner. Not thread-safe: one batch at a time (the processor's)."""

    def __init__(self, config: MinerConfig | None = None) -> None:
        self.config = config or MinerConfig()
        self._miners: dict[str, TenantMiner] = {}

    def restore(self, states: dict[str, bytes]) -> None:
        """Load stored snapshots (at start, before mining)."""
        for tenant, state in states.items():
            self._miners[tenant] = TenantMiner(self.config, state)

    def miner(self, tenant: str) -> TenantMiner:
        found = self._miners.get(tenant)
        if found is None:
            found = self._miners[tenant] = TenantMiner(self.config)
        return found

    def template_count(self) -> int:
        return sum(m.template_count() for m in self._miners.values())

    def snapshots(self) -> dict[str, bytes]:
        """The state of each miner changed since its state was last stored."""
        return {t: m.snapshot() for t, m in self._miners.items() if m.changed}

    def stored(self, tenants: list[str]) -> None:
        """These tenants' snapshots are stored: they are unchanged until they mine a new
        template (a failed store keeps them changed, so the next batch stores them)."""
        for tenant in tenants:
            self._miners[tenant].changed = False
