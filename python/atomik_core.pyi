# SPDX-License-Identifier: LGPL-2.1 OR MIT
"""ATOMiK's shared 64-bit XOR accumulators (/dev/atomik) from Python.

Documentation/atomik/python.rst in the sources describes the module.
"""
import os
from types import TracebackType
from typing import Literal, Optional, SupportsIndex, Type, Union

from typing_extensions import Buffer, Self

__version__: str
DEFAULT_SIZE: int

class DeltaStream:
    """A handle on a table of 64-bit XOR accumulators in /dev/atomik.

    table=None: a private table of `size` addresses, destroyed when the
    stream closes; an int: that existing table (0 is shared by every
    process).  Wrong types raise TypeError, values out of range ValueError;
    what the device refuses raises OSError with its errno
    (FileNotFoundError when the module is not loaded, PermissionError, ...).
    """

    def __new__(
        cls,
        table: Optional[SupportsIndex] = None,
        *,
        size: Optional[SupportsIndex] = None,
        device: Union[str, bytes, os.PathLike[str], os.PathLike[bytes], None] = None,
    ) -> Self: ...
    @property
    def table(self) -> int:
        """The table's id."""
    @property
    def size(self) -> int:
        """The table's number of addresses: addresses are 0 to size - 1."""
    @property
    def private(self) -> bool:
        """True for a private table, destroyed when the stream closes."""
    @property
    def closed(self) -> bool:
        """True once closed."""
    def load(self, addr: SupportsIndex, initial_state: SupportsIndex) -> None:
        """Make initial_state (0 to 2**64 - 1) the state of addr."""
    def accum(self, addr: SupportsIndex, delta: SupportsIndex) -> None:
        """XOR delta (0 to 2**64 - 1) into the state of addr."""
    def read(self, addr: SupportsIndex) -> int:
        """The state of addr: its reference XOR the deltas since."""
    def swap(self, addr: SupportsIndex, value: SupportsIndex) -> int:
        """Return the state of addr and make value its new reference, atomically."""
    def accum_batch(self, pairs: Buffer) -> int:
        """XOR every (addr, delta) pair of a buffer; return how many.

        16 bytes a pair: two unsigned 64-bit integers in this machine's
        byte order, the address first (array.array('Q'), a NumPy uint64
        array of shape (n, 2), bytes).  Every address is checked first: one
        outside the table raises ValueError with nothing applied.
        """
    def close(self) -> None:
        """Close the stream (destroying a private table); again: nothing."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> Literal[False]: ...
