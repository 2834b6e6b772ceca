"""Numpy arrays as self-describing bytes (dtype + shape header, then ``tobytes()``).

Cache values must never be pickles; this is the format for embeddings and scores.

Example:
    >>> import numpy as np
    >>> decode_array(encode_array(np.arange(3, dtype=np.float32))).tolist()
    [0.0, 1.0, 2.0]
"""

from __future__ import annotations

import struct

import numpy as np

_MAGIC = b"RDA1"
# Plain numeric dtypes only: object/structured/void dtypes are refused on both sides.
_KINDS = "biuf"


def encode_array(array: np.ndarray) -> bytes:
    """``array`` as bytes: magic, dtype string, ndim, shape (uint64 LE), C-order data."""
    arr = np.asarray(array, order="C")
    if arr.dtype.kind not in _KINDS or arr.dtype.fields is not None:
        raise TypeError(f"encode_array: dtype {arr.dtype} not allowed; use bool/int/uint/float")
    dtype = arr.dtype.str.encode("ascii")
    header = _MAGIC + struct.pack("<B", len(dtype)) + dtype + struct.pack("<B", arr.ndim)
    header += struct.pack(f"<{arr.ndim}Q", *arr.shape)
    return header + arr.tobytes()


def decode_array(data: bytes) -> np.ndarray:
    """The array encoded by `encode_array`; raises ValueError on anything malformed."""
    view = memoryview(data)
    if len(view) < 6 or bytes(view[:4]) != _MAGIC:
        raise ValueError("decode_array: not an encoded array (bad magic)")
    n = view[4]
    end = 5 + n
    if len(view) < end + 1:
        raise ValueError("decode_array: truncated header")
    try:
        dtype = np.dtype(bytes(view[5:end]).decode("ascii"))
    except (TypeError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"decode_array: bad dtype: {exc}") from exc
    if dtype.kind not in _KINDS or dtype.fields is not None:
        raise ValueError(f"decode_array: dtype {dtype} not allowed")
    ndim = view[end]
    start = end + 1 + 8 * ndim
    if len(view) < start:
        raise ValueError("decode_array: truncated shape")
    shape = struct.unpack(f"<{ndim}Q", view[end + 1 : start])
    count = int(np.prod(shape, dtype=np.uint64)) if ndim else 1
    if len(view) - start != count * dtype.itemsize:
        raise ValueError(
            f"decode_array: {len(view) - start} data bytes, expected {count * dtype.itemsize}"
        )
    return np.reshape(np.frombuffer(view[start:], dtype=dtype), shape).copy()


__all__ = ["decode_array", "encode_array"]
