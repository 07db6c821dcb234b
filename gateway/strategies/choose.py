"""Which strategy answers a call: pass-through (k=1), best-of-k (k > 1, or k = 1 with
`"atlas": {"repair": n}`: one candidate, verified and repaired), or, for a model of type
`router` (the default) and a code call the client did not force, the router
(`strategies/router/`), which picks k by difficulty (docs/routing.md).

k comes from the client (`"atlas": {"k": n}` or `x-atlas-k`), capped by the model's
strategy settings, else from the model's strategy; then capped by the caller's API key
(`max_k`), whichever way it came. Only chat calls that look like a
code task run best-of-k unless the client forced it: tool calls and prose answers
cannot be verified, and neither can a client's background tasks (titles, commit
messages, summaries) or plain chat: `looks_like_code_call`, measured on the labelled
requests of tests/data/code_requests.json (docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from config import BestOfKSettings, RouterSettings
from gateway.strategies.base import Call, Message, Strategy
from gateway.strategies.best_of_k.strategy import BestOfKStrategy, BestOfKTools
from gateway.strategies.errors import InvalidCallError
from gateway.strategies.passthrough import PassThrough
from gateway.strategies.router.strategy import RouterStrategy, RouterTools

# A request that asks for code: best-of-k only helps when candidates can be run.
# Read lower-cased, each alternative starting with its literal (a `\b` before it is
# checked behind it): re then skips fast to a possible start, about 3 ms a megabyte
# where a leading `\b` under IGNORECASE took 150 to 500. Only the first and last
# CODE_SCAN_CHARS of a longer prompt are read.
_CODE_REQUEST = re.compile(
    r"```|c\+\+(?<=\bc\+\+)|def(?<=\bdef) \w+\(|function(?<=\bfunction)\b|class(?<=\bclass) \w+"
    r"|implement(?<=\bimplement)"
    r"|write(?<=\bwrite) (a|an|the)? ?(python|program|function|script|code)"
    r"|code(?<=\bcode)\b|python(?<=\bpython)\b|javascript(?<=\bjavascript)\b"
    r"|return(?<=\breturn)s?\b"
)
CODE_SCAN_CHARS = 64 * 1024


def looks_like_code_request(text: str) -> bool:
    """Any code-ish word or sign anywhere (the detector before tests/data/code_requests.json;
    kept for its callers and as the benchmark's baseline)."""
    return _CODE_REQUEST.search(_ends(text).lower()) is not None


def _ends(text: str) -> str:
    if len(text) > 2 * CODE_SCAN_CHARS:
        return text[:CODE_SCAN_CHARS] + "\n" + text[-CODE_SCAN_CHARS:]
    return text


# An ask for code: one sign that is code or asks for it (`strong`), or two different
# code words (`weak`: "python" alone is a snake, "return" a policy, "code" of conduct).
# Bounded gaps only ({0,40}), so each start costs at most a few dozen steps.
_CODE_ASK = re.compile(
    r"(?P<strong>```|def(?<=\bdef) \w+\(|class(?<=\bclass) \w+ ?[:(]"
    r"|(?:write(?<=\bwrite)|implement(?<=\bimplement)|create(?<=\bcreate)|build(?<=\bbuild)"
    r"|give(?<=\bgive) me)[^.\n?!]{0,40}?(?<!\w)(?:function|program|script|class|method|code"
    r"|solution|tests?|endpoint|parser)(?!\w)"
    r"|fix(?<=\bfix) (?:this|the|my) (?:bug|code|function|test|error)|refactor(?<=\brefactor))"
    r"|(?P<weak>(?:python|javascript|typescript|java|rust|golang|sql|function|code|returns?"
    r"|implement|algorithm|regex|class)(?!\w)|c\+\+)"
)
# Every match of _CODE_ASK contains one of these: a prose request that holds none (most
# plain chat) is told apart by a few substring searches, 6x faster than the regex.
_CODE_ASK_LITERALS = (
    "```", "def ", "class", "write", "implement", "create", "build", "give me", "fix ",
    "refactor", "python", "java", "typescript", "rust", "golang", "sql", "function", "code",
    "return", "algorithm", "regex", "c++",
)  # fmt: skip
# Requests clients send on their own (CLIENTS.md): session titles (opencode), Open
# WebUI's "### Task:" prompts (title, tags, follow-ups, queries, autocomplete), commit
# messages (aider), conversation summaries and compaction. Read in the instructions
# (system/developer messages) or at the start of the last user message, never in
# pasted material, so "write a function that formats a commit message" stays code.
_TASK_INSTRUCTION = re.compile(
    r"title generator|(?:generate|create|write|suggest)(?: \S+){0,4} title(?!\w)"
    r"|commit message|summari[sz]e(?: \S+){0,3} conversation|summary of(?: \S+){0,2} conversation"
    r"|follow-up questions|### task:"
)
_TASK_REQUEST = re.compile(
    r"\s*(?:### task:|(?:please )?summari[sz]e (?:this|the|our|above)"
    r" (?:conversation|chat|discussion|thread|session)"
    r"|(?:write|generate) (?:a |the )?commit message for|generate a title"
    r"|provide a detailed prompt for continuing)"
)
INSTRUCTION_CHARS = 4096  # the head of each instruction that is read for a task
REQUEST_CHARS = 512  # the head of the last user message


def looks_like_code_call(messages: Sequence[Message]) -> bool:
    """Whether a chat asks for code that best-of-k can verify: not a client's background
    task, and a code ask in the conversation (system prompts aside: a coding agent's
    says "write code" on every turn)."""
    if looks_like_background_task(messages):
        return False
    text = "\n".join(_text(m.content) for m in messages if m.role not in ("system", "developer"))
    lowered = _ends(text).lower()
    if not _any_literal(lowered):
        return False
    weak: set[str] = set()
    for match in _CODE_ASK.finditer(lowered):
        if match.lastgroup == "strong":
            return True
        weak.add(match.group().removesuffix("s"))
        if len(weak) > 1:
            return True
    return False


def _any_literal(text: str) -> bool:
    for literal in _CODE_ASK_LITERALS:
        if literal in text:
            return True
    return False


def looks_like_background_task(messages: Sequence[Message]) -> bool:
    last_user = ""
    for message in messages:
        if message.role in ("system", "developer"):
            head = _text(message.content)[:INSTRUCTION_CHARS].lower()
            if _TASK_INSTRUCTION.search(head):
                return True
        elif message.role == "user":
            last_user = _text(message.content)
    return _TASK_REQUEST.match(last_user[:REQUEST_CHARS].lower()) is not None


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


MAX_K_CAP = 1 << 30  # no key cap: the model's max_k applies


def requested_k(call: Call, settings: BestOfKSettings) -> tuple[int, bool]:
    """(k, forced): the client's override, capped by config, or the model's default."""
    forced = call.controls.k
    if forced is None:
        return settings.k, False
    if forced < 1:
        raise InvalidCallError("atlas.k must be at least 1", param="atlas.k", code="invalid_value")
    return min(forced, settings.max_k), True


def use_best_of_k(call: Call, k: int, forced: bool) -> bool:
    # k = 1 with repair asked for: the client's own answer, verified, repaired if it fails.
    if k < 1 or (k == 1 and not call.controls.repair):
        return False
    if call.n > 1:
        raise InvalidCallError(
            "n > 1 cannot be combined with best-of-k (atlas.k > 1)", param="n", code="invalid_value"
        )
    if forced:
        return True
    return not call.has_tools and looks_like_code_call(call.messages)


def is_agentic(messages: Sequence[Message]) -> bool:
    """A turn of an agent loop: tool results in the conversation."""
    return any(m.role in ("tool", "function") for m in messages)


def routable(call: Call) -> bool:
    """Whether the router may pick this call's k: one answer asked for a code task, no
    tools, no agent loop, no background task (titles, commit messages, summaries)."""
    return (
        call.n == 1
        and not call.has_tools
        and not is_agentic(call.messages)
        and looks_like_code_call(call.messages)
    )


@dataclass(frozen=True, slots=True)
class Strategies:
    """The process's strategies, built once by the composition root."""

    pass_through: PassThrough
    best_of_k: BestOfKTools
    router: RouterTools | None = None  # None: a model of type "router" passes through

    def choose(self, call: Call, max_k: int | None = None) -> Strategy:
        """The strategy for `call`; `max_k`: the most candidates its API key allows."""
        if call.endpoint != "chat":
            return self.pass_through
        settings = call.model.best_of_k
        k, forced = requested_k(call, settings)
        if max_k is not None:
            k = max(1, min(k, max_k))
        strategy = call.model.settings.strategy
        if not forced and isinstance(strategy, RouterSettings):
            if self.router is None or not routable(call):
                return self.pass_through
            return RouterStrategy(self.router, strategy, MAX_K_CAP if max_k is None else max_k)
        if use_best_of_k(call, k, forced):
            return BestOfKStrategy(self.best_of_k, k, settings)
        return self.pass_through
