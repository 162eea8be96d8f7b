"""One module per rule, each with one registry.register(Rule(...)) (docs/architecture.md#adding-a-rule)."""
