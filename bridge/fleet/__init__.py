"""Fleet mode: one command migrates many databases or tenant schemas (see docs/fleet.md)."""
