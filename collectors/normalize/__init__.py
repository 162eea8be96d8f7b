"""Pure decoding: wire formats in, store rows out. The only code that knows wire formats."""
