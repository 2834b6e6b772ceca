"""Caches whose files hold only bytes and JSON: nothing read back is ever unpickled."""

from ragdrop.cache.backend import CacheBackend, open_cache, redact_url
from ragdrop.cache.embedding import CachedEmbedding, model_identity
from ragdrop.cache.keys import cache_key
from ragdrop.cache.query_cache import QueryResultCache, epoch_key
from ragdrop.cache.redis_cache import RedisCache, RedisCacheStats
from ragdrop.cache.safe_cache import (
    EVICTION_POLICIES,
    CacheStats,
    SafeCache,
    SafeDisk,
    ensure_private_dir,
)
from ragdrop.cache.vectors import decode_array, encode_array

__all__ = [
    "EVICTION_POLICIES",
    "CacheBackend",
    "CacheStats",
    "CachedEmbedding",
    "QueryResultCache",
    "RedisCache",
    "RedisCacheStats",
    "SafeCache",
    "SafeDisk",
    "cache_key",
    "decode_array",
    "encode_array",
    "ensure_private_dir",
    "epoch_key",
    "model_identity",
    "open_cache",
    "redact_url",
]
