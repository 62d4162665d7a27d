"""Tensors as raw bytes, as the binary tensor extension (REST) and raw_*_contents (gRPC) carry them.

Little-endian, row-major; a BYTES tensor is its elements one after another, each after a 4-byte
little-endian length. Pure functions; a malformed buffer raises `RawDataError` saying what is off,
which the protocol layer turns into a 400 naming the input.
"""

from __future__ import annotations

import numpy as np

# The numeric datatypes the server takes in, as numpy reads them off the wire.
DTYPES = {"FP32": "<f4", "FP64": "<f8", "INT32": "<i4", "INT64": "<i8"}
# And those it may send out (predictions can be booleans or unsigned).
_OUT = {**DTYPES, "BOOL": "?", "UINT8": "u1", "UINT32": "<u4", "UINT64": "<u8"}
_PREFIX = 4


class RawDataError(ValueError):
    """A buffer that does not hold what its datatype and shape declare."""


def to_array(raw: bytes, *, datatype: str, count: int) -> np.ndarray:
    """`count` values of the numeric `datatype` read from `raw`, which must hold exactly them."""
    dtype = np.dtype(DTYPES[datatype])
    if len(raw) != count * dtype.itemsize:
        raise RawDataError(
            f"holds {len(raw)} bytes, but {count} {datatype} values take "
            f"{count * dtype.itemsize} ({dtype.itemsize} bytes each)"
        )
    # A copy in native order: frombuffer's view is read-only, and some models write into inputs.
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("="))


def to_strings(raw: bytes, *, count: int) -> np.ndarray:
    """The `count` UTF-8 elements of a BYTES buffer, as an object array of str."""
    view = memoryview(raw)
    values: list[str] = []
    offset = 0
    while offset < len(raw):
        if len(values) == count:
            raise RawDataError(
                f"holds more than the {count} BYTES elements its shape declares "
                f"({len(raw) - offset} bytes left after them)"
            )
        if offset + _PREFIX > len(raw):
            raise RawDataError(
                f"ends inside the 4-byte length of element {len(values)}; each BYTES element "
                "is a 4-byte little-endian length, then that many bytes"
            )
        size = int.from_bytes(view[offset : offset + _PREFIX], "little")
        offset += _PREFIX
        if offset + size > len(raw):
            raise RawDataError(
                f"element {len(values)} declares {size} bytes but only {len(raw) - offset} follow"
            )
        try:
            values.append(bytes(view[offset : offset + size]).decode("utf-8"))
        except UnicodeDecodeError as e:
            raise RawDataError(f"element {len(values)} is not UTF-8 text ({e.reason})") from e
        offset += size
    if len(values) != count:
        raise RawDataError(f"holds {len(values)} BYTES elements, but its shape declares {count}")
    return np.asarray(values, dtype=object)


def from_array(array: np.ndarray, *, datatype: str) -> bytes:
    """`array` as the raw bytes of `datatype` (as `protocol.datatype_of` named it)."""
    flat = np.ascontiguousarray(array).reshape(-1)
    if datatype == "BYTES":
        parts = []
        for value in flat.tolist():
            data = value if isinstance(value, bytes) else str(value).encode()
            parts += [len(data).to_bytes(_PREFIX, "little"), data]
        return b"".join(parts)
    return flat.astype(_OUT.get(datatype, "<f8"), copy=False).tobytes()
