"""The declared topology: its model, its YAML loader and its loading into the store."""

from collectors.topology.model import (
    DEFAULT_LIMITS,
    Endpoint,
    Group,
    Service,
    SyncEdge,
    Topic,
    Topology,
    load_into_store,
    load_topology,
    parse_topology,
)

__all__ = ["DEFAULT_LIMITS", "Endpoint", "Group", "Service", "SyncEdge", "Topic", "Topology", "load_into_store",
           "load_topology", "parse_topology"]
