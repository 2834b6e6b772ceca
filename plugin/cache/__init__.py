"""Caches whose files hold only bytes and JSON: nothing read back is ever unpickled."""

from ragdrop.cache.safe_cache import (
    EVICTION_POLICIES,
    CacheStats,
    SafeCache,
    SafeDisk,
    cache_key,
    ensure_private_dir,
)
from ragdrop.cache.vectors import decode_array, encode_array

__all__ = [
    "EVICTION_POLICIES",
    "CacheStats",
    "SafeCache",
    "SafeDisk",
    "cache_key",
    "decode_array",
    "encode_array",
    "ensure_private_dir",
]
