"""Deterministic stand-in embeddings: hashed bag of words, not semantics.

Good enough for tests of code that *uses* embeddings (cosine similarity graders,
de-duplication): the same text always gives the same unit vector (cosine 1), texts
sharing words score higher than texts sharing none. Synonyms score like unrelated
words, so never use these to judge meaning. Hashes come from blake2b, not ``hash()``,
so vectors are the same in every process.
"""

from __future__ import annotations

import array
import base64
import hashlib
import math
import re
import sys
from functools import lru_cache

DEFAULT_DIMENSIONS = 64
MAX_DIMENSIONS = 4096
_WORD = re.compile(r"\w+")


@lru_cache(maxsize=65536)
def _slot(word: str, dimensions: int) -> tuple[int, float]:
    digest = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
    sign = 1.0 if digest >> 63 else -1.0
    return digest % dimensions, sign


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A unit vector; text without words maps to the first axis so cosine stays defined."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        index, sign = _slot(word, dimensions)
        vector[index] += sign
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0] = 1.0
        return vector
    return [v / norm for v in vector]


def encode(vector: list[float]) -> str:
    """The API's base64 form: little-endian float32, as the SDK decodes it."""
    packed = array.array("f", vector)
    if sys.byteorder == "big":  # pragma: no cover
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")
