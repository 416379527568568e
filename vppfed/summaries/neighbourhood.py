"""The line ``vppfed run`` prints after a neighbourhood case (and the run record/summary files it leaves)."""
from __future__ import annotations

import json
from pathlib import Path

from vppfed.formats.neighbourhood import RECORD_FILE, SETUP_FILE

__all__ = ["summarize", "join_run_records"]


def join_run_records(run_dir: Path) -> None:
    """Join the co-simulated federates' parts into ``neighbourhood_run.json`` wherever it is missing (``run_dir``
    and its ``run_*/`` folders), so figures and reports only read records (postprocess imports no federate core).

    ``vppfed run`` does it at the end of every run (:func:`summarize`); ``vppfed plot`` and ``vppfed report`` call
    this first for a folder whose federation was started some other way. Folders without the parts are left alone;
    the neighbourhood code (scipy, HiGHS) is imported only when a record is to be joined, not for every plot.
    """
    run_dir = Path(run_dir)
    for folder in [run_dir] + sorted(p for p in run_dir.glob("run_*") if p.is_dir()):
        if (folder / SETUP_FILE).exists() and not (folder / RECORD_FILE).exists():
            from vppfed.federates.neighbourhood.protocol import assemble_run_record

            assemble_run_record(folder)


def summarize(run_dir: Path) -> str | None:
    """One line for ``vppfed run``: the run's energy split, or mean ± std over ``run_NN/`` runs of a batch."""
    from vppfed.federates.neighbourhood.metrics import summarise
    from vppfed.federates.neighbourhood.protocol import assemble_run_record
    from vppfed.federates.neighbourhood.runs import write_json

    run_dir = Path(run_dir)
    record = assemble_run_record(run_dir)
    if record is not None:
        t = record["totals"]
        sc = "-" if t["self_consumption"] is None else f"{100 * t['self_consumption']:.1f} %"
        line = (f"neighbourhood ({record['optimizer']}): self-consumption {sc}, PV {t['pv_wh'] / 1e3:.2f} kWh, "
                f"grid {t['grid_wh'] / 1e3:.2f} kWh, {int(t['n_grid_contracts'])}/{int(t['n_contracts'])} jobs "
                f"from the grid")
        if "feeder" in record:
            f = record["feeder"]["totals"]
            fsc = "-" if f["self_consumption"] is None else f"{100 * f['self_consumption']:.1f} %"
            line += (f"\n  predicted PV {t['production_wh'] / 1e3:.2f} kWh: self-consumption {sc}, from PV "
                     f"{t['pv_wh'] / 1e3:.2f} kWh; feeder PV {f['production_wh'] / 1e3:.2f} kWh: self-consumption "
                     f"{fsc}, from PV {f['pv_wh'] / 1e3:.2f} kWh, grid {f['grid_wh'] / 1e3:.2f} kWh")
        return line
    records = []
    for sub in sorted(run_dir.glob("run_*")):
        rec = assemble_run_record(sub) if not (sub / RECORD_FILE).exists() else \
            json.loads((sub / RECORD_FILE).read_text(encoding="utf-8"))
        if rec is not None:
            records.append(rec)
    if not records:
        return None
    summary = summarise(records)
    write_json(run_dir / "neighbourhood_summary.json", summary)
    t = summary["totals"]

    def ms(key: str, scale: float) -> str:
        s = t[key]
        return "-" if s["mean"] is None else f"{s['mean'] * scale:.2f} ± {s['std'] * scale:.2f}"

    line = (f"neighbourhood over {len(records)} runs ({records[0]['optimizer']}): self-consumption "
            f"{ms('self_consumption', 100)} %, PV {ms('pv_wh', 1e-3)} kWh, grid {ms('grid_wh', 1e-3)} kWh")
    if all("feeder" in r for r in records):
        feeder = summarise([r["feeder"] for r in records])
        write_json(run_dir / "neighbourhood_feeder_summary.json", feeder)
        t = feeder["totals"]
        line += (f"\n  with the feeder's PV: self-consumption {ms('self_consumption', 100)} %, PV "
                 f"{ms('pv_wh', 1e-3)} kWh, grid {ms('grid_wh', 1e-3)} kWh")
    return line
