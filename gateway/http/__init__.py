"""The HTTP edge: litestar routes, wire schemas, errors, SSE framing."""
