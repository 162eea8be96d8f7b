"""The store: one DuckDB database, its schema, and the only code that writes to it."""

from collectors.store.db import Store, open_store
from collectors.store.migrate import MIGRATIONS, schema_version

__all__ = ["MIGRATIONS", "Store", "open_store", "schema_version"]
