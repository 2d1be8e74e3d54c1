"""The baseline the engine benchmark compares against: the same 4N requests with nothing
but the openai SDK, a semaphore and asyncio.gather.

    python benchmarks/bare_loop.py URL N TRANSPORT CONCURRENCY
"""

import asyncio
import json
import sys

import openai

SCHEMA = {
    "type": "object",
    "properties": {"reasoning": {"type": "string"}, "score": {"type": "number"}},
    "required": ["reasoning", "score"],
    "additionalProperties": False,
}


async def main(url: str, n: int, transport: str, concurrency: int) -> None:
    http = openai.DefaultAioHttpClient() if transport == "aiohttp" else None
    client = openai.AsyncOpenAI(base_url=url, api_key="x", http_client=http)
    limit = asyncio.Semaphore(concurrency)

    async def call(**kwargs: object) -> openai.types.chat.ChatCompletion:
        async with limit:
            return await client.chat.completions.create(**kwargs)  # type: ignore[call-overload,no-any-return]

    async def one(i: int, model: str) -> float:
        prompt = f"customer question {i}"
        answer = await call(model=model, messages=[{"role": "user", "content": prompt}])
        text = answer.choices[0].message.content
        judged = f"**User input**\n{prompt}\n**Response to evaluate**\n{text}"
        verdict = await call(
            model="judge",
            messages=[{"role": "user", "content": judged}],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "grade", "schema": SCHEMA, "strict": True},
            },
        )
        return float(json.loads(verdict.choices[0].message.content or "{}")["score"])

    scores = await asyncio.gather(*(one(i, m) for i in range(n) for m in ("base", "candidate")))
    await client.close()
    print(len(scores))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])))
