"""The Anthropic Messages API to and from chat completions: wire schemas (`schemas`),
the request as a chat body (`request`), a chat completion as a message (`answer`) and
a chat stream's chunks as Messages stream events (`stream`). Pure translation: no
HTTP, no I/O."""
