"""Operations on cumulative energy curves: differencing, interpolation and the CoSSMic prediction update.

Interpolation here is linear in *time* (``numpy.interp``), the property PySSMic lacked (its pandas ``method="linear"``
treats samples as equally spaced). :func:`interpolate_by_position` keeps PySSMic's variant only so the reference test
vectors can be reproduced and compared.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from vppfed.federates.neighbourhood.model import Profile

Interpolation = Literal["time", "position"]


def differentiate(cumulative: np.ndarray) -> np.ndarray:
    """First differences of a cumulative curve with 0 prepended (energy in each interval ending at a sample), Wh."""
    values = np.asarray(cumulative, dtype=float)
    out = np.zeros_like(values)
    out[1:] = np.diff(values)
    return out


def interpolate_by_time(times_s: np.ndarray, values: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """Values at ``at_s``: linear in time between samples, first/last value held outside them."""
    return np.interp(np.asarray(at_s, dtype=float), np.asarray(times_s, dtype=float), np.asarray(values, dtype=float))


def interpolate_by_position(times_s: np.ndarray, values: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """PySSMic's fill: merge ``at_s`` into the sample index and interpolate linearly in *position* on the merged index.

    Only for reproducing PySSMic's objective; the result depends on how many extra points fall between two samples,
    not on their times.
    """
    times_s = np.asarray(times_s, dtype=float)
    values = np.asarray(values, dtype=float)
    merged = np.union1d(times_s, np.asarray(at_s, dtype=float))
    known_pos = np.searchsorted(merged, times_s)
    filled = np.interp(np.arange(merged.size), known_pos, values)
    return filled[np.searchsorted(merged, np.asarray(at_s, dtype=float))]


def round_to_nearest_60(seconds: np.ndarray | float) -> np.ndarray:
    """``60·round(s/60)`` with ties to even, as Python's ``round`` (29 -> 0, 30 -> 0, 31 -> 60, 90 -> 120)."""
    return 60.0 * np.round(np.asarray(seconds, dtype=float) / 60.0)


def merge_prediction(old: Profile | None, new: Profile) -> Profile:
    """Apply a prediction update the CoSSMic way.

    A new prediction file is cumulative from one hour before its first row, so it is lifted by the old cumulative
    value at that time (``old(first_new - 3600)``, interpolated in time if that instant is not a sample) and then
    written over the old curve; rows of the old curve that the new one does not cover are kept.

    Parameters
    ----------
    old : Profile or None
        The prediction held so far (absolute times, s; cumulative Wh); None for the first file.
    new : Profile
        The newly received prediction.

    Returns
    -------
    Profile
        The merged cumulative prediction.
    """
    if old is None:
        return new
    offset = float(old.at(new.times_s[0] - 3600.0)) if new.times_s[0] - 3600.0 >= old.times_s[0] else 0.0
    keep = ~np.isin(old.times_s, new.times_s)
    times = np.concatenate([old.times_s[keep], new.times_s])
    values = np.concatenate([old.cumulative_wh[keep], new.cumulative_wh + offset])
    order = np.argsort(times, kind="stable")
    return Profile(times[order], values[order])


def slot_energy(profile: Profile, start_s: float, edges_s: np.ndarray) -> np.ndarray:
    """Energy of ``profile`` started at ``start_s`` inside each interval between consecutive ``edges_s``, Wh.

    Time-linear and exact for any start (no rounding): ``L(edge_{k+1} - start) - L(edge_k - start)``.
    """
    cumulative = profile.at(np.asarray(edges_s, dtype=float) - start_s)
    return np.diff(cumulative)
