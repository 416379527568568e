"""Readers of run outputs (TESP metrics layout, JSON and HDF5) and publication-quality figures."""
