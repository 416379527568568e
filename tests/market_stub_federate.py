"""Stand-in for the feeder and PYPOWER in market integration tests (not a model: fixed, checkable signals).

Publishes (global keys) ``gld_7/distribution_load`` (complex VA), house ``air_temperature``/``hvac_load``/``power_state``
and ``pypower/LMP_7`` at T - 15 s; subscribes to the market's curve, price and set points; sends one external bid
per period from endpoint ``stub_7/vpp`` at T - 45 s. Writes everything it received to ``stub_received.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vppfed.federates.runtime import FederateBase, base_argument_parser, run_federate, stop_seconds

HOUSES = [f"F1_house_B{i}" for i in range(4)]


def stub_config(separator: str = "/", lmp: bool = True) -> dict:
    pubs = [{"global": True, "key": "gld_7/distribution_load", "type": "complex"}]
    if lmp:
        pubs.append({"global": True, "key": "pypower/LMP_7", "type": "double"})
    for i, h in enumerate(HOUSES):
        pubs += [{"global": True, "key": f"gld_7/{h}{separator}air_temperature", "type": "double"},
                 {"global": True, "key": f"gld_7/{h}{separator}hvac_load", "type": "double"},
                 {"global": True, "key": f"gld_7/{h}{separator}power_state", "type": "string"}]
    subs = [{"key": f"sub_7/{k}", "type": "double"} for k in
            ("unresponsive_mw", "responsive_max_mw", "responsive_c2", "responsive_c1", "clear_price")]
    subs += [{"key": f"sub_7/{h}/cooling_setpoint", "type": "double"} for h in HOUSES]
    return {"name": "stub_7", "period": 15, "log_level": "warning", "publications": pubs, "subscriptions": subs,
            "endpoints": [{"name": "vpp", "global": False}]}


class Stub(FederateBase):
    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args.config, stop_seconds(args))
        self.received: dict[str, list] = {}
        self.awards: list = []
        self.load_w = args.load_kw * 1000.0

    def on_start(self) -> None:
        self.publish("gld_7/distribution_load", complex(self.load_w, 0.3 * self.load_w))
        for i, h in enumerate(HOUSES):
            self.publish(f"gld_7/{h}/air_temperature", 76.0 + 2 * i)
            self.publish(f"gld_7/{h}/hvac_load", 4.0)
            self.publish(f"gld_7/{h}/power_state", "ON" if i % 2 else "OFF")

    def on_step(self, t: float) -> None:
        for target, inp in self.inputs_matching(lambda _t: True):
            if self.is_updated(inp):
                self.received.setdefault(target, []).append([t, self.read_double(inp)])
        for _src, payload, _t in self.receive("vpp"):
            self.awards.append([t, json.loads(payload)])
        if (t + 15) % 300 == 0 and self.has_publication("pypower/LMP_7"):  # T - 15: the "OPF" answers, 0.03 $/kWh, 0.40 for the 3rd clearing
            self.publish("pypower/LMP_7", 0.03 if t < 885 else 0.40)
        if (t + 45) % 300 == 0:  # T - 45: a battery-like bid, sells 5 kW above 0.29, buys up to 5 kW below
            self.send("vpp", "sub_7/market", {"bidder": "vpp_7",
                                              "curve": [[-5, 0.49], [2, 0.21], [2, 0.19], [5, 0.07]], "steps": 1})

    def on_finish(self, failed: bool) -> None:
        Path("stub_received.json").write_text(json.dumps({"values": self.received, "awards": self.awards}))


def main() -> int:
    parser = base_argument_parser("market test stub")
    parser.add_argument("--load-kw", type=float, default=60.0)
    return run_federate(Stub, parser)


if __name__ == "__main__":
    sys.exit(main())
