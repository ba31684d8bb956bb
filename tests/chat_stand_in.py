"""A scripted OpenAI-compatible chat model for :class:`stand_in.StandIn`: it tells which of ragkit's prompts it was
sent and answers it the way a capable model would (or as a test's script says).

``chat_reply(script)`` is a StandIn ``reply`` function for ``POST …/chat/completions``: ``script(kind, body)``
returns the reply's text, or a full ``(status, payload)`` (an HTTP 500, say). ``capable(kind, body)`` is the
default script. ``kind_of(body)`` names the prompt: one of :data:`KINDS`, or ``"unknown"``.

The kinds are recognised by the product's own prompt texts (imported, not copied), so a prompt that is
reworded is still recognised, and one that stops being sent is missed by the tests that count kinds.
Streaming requests (``"stream": true``) get server-sent events, as an OpenAI server sends them.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

from ragkit.generation import ircot as ircot_prompts
from ragkit.generation import prompts as chain_prompts
from ragkit.retrieval import transform_prompts as tp

KINDS = ("rewrite", "hyde", "step-back", "decompose", "self-query", "ircot", "answer")
"""What each prompt asks for: rephrasings (multi-query, rag-fusion), a passage (hyde), a topic (step-back),
sub-questions (decompose), a filter (self-query), a reasoning sentence (ircot), a cited answer (the stuff chain)."""

# The few-shot turns show made-up questions; the real one is in the last user message.
_STOP = frozenset("a an the of in on at to for by and or is are was were be did do does what which who how "
                  "when where why with from its it their this that these those have has had many much "
                  "about say says said report reports".split())


def kind_of(body: dict) -> str:
    """Which of ragkit's prompts ``body`` (a chat completions request) holds, or ``"unknown"``."""
    messages = body.get("messages") or []
    system = _text(messages[0]) if messages and messages[0].get("role") == "system" else ""
    last = _text(messages[-1]) if messages else ""
    if system == tp.SELF_QUERY_SYSTEM:
        return "self-query"
    if system == ircot_prompts.SYSTEM:
        return "ircot"
    if system == chain_prompts.SYSTEM:
        return "answer"
    for kind, (what, task) in tp.TASKS.items():
        if system.startswith(tp.SYSTEM.split("{")[0]) and re.match(_template(task), last):
            return kind
    return "unknown"


def question_of(body: dict) -> str:
    """The question a request is about: between <question> tags, else after ``Question:`` (its first line)."""
    last = _text(body["messages"][-1])
    tagged = re.search(r"<question>\n(.*?)\n</question>", last, re.S)
    if tagged:
        return tagged.group(1).strip()
    asked = re.search(r"\nQuestion: (.*)", last)
    return asked.group(1).strip() if asked else ""


def sources_of(body: dict) -> list[tuple[int, str]]:
    """The numbered sources of an answer or IRCoT prompt: ``[(n, text), …]``."""
    last = _text(body["messages"][-1])
    return [(int(n), text.strip()) for n, text in re.findall(r'<source id="(\d+)"[^>]*>\n(.*?)\n</source>', last, re.S)]


def words(text: str) -> list[str]:
    """The content words of ``text``, lower case, in order (no question words, no stop words)."""
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1]


# --------------------------------------------------------------------------- a capable model


def capable(kind: str, body: dict) -> str:
    """What a model that follows the prompt writes for ``kind``."""
    question = question_of(body)
    core = " ".join(words(question)) or question
    if kind == "rewrite":
        n = int(re.search(r"Write (\d+) different ways", _text(body["messages"][-1])).group(1))
        shapes = ["What do the documents say about {}?", "Which report gives {}?", "Where is {} stated?",
                  "Find the figure for {}.", "Look up {}."]
        return json.dumps({"queries": [shape.format(core) for shape in shapes[:n]]})
    if kind == "hyde":
        return (f"The annual report gives the figure for {core}. It states the number plainly in its summary. "
                "Later sections compare it with the year before.")
    if kind == "step-back":   # the company the question names, else its first words
        names = re.findall(r"(?<!^)\b[A-Z][a-z]+", question) or words(question)[:1]
        return json.dumps({"topic": names[0]})
    if kind == "decompose":
        return json.dumps({"questions": [f"Which report covers {core}?", f"What figure is given for {core}?"]})
    if kind == "self-query":
        return json.dumps(_self_query(question, body))
    if kind == "ircot":
        return _reasoning(question, body)
    if kind == "answer":
        return _answer(question, body)
    raise AssertionError(f"the stand-in was sent a prompt it does not know: {json.dumps(body)[:300]}")


