"""COHDA messages and their compact binary encoding.

Step messages carry *deltas*: the ``(agent, counter, schedule index)`` entries that changed since the last message to
that neighbour, and the solution candidate as its key ``(creator, serial)`` and perf, with the body (one schedule
index per covered agent) only when the neighbour is not known to hold it. "Agent" on the wire is the agent's slot in
the negotiation's participant list (sent once in the init message), so entries are fixed-size integers.

``nbytes`` gives the exact encoded size without encoding, so the in-process transport can count bytes for free; a
test checks ``len(encode(m)) == m.nbytes()`` for every type.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from vppfed.federates.cohda.data import Catalogue, SolutionCandidate
from vppfed.federates.cohda.objectives import Objective
from vppfed.federates.cohda.dyadic import Dyadic

#: Message type tags (first byte on the wire).
INIT, STEP, WEIGHT, STOP, RESULT = 1, 2, 3, 4, 5

_HEAD = struct.Struct("<BiiI")          # type, sender, receiver, negotiation
_CAND = struct.Struct("<iIdIIHB")       # creator, serial, perf, coverage, n_slots, n_options, body kind
_ENTRY_BYTES = 4 + 4 + 2                # slot int32, counter int32, index int16
_DENSE, _SPARSE = 0, 1
CONTROLLER = -1
_STEP_FIXED = _HEAD.size + 4            # header and entry count
_SMALL_DELTA = 48


def candidate_nbytes(cand: SolutionCandidate | None) -> int:
    """Encoded size of an optional candidate: flag byte, header, and the cheaper of a dense or sparse body."""
    if cand is None:
        return 1
    size = cand.wire
    if not size:
        size = cand.wire = 1 + _CAND.size + min(2 * cand.sel.shape[0], 6 * cand.coverage)
    return size


def _encode_candidate(cand: SolutionCandidate | None) -> bytes:
    if cand is None:
        return b"\x00"
    n = cand.sel.size
    if 2 * n <= 6 * cand.coverage:
        return b"\x01" + _CAND.pack(cand.creator, cand.serial, cand.perf, cand.coverage, n, cand.n_options,
                                    _DENSE) + cand.sel.astype("<i2").tobytes()
    slots = np.flatnonzero(cand.covered)
    return b"\x01" + _CAND.pack(cand.creator, cand.serial, cand.perf, cand.coverage, n, cand.n_options, _SPARSE) + \
        slots.astype("<i4").tobytes() + cand.sel[slots].astype("<i2").tobytes()


class CandidateCache:
    """Decoded candidates of one process by key, with their aggregate recomputed once from the catalogue.

    The aggregate is not sent (it is T floats); a receiving process rebuilds it, and candidates repeat often (every
    neighbour forwards the same one), so each is rebuilt once per process.
    """

    def __init__(self, catalogue: Catalogue, objective: Objective, size: int = 4096) -> None:
        self.catalogue, self.objective, self.size = catalogue, objective, size
        self.items: dict[tuple[int, int], SolutionCandidate] = {}

    def get(self, creator: int, serial: int, perf: float, sel: np.ndarray) -> SolutionCandidate:
        key = (creator, serial)
        cand = self.items.get(key)
        if cand is None:
            cand = self.catalogue.candidate(creator, serial, sel, self.objective)
            # keep the creator's perf: all agents must compare the very same number
            cand = SolutionCandidate(cand.creator, cand.serial, cand.sel, cand.coverage, perf, cand.total,
                                     cand.cost, cand.n_options)
            if len(self.items) >= self.size:
                self.items.pop(next(iter(self.items)))
            self.items[key] = cand
        return cand


def _decode_candidate(buf: bytes, off: int, cache: CandidateCache | None) -> tuple[SolutionCandidate | None, int]:
    if buf[off] == 0:
        return None, off + 1
    creator, serial, perf, coverage, n, m, kind = _CAND.unpack_from(buf, off + 1)
    off += 1 + _CAND.size
    if kind == _DENSE:
        sel = np.frombuffer(buf, "<i2", n, off).copy()
        off += 2 * n
    else:
        slots = np.frombuffer(buf, "<i4", coverage, off)
        vals = np.frombuffer(buf, "<i2", coverage, off + 4 * coverage)
        sel = np.full(n, m, dtype=np.int16)
        sel[slots] = vals
        off += 6 * coverage
    if cache is None:
        raise ValueError("decoding a candidate needs the schedule catalogue (pass a CandidateCache)")
    return cache.get(creator, serial, perf, sel), off


@dataclass(slots=True)
class StepMessage:
    """Agent-to-agent COHDA step: sysconf delta, optional candidate, and a share of the termination weight.

    The delta is three equally long sequences (slot, counter, schedule index): plain lists of ints when short,
    arrays when long; each slot at most once. Messages of one act may share them, so receivers only read them.
    """

    sender: int
    receiver: int
    slots: list[int]
    cnts: list[int]
    sels: list[int]
    candidate: SolutionCandidate | None
    weight: Dyadic
    negotiation: int = 0

    def nbytes(self) -> int:
        cand = self.candidate
        if cand is None:
            c = 1
        else:
            c = cand.wire or candidate_nbytes(cand)
        return _STEP_FIXED + _ENTRY_BYTES * len(self.slots) + c + 6 + max(1, (self.weight.m.bit_length() + 7) >> 3)

    def encode(self) -> bytes:
        return b"".join([
            _HEAD.pack(STEP, self.sender, self.receiver, self.negotiation),
            struct.pack("<I", len(self.slots)), np.asarray(self.slots, "<i4").tobytes(),
            np.asarray(self.cnts, "<i4").tobytes(), np.asarray(self.sels, "<i2").tobytes(),
            _encode_candidate(self.candidate), self.weight.to_bytes()])


@dataclass(slots=True)
class InitMessage:
    """Controller to agent: participants, the agent's neighbours, planning horizon, target, start schedule, weight.

    ``start`` is s since the epoch (UTC), ``res`` the interval length in s. ``target`` (kW) and ``weights`` define
    the L1 objective; ``objective`` names it (``l1``, ``peak``, ``valley``). The catalogue of possible schedules is
    distributed once per process, not per message (it is counted separately as ``catalogue_bytes``). ``initial``
    (warm start) is the complete starting configuration every agent then knows (counters 0), or None (each agent
    knows only itself, Hinrichs' cold start).
    """

    sender: int
    receiver: int
    participants: np.ndarray
    neighbours: np.ndarray
    start: float
    res: int
    target: np.ndarray
    weights: np.ndarray | None
    init_index: int
    weight: Dyadic
    objective: str = "l1"
    negotiation: int = 0
    starter: bool = True
    initial: SolutionCandidate | None = None

    def nbytes(self) -> int:
        return len(self.encode())

    def encode(self) -> bytes:
        obj = self.objective.encode()
        w = self.weights if self.weights is not None else np.zeros(0)
        return b"".join([
            _HEAD.pack(INIT, self.sender, self.receiver, self.negotiation),
            struct.pack("<IIIdiiBB", self.participants.size, self.neighbours.size, self.target.size, self.start,
                        self.res, self.init_index, self.starter, len(obj)), obj,
            self.participants.astype("<i8").tobytes(), self.neighbours.astype("<i4").tobytes(),
            self.target.astype("<f8").tobytes(), struct.pack("<I", w.size), w.astype("<f8").tobytes(),
            self.weight.to_bytes(), _encode_candidate(self.initial)])


@dataclass(slots=True)
class WeightMessage:
    """Agent to controller: return of termination weight when the agent has gone idle."""

    sender: int
    receiver: int
    weight: Dyadic
    negotiation: int = 0

    def nbytes(self) -> int:
        return _HEAD.size + self.weight.nbytes()

    def encode(self) -> bytes:
        return _HEAD.pack(WEIGHT, self.sender, self.receiver, self.negotiation) + self.weight.to_bytes()


@dataclass(slots=True)
class StopMessage:
    """Controller to agent: stop now (terminated or anytime stop) and report the candidate."""

    sender: int
    receiver: int
    negotiation: int = 0

    def nbytes(self) -> int:
        return _HEAD.size

    def encode(self) -> bytes:
        return _HEAD.pack(STOP, self.sender, self.receiver, self.negotiation)


@dataclass(slots=True)
class ResultMessage:
    """Agent to controller: its candidate and its own current schedule index (for anytime merges)."""

    sender: int
    receiver: int
    candidate: SolutionCandidate
    own_index: int
    own_slot: int
    negotiation: int = 0

    def nbytes(self) -> int:
        return _HEAD.size + 8 + candidate_nbytes(self.candidate)

    def encode(self) -> bytes:
        return _HEAD.pack(RESULT, self.sender, self.receiver, self.negotiation) + \
            struct.pack("<ii", self.own_index, self.own_slot) + _encode_candidate(self.candidate)


Message = StepMessage | InitMessage | WeightMessage | StopMessage | ResultMessage


def decode(buf: bytes, cache: CandidateCache | None = None) -> Message:
    """Decode any message produced by ``encode`` (candidates need the process's :class:`CandidateCache`)."""
    kind, sender, receiver, neg = _HEAD.unpack_from(buf, 0)
    off = _HEAD.size
    if kind == STEP:
        (k,) = struct.unpack_from("<I", buf, off)
        off += 4
        slots = np.frombuffer(buf, "<i4", k, off).astype(np.int64)
        cnts = np.frombuffer(buf, "<i4", k, off + 4 * k).astype(np.int32)
        sels = np.frombuffer(buf, "<i2", k, off + 8 * k).astype(np.int16)
        if k <= _SMALL_DELTA:  # a few entries merge faster as plain ints
            slots, cnts, sels = slots.tolist(), cnts.tolist(), sels.tolist()
        off += _ENTRY_BYTES * k
        cand, off = _decode_candidate(buf, off, cache)
        weight, off = Dyadic.from_bytes(buf, off)
        return StepMessage(sender, receiver, slots, cnts, sels, cand, weight, neg)
    if kind == INIT:
        fmt = struct.Struct("<IIIdiiBB")
        n, nn, t, start, res, init_index, starter, lo = fmt.unpack_from(buf, off)
        off += fmt.size
        objective = bytes(buf[off:off + lo]).decode()
        off += lo
        participants = np.frombuffer(buf, "<i8", n, off).copy()
        off += 8 * n
        neighbours = np.frombuffer(buf, "<i4", nn, off).astype(np.int64)
        off += 4 * nn
        target = np.frombuffer(buf, "<f8", t, off).copy()
        off += 8 * t
        (nw,) = struct.unpack_from("<I", buf, off)
        off += 4
        weights = np.frombuffer(buf, "<f8", nw, off).copy() if nw else None
        off += 8 * nw
        weight, off = Dyadic.from_bytes(buf, off)
        initial, off = _decode_candidate(buf, off, cache)
        return InitMessage(sender, receiver, participants, neighbours, start, res, target, weights, init_index,
                           weight, objective, neg, bool(starter), initial)
    if kind == WEIGHT:
        weight, _ = Dyadic.from_bytes(buf, off)
        return WeightMessage(sender, receiver, weight, neg)
    if kind == STOP:
        return StopMessage(sender, receiver, neg)
    if kind == RESULT:
        own_index, own_slot = struct.unpack_from("<ii", buf, off)
        cand, _ = _decode_candidate(buf, off + 8, cache)
        return ResultMessage(sender, receiver, cand, own_index, own_slot, neg)
    raise ValueError(f"unknown COHDA message type {kind}")
