"""Getting answers: the one openai-SDK code path, the cache, and the local server."""
