"""Find the objects a feeder federate reads in any loaded model (ours or a user's GLM).

The case builder writes ``<root>_inventory.json`` (generated feeders: by the generator; ``feeder.glm``: by
:mod:`vppfed.configs.glm_discovery` at configuration time). For a model run without one, the same discovery runs on the
loaded model: its checkpoint JSON gives every object with class, ``parent`` and ``from``/``to`` (the bindings'
``get_property`` cannot read ``parent``), so the inventory has the same device -> house links, billing-meter nesting
and feeder head (``substation`` object or SWING node) as one written at configuration time.
"""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from vppfed.federates.feeder.inventory import FeederInventory
from vppfed.federates.feeder.session import GridlabdError, GridlabdSession

log = logging.getLogger(__name__)

__all__ = ["discover_inventory", "load_inventory"]


def discover_inventory(session: GridlabdSession) -> FeederInventory:
    """The inventory of the loaded model (:func:`vppfed.federates.feeder.inventory.inventory_from_objects`)."""
    from vppfed.federates.feeder.inventory import inventory_from_objects, objects_from_checkpoint
    from vppfed.errors import UserError

    session._require_open()
    with tempfile.TemporaryDirectory(prefix="vppfed_ckpt_") as scratch:
        # a path of ours: the default writes _checkpoint.json into the run folder
        text = session._gld.get_checkpoint_json(str(Path(scratch) / "checkpoint.json"))
    try:
        return inventory_from_objects(objects_from_checkpoint(json.loads(text)), session.glm.name)
    except UserError as exc:
        raise GridlabdError(str(exc)) from None


def load_inventory(path: str | Path | None, session: GridlabdSession) -> FeederInventory:
    """The inventory file if ``path`` exists, else :func:`discover_inventory`."""
    if path is not None and Path(path).is_file():
        try:
            return FeederInventory.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
        except (TypeError, json.JSONDecodeError) as exc:
            raise GridlabdError(f"{path}: not a feeder inventory ({exc})") from None
    log.info("no inventory file%s: discovering the model's objects", f" at {path}" if path else "")
    return discover_inventory(session)