def _self_query(question: str, body: dict) -> dict:
    """The search words and a filter on the one file whose name's words the question holds the most of.

    Honours ``response_format``: when a JSON schema is sent, the file is one of its ``source`` values
    (an enum of the index's own); otherwise the file names are read from the prompt's field list.
    """
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema")
    if schema is not None:
        values = schema["properties"]["filter"]["properties"].get("source", {}).get("enum", [])
    else:
        listed = re.search(r"^source \(text\): (.*)$", _text(body["messages"][-1]), re.M)
        values = re.findall(r'"([^"]+)"', listed.group(1)) if listed else []
    asked = set(words(question))
    scored = sorted(((len(asked & set(words(v.rsplit(".", 1)[0]))), v) for v in values), reverse=True)
    chosen = scored[0][1] if scored and scored[0][0] and (len(scored) == 1 or scored[1][0] < scored[0][0]) else None
    named = set(words(chosen.rsplit(".", 1)[0])) if chosen else set()
    query = " ".join(w for w in words(question) if w not in named) or question
    return {"query": query, "filter": {"source": chosen} if chosen else {}}


def _stems(text: str) -> set[str]:
    """Words cut to four letters: "moved" meets "move", "offices" "office"."""
    return {w[:4] for w in words(text)}


def _best_sentence(question: str, body: dict) -> tuple[int, str] | None:
    """The source sentence sharing the most words with the question (the longer of two that share as many: a
    title shares the names but states nothing), and its source's number."""
    asked = _stems(question)
    best = None
    for n, text in sources_of(body):
        for sentence in re.split(r"(?<=[.!?])\s+", " ".join(text.split())):
            score = (len(asked & _stems(sentence)), len(sentence))
            if sentence.strip() and (best is None or score > best[0]):
                best = (score, n, sentence.strip())
    return (best[1], best[2]) if best else None


def _reasoning(question: str, body: dict) -> str:
    """Step 1: the fact that leads to the answer; later steps: "So the answer is …", which ends IRCoT's loop."""
    found = _best_sentence(question, body)
    if found is None:
        return "The sources do not mention it."
    fact = found[1].rstrip(".")
    return f"So the answer is in the sources: {fact}." if "Reasoning so far:" in _text(body["messages"][-1]) else f"{fact}."


def _answer(question: str, body: dict) -> str:
    """The best-matching source sentence, cited; the refusal when no source shares a word with the question."""
    found = _best_sentence(question, body)
    if found is None or not _stems(question) & _stems(found[1]):
        return chain_prompts.NO_ANSWER
    n, sentence = found
    return f"{sentence.rstrip('.')} [{n}]."


# --------------------------------------------------------------------------- the HTTP side


Script = Callable[[str, dict], Any]


def chat_reply(script: Script = capable) -> Callable[[str, Any], tuple]:
    """A StandIn ``reply`` for chat completions: ``script(kind, body)`` gives the text (or a whole reply)."""
    def reply(path: str, body: Any) -> tuple:
        if not path.endswith("/chat/completions") or not isinstance(body, dict):
            return 404, {"error": {"message": f"no route {path}"}}
        said = script(kind_of(body), body)
        if isinstance(said, tuple):
            return said
        return completion(body, str(said))
    return reply


def completion(body: dict, content: str) -> tuple:
    """``(status, payload, headers)`` of a chat completion answering ``body`` with ``content`` (streamed when asked)."""
    model = body.get("model", "stand-in")
    usage = {"prompt_tokens": sum(len(_text(m).split()) for m in body.get("messages", [])),
             "completion_tokens": len(content.split())}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    if not body.get("stream"):
        return 200, {"id": "c", "object": "chat.completion", "created": 0, "model": model, "usage": usage,
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": content}}]}
    pieces = re.findall(r"\S+\s*|\s+", content) or [""]
    events = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece}, "finish_reason": None}]}
              for piece in pieces]
    events.append({"id": "c", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    data = "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"
    return 200, data.encode(), {"Content-Type": "text/event-stream"}


def _text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _template(task: str) -> str:
    """A regex matching ``task`` formatted with any ``n``, at the start of a message."""
    return re.escape(task.format(n="\x00")).replace("\x00", r"\d+")
