"""Federates: pure algorithm cores (no HELICS import) and thin HELICS adapters on one shared runtime."""
