"""The bundled sample shop: declared topology, deterministic simulator, expected findings."""
