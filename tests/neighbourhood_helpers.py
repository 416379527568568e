"""Shared helpers of the neighbourhood tests: a small generated neighbourhood (fast to negotiate)."""
from __future__ import annotations

from pathlib import Path

from vppfed.configs.neighbourhood_input import ApplianceSpec, NeighbourhoodSpec, generate_neighbourhood
from vppfed.federates.neighbourhood.inputs import load_neighbourhood
from vppfed.federates.neighbourhood.model import Neighbourhood

SMALL_SPEC = NeighbourhoodSpec(
    name="small", seed=11, houses=4, pv_share=0.5, earliest_h=[7.0, 15.0],
    appliances=[ApplianceSpec("washing_machine", [600.0, 1200.0], [45, 90], [2.0, 6.0], 1.5),
                ApplianceSpec("dishwasher", [800.0, 1400.0], [60, 120], [2.0, 6.0], 1.0)])


def small_neighbourhood_in(folder: Path) -> Neighbourhood:
    """Generate :data:`SMALL_SPEC` into ``folder`` and load it."""
    generate_neighbourhood(SMALL_SPEC, folder)
    return load_neighbourhood(folder)
