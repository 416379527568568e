"""Which billing meter sits downstream of which: GridLAB-D's measured power of a meter includes its nested meters.

Measured with the PyPI GridLAB-D (6.0.0): a triplex meter ``tm_outer`` with 3 kW of its own load and a child meter
``tm_inner`` (``parent tm_outer``) with 5 kW reads ``measured_real_power`` 8 kW; a triplex meter upstream of it
through a triplex line reads 8.04 kW (the line's losses added). So a sum over every billing meter counts a nested
meter twice (TESP's TE_Challenge, whose flat-rate meters parent its real-time meters: -24.3 kW of "losses" when the
losses were computed as head power minus that sum). The metrics keep each meter's row as GridLAB-D measures it and take
the losses from the links (:mod:`~vppfed.federates.feeder.gld_losses`); this map, computed once at configuration time
where the whole model is known, tells readers which meters to leave out of a sum: the bindings cannot read ``parent``
at run time (``get_property(obj, "parent")`` answers code 3), the checkpoint JSON of a loaded model can.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

import networkx as nx

__all__ = ["upstream_billing_meters"]


def upstream_billing_meters(objects: Mapping[str, Mapping[str, Any]], billing_meters: Iterable[str],
                            head: str) -> dict[str, str]:
    """For each billing meter nested below another one, the nearest billing meter upstream of it.

    Parameters
    ----------
    objects : mapping
        Object name -> ``{"class": ..., "parent": ..., "from": ..., "to": ..., ...}`` (properties as text), as
        discovery from the checkpoint JSON or :func:`vppfed.configs.vpp_devices.read_glm_objects` gives them.
        ``parent`` links and link ``from``/``to`` pairs make the feeder graph.
    billing_meters : iterable of str
        Names of the billing meters.
    head : str
        The feeder head (substation or SWING node): "upstream" means towards it. Link orientation in a GLM is not
        relied on (a link may be written ``to`` the head).

    Returns
    -------
    dict
        ``{nested meter: nearest upstream billing meter}``; meters with no billing meter between them and the head
        (or not connected to it) are absent. Sorted by meter name (deterministic files).
    """
    graph = nx.Graph()
    for name, obj in objects.items():
        parent = obj.get("parent")
        if parent:
            graph.add_edge(str(parent), str(name))
        src, dst = obj.get("from"), obj.get("to")
        if src and dst:
            graph.add_edge(str(src), str(dst))
    if head not in graph:
        return {}
    towards_head = dict(nx.bfs_predecessors(graph, head))
    meters = set(billing_meters)
    out: dict[str, str] = {}
    for meter in sorted(meters):
        node = towards_head.get(meter)
        while node is not None and node not in meters:
            node = towards_head.get(node)
        if node is not None:
            out[meter] = node
    return out
