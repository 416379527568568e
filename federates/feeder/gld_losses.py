"""Feeder losses as GridLAB-D's ``metrics_collector`` defines them: the sum of the links' own ``power_losses``.

Why not "power in minus the billing meters": that difference also holds every load no billing meter measures (TE30's
commercial load at the feeder head: 98.7 of 116.9 kW called "losses") and counts a meter nested under another meter
twice (a meter's measured power includes every meter downstream of it). GridLAB-D's collector on the swing bus
(tape/metrics_collector.cpp, ``read_line`` for a ``swingbus`` parent) instead sums, at each sample, the complex
``power_loss`` of every powerflow link object whose class is exactly one of :data:`LOSS_CLASSES` (overhead,
underground and triplex lines, transformers, regulators, switches, fuses; not reclosers, sectionalizers or series
reactors, whose class names differ), with a negative real part counted as positive. The link property that exposes it
is ``power_losses`` (VA, complex; the bindings answer in polar form, e.g. ``'+292.957+64.0905d VA'``).

One batch read (``get_properties_by_class``) per link class per sample answers for every object of the class.
"""
from __future__ import annotations

from typing import Mapping, Sequence

from vppfed.formats.gld_strings import parse_complex_many

__all__ = ["LOSS_CLASSES", "LOSS_PROPERTY", "loss_classes", "link_losses"]

#: GridLAB-D classes whose ``power_losses`` the swing-bus metrics collector sums (exact class names, its order)
LOSS_CLASSES: tuple[str, ...] = ("overhead_line", "underground_line", "triplex_line", "transformer", "regulator",
                                 "switch", "fuse")
#: the link property holding a link's own losses (VA)
LOSS_PROPERTY = "power_losses"


def loss_classes(links: Mapping[str, Sequence[str]] | None) -> list[str]:
    """The link classes to read for the losses, in :data:`LOSS_CLASSES` order.

    Parameters
    ----------
    links : mapping or None
        GridLAB-D class -> link object names (the feeder inventory's ``links``). Only classes with objects are read;
        an empty or missing mapping (an inventory that predates the field, or a model discovered at run time) reads
        all seven classes: a class without objects answers with nothing in one round trip.
    """
    if not links:
        return list(LOSS_CLASSES)
    return [cls for cls in LOSS_CLASSES if links.get(cls)]


def link_losses(values: Mapping[str, str]) -> complex:
    """Sum of the ``power_losses`` texts of one class's links (VA), each real part counted as positive.

    Parameters
    ----------
    values : mapping
        Object name -> raw GridLAB-D text (``'+35.0658+63.2539d VA'``), as a batch read answers.

    Returns
    -------
    complex
        Real losses [W] + j reactive losses [VAr].
    """
    total = 0j
    for loss in parse_complex_many(values.values()):
        total += complex(abs(loss.real), loss.imag)
    return total
