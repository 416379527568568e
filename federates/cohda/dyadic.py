"""Exact dyadic weights (``m / 2**e``) for Huang's weight-throwing termination detection.

Weight throwing only ever halves and adds weights, so every weight is a dyadic rational. Floats fail after about
50 halvings and :class:`fractions.Fraction` spends most of its time in ``gcd``; a (mantissa, exponent) pair with
Python's unbounded integers is exact and cheap: adding aligns exponents with a shift, halving bumps the exponent.
"""
from __future__ import annotations


class Dyadic:
    """An exact non-negative dyadic rational ``m / 2**e`` in lowest terms (``m`` odd or ``e == 0``)."""

    __slots__ = ("m", "e")

    def __init__(self, m: int, e: int = 0) -> None:
        if m < 0 or e < 0:
            raise ValueError("Dyadic weights are non-negative with a non-negative exponent")
        if m == 0:
            e = 0
        elif e:
            tz = (m & -m).bit_length() - 1
            if tz:
                shift = min(tz, e)
                m >>= shift
                e -= shift
        self.m = m
        self.e = e

    ZERO: "Dyadic"
    ONE: "Dyadic"

    def __add__(self, other: "Dyadic") -> "Dyadic":
        e1, e2 = self.e, other.e
        if e1 == e2:
            return Dyadic(self.m + other.m, e1)
        # different exponents: the operand with the larger one has an odd mantissa, so the sum is in lowest terms
        d = Dyadic.__new__(Dyadic)
        if e1 > e2:
            d.m = self.m + (other.m << (e1 - e2))
            d.e = e1
        else:
            d.m = (self.m << (e2 - e1)) + other.m
            d.e = e2
        return d

    def __sub__(self, other: "Dyadic") -> "Dyadic":
        e = max(self.e, other.e)
        return Dyadic((self.m << (e - self.e)) - (other.m << (e - other.e)), e)

    def half(self) -> "Dyadic":
        """Half of this weight (exact). Weights never exceed 1, so a normalised non-zero mantissa is odd (or the
        weight is 1) and halving only bumps the exponent."""
        m = self.m
        if not m:
            return self
        if m & 1:
            d = Dyadic.__new__(Dyadic)
            d.m = m
            d.e = self.e + 1
            return d
        return Dyadic(m, self.e + 1)

    def is_zero(self) -> bool:
        return self.m == 0

    def is_one(self) -> bool:
        return self.m == 1 and self.e == 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Dyadic) and self.m == other.m and self.e == other.e

    def __hash__(self) -> int:
        return hash((self.m, self.e))

    def __float__(self) -> float:
        return self.m / 2.0 ** self.e if self.e < 1000 else 0.0

    def __repr__(self) -> str:
        return f"Dyadic({self.m}/2**{self.e})"

    def nbytes(self) -> int:
        """Bytes on the wire: 4 bytes exponent, 2 bytes mantissa length, then the mantissa."""
        return 6 + max(1, (self.m.bit_length() + 7) // 8)

    def to_bytes(self) -> bytes:
        n = max(1, (self.m.bit_length() + 7) // 8)
        return self.e.to_bytes(4, "little") + n.to_bytes(2, "little") + self.m.to_bytes(n, "little")

    @staticmethod
    def from_bytes(buf: bytes | memoryview, offset: int = 0) -> tuple["Dyadic", int]:
        """Decode a weight at ``offset``; returns the weight and the offset after it."""
        e = int.from_bytes(buf[offset:offset + 4], "little")
        n = int.from_bytes(buf[offset + 4:offset + 6], "little")
        m = int.from_bytes(buf[offset + 6:offset + 6 + n], "little")
        return Dyadic(m, e), offset + 6 + n


Dyadic.ZERO = Dyadic(0)
Dyadic.ONE = Dyadic(1)


def split_evenly(total_exp: int) -> Dyadic:
    """The share ``1 / 2**total_exp`` handed to each of up to ``2**total_exp`` recipients."""
    return Dyadic(1, total_exp)
