"""``vppfed import-tesp``: a case YAML that runs a TESP case folder as it stands, ready to take vppfed's agents."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "import-tesp", help="write a case YAML that runs a TESP case folder (GLM, *_pp.json, runners) as it stands",
        description="Read a TESP case folder (for example examples/capabilities/te30 of the pnnl/tesp repository, "
                    "before or after TESP's prepare_case.py) and write a vppfed case YAML that points at its files: "
                    "the feeder GLM with the defines of TESP's gridlabd runner line, the PYPOWER case JSON, the "
                    "market when TESP's runner starts a substation, TESP's weather.dat when present. Nothing in the "
                    "TESP folder is written. 'vppfed run' then runs the TESP case; sections added to the YAML "
                    "(vpp:, battery:, cohda:, neighbourhood:) put vppfed's agents into it.",
        epilog="examples:\n"
               "  vppfed import-tesp tesp/examples/capabilities/te30 --tespdir tesp --out te30_tesp.yaml\n"
               "  vppfed run te30_tesp.yaml --hours 48 --out runs/te30_tesp\n"
               "  vppfed run te30_tesp.yaml --no-market --out runs/te30_tesp_nomarket",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="the TESP case folder")
    p.add_argument("--out", type=Path, required=True, help="case YAML to write (paths in it are relative to it)")
    p.add_argument("--glm", default=None, help="file name of the feeder GLM when the folder has several")
    p.add_argument("--tespdir", default=None,
                   help="TESP's folder for ${TESPDIR} includes (default: the TESPDIR environment variable)")
    p.add_argument("--name", default=None, help="case name (default: the folder's name)")
    p.add_argument("--bus", type=int, default=None,
                   help="transmission bus of the feeder (default: the *_pp.json DSO row or the *_gridlabd.json name)")
    p.add_argument("--hours", type=float, default=None, help="simulated hours (default: the GLM's clock)")
    p.set_defaults(func=cmd_import_tesp)


def cmd_import_tesp(args: argparse.Namespace) -> int:
    from vppfed.configs.tesp_import import read_tesp_folder, write_case_yaml

    case = read_tesp_folder(args.folder, glm=args.glm, tespdir=args.tespdir)
    path = write_case_yaml(case, args.out, name=args.name, bus=args.bus, hours=args.hours)
    found = [f"feeder {case.glm.name}", f"grid {case.pp_json.name}" if case.pp_json else "no grid",
             "market" if case.market else "no market"]
    print(f"wrote {path} ({', '.join(found)}, {case.hours:g} h)")
    for note in case.notes:
        print(f"note: {note}")
    print(f"run it:  vppfed run {path} --out runs/{path.stem}")
    return 0
