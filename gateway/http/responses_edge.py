"""The Responses API's edge: chat answers and streams out as Responses objects and events."""

from __future__ import annotations

from gateway.http.errors import APIError
from gateway.http.sse import Framer, sse_comment
from gateway.protocols.responses.answer import responses_answer
from gateway.protocols.responses.schemas import ResponsesRequest
from gateway.protocols.responses.stream import ResponsesStream


class ResponsesFramer:
    def __init__(self, request: ResponsesRequest) -> None:
        self.stream = ResponsesStream(request)

    def start(self) -> bytes:
        return self.stream.start()

    def chunk(self, data: bytes) -> bytes:
        return self.stream.feed(data)

    def comment(self, text: str) -> bytes:
        return sse_comment(text)  # SSE parsers (the SDKs', Codex's) skip comments

    def done(self) -> bytes:
        return self.stream.finish()

    def failure(self, error: APIError) -> bytes:
        detail = error.detail
        return self.stream.fail(detail.code or detail.type, detail.message)


class ResponsesEdge:
    def __init__(self, request: ResponsesRequest) -> None:
        self.request = request

    def answer_body(self, chat_answer: bytes) -> bytes:
        return responses_answer(chat_answer, self.request)

    def framer(self) -> Framer:
        return ResponsesFramer(self.request)
