"""The bundled sample shop: declared topology, deterministic simulator, expected findings."""

from pathlib import Path

# The shop's declaration; the model and loader that read it live in collectors.topology.
TOPOLOGY_FILE = Path(__file__).with_name("topology.yaml")
