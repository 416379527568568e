"""GridLAB-D value parsing (tesp-contract §8) and HELICS seconds <-> local time."""
import cmath
import math

import pytest

from vppfed.federates.feeder.clock import GldClock
from vppfed.formats.gld_strings import format_complex, parse_complex, parse_float


@pytest.mark.parametrize("text,expected", [
    ("559966.6667+330033.3333j", 559966.6667 + 330033.3333j),
    ("+120.5-0.3j V", 120.5 - 0.3j),
    ("[300000,-90000.5]", 300000 - 90000.5j),
    ("120.0;", 120.0),
    ("+0-0j VA", 0j),
    ("1e3+2e-3j", 1000 + 0.002j),
    ("-5", -5.0),
])
def test_rectangular_vector_and_plain_forms(text, expected):
    assert parse_complex(text) == pytest.approx(expected, abs=1e-12)


def test_polar_degrees_and_radians_are_converted_not_misread_as_rectangular():
    # the binding's typed read turns this into complex(119.867, -120.029); the true value is at -120 degrees
    v = parse_complex("+119.867-120.029d V")
    assert abs(v) == pytest.approx(119.867) and math.degrees(cmath.phase(v)) == pytest.approx(-120.029)
    r = parse_complex("+2.0+0.5r")
    assert r == pytest.approx(cmath.rect(2.0, 0.5))


def test_unit_prefixes_only_when_asked():
    assert parse_complex("+1.23+4.56j kVA") == pytest.approx(1.23 + 4.56j)
    assert parse_complex("+1.23+4.56j kVA", convert_units=True) == pytest.approx(1230 + 4560j)
    assert parse_float("+123.4 kW", convert_units=True) == pytest.approx(123400.0)
    assert parse_float("+77.86 degF", convert_units=True) == pytest.approx(77.86)
    assert parse_float("+0.11 $/kWh") == pytest.approx(0.11)


def test_garbage_and_complex_as_float_are_refused():
    with pytest.raises(ValueError, match="cannot parse"):
        parse_complex("ON")
    with pytest.raises(ValueError, match="complex"):
        parse_float("+1+2j VA")
    assert parse_complex(format_complex(7560 - 12.5j)) == pytest.approx(7560 - 12.5j)


def test_clock_crosses_daylight_saving_through_utc():
    clock = GldClock("2013-11-02 12:00:00", "PST+8PDT")
    # 24 h after noon PDT on the day before the autumn change is 11:00 PST
    assert clock.to_local(86400) == "2013-11-03 11:00:00"
    assert clock.to_seconds("2013-11-03T11:00:00-08:00") == 86400
    assert clock.start_label() == "2013-11-02 12:00:00 PDT"


def test_clock_round_trip_and_offsets():
    clock = GldClock("2013-07-01 00:00:00", "PST+8PDT")
    for t in (0, 15, 300, 172800):
        assert clock.to_seconds(clock.to_local(t)) == t
    assert clock.to_seconds("2013-07-01T00:05:00-07:00") == 300
    with pytest.raises(ValueError, match="whole seconds"):
        clock.to_local(1.5)
    with pytest.raises(ValueError, match="unknown GridLAB-D time zone"):
        GldClock("2013-07-01 00:00:00", "XYZ").to_local(0)
