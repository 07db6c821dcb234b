"""Ready-to-paste client settings for a new key: the openai SDK, Continue, Aider, Cline
and Codex CLI, filled in with this gateway's URL and the models the key may use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request


@dataclass(frozen=True, slots=True)
class Snippet:
    id: str
    title: str
    where: str  # the file or place it goes
    text: str


def gateway_url(request: Request[Any, Any, Any]) -> str:
    """The URL a client reaches /v1 at: this request's scheme and Host (uvicorn takes
    them from X-Forwarded-* only for [server] trusted_proxies)."""
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host") or "127.0.0.1"
    return f"{scheme}://{host}/v1"


def snippets(base_url: str, key: str, models: list[str]) -> list[Snippet]:
    model = models[0] if models else "MODEL"
    return [
        Snippet(
            "openai",
            "openai SDK (Python)",
            "your code",
            "from openai import OpenAI\n\n"
            f'client = OpenAI(base_url="{base_url}", api_key="{key}")\n'
            "answer = client.chat.completions.create(\n"
            f'    model="{model}",\n'
            '    messages=[{"role": "user", "content": "Write fizzbuzz in Python."}],\n'
            ")\n"
            "print(answer.choices[0].message.content)\n",
        ),
        Snippet(
            "continue",
            "Continue",
            "~/.continue/config.yaml",
            "models:\n"
            + "".join(
                f"  - name: ATLAS {m}\n"
                "    provider: openai\n"
                f"    model: {m}\n"
                f"    apiBase: {base_url}\n"
                f"    apiKey: {key}\n"
                "    roles: [chat, edit, apply]\n"
                for m in (models or [model])
            ),
        ),
        Snippet(
            "aider",
            "Aider",
            "a shell",
            f"export OPENAI_API_BASE={base_url}\n"
            f"export OPENAI_API_KEY={key}\n"
            f"aider --model openai/{model}\n",
        ),
        Snippet(
            "cline",
            "Cline",
            "Cline's settings: API Provider",
            "API Provider: OpenAI Compatible\n"
            f"Base URL:     {base_url}\n"
            f"API Key:      {key}\n"
            f"Model ID:     {model}\n",
        ),
        Snippet(
            "codex",
            "Codex CLI",
            "~/.codex/config.toml (then: export ATLAS_API_KEY=...)",
            f'model = "{model}"\n'
            'model_provider = "atlas"\n\n'
            "[model_providers.atlas]\n"
            'name = "ATLAS"\n'
            f'base_url = "{base_url}"\n'
            'env_key = "ATLAS_API_KEY"\n'
            'wire_api = "responses"  # POST /v1/responses\n\n'
            f"# export ATLAS_API_KEY={key}\n",
        ),
    ]
