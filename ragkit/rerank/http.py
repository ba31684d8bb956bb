"""``search.rerank: http``: the ``/rerank`` endpoint that Cohere, Jina, Voyage, Hugging Face TEI, vLLM and llama.cpp's server speak.

Requests (``rerank.api``): ``cohere`` sends ``{"model", "query", "documents", "top_n"}`` (Cohere v2,
Jina, vLLM, llama.cpp, Together); ``voyage`` the same with ``top_k``; ``tei`` sends ``{"query",
"texts"}``. ``model`` is left out when ``rerank.model`` is not set (TEI, llama.cpp and vLLM serve one
model). Every answer shape is read, whatever was sent: ``{"results": [{"index", "relevance_score"}]}``
(Cohere, Jina, vLLM, llama.cpp), ``{"data": [...]}`` (Voyage), or TEI's bare list of ``{"index",
"score"}``; every text must come back exactly once.

Built from the stdlib (urllib): nothing is contacted until the first call. 429 and 5xx are retried
``rerank.retries`` times with doubling back-off (a ``Retry-After`` of a few seconds is honoured), as
the OpenAI client does for the chat backend; everything else is a :class:`RerankError` of one line
that names the setting to fix. The key is read from the variable ``rerank.api_key_env`` names, sent
as ``Authorization: Bearer``, and never appears in an id, a repr or a message.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

from ragkit.config import RerankConfig
from ragkit.errors import RerankError
from ragkit.rerank.base import Reranker

BACKOFF_CAP_S = 10.0
EXAMPLES = "TEI http://localhost:8080/rerank, llama.cpp or vLLM http://localhost:8000/v1/rerank, " \
           "Cohere https://api.cohere.com/v2/rerank"


def redact_url(url: str) -> str:
    """The URL without ``user:password@`` or a query string, which may carry credentials."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


def build_http(cfg: RerankConfig) -> "HttpReranker":
    """``search.rerank: http``: the endpoint at ``rerank.url``; a missing url or key variable is an error now."""
    if not cfg.url:
        raise RerankError(f"search.rerank is 'http' but rerank.url is not set (for example {EXAMPLES})")
    if urlsplit(cfg.url).scheme not in ("http", "https"):
        raise RerankError(f"rerank.url must start with http:// or https:// (got {redact_url(cfg.url)!r})")
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env, "").strip():
        raise RerankError(f"rerank.api_key_env names ${cfg.api_key_env}, which is not set")
    return HttpReranker(cfg)


class HttpReranker(Reranker):
    """One ``/rerank`` endpoint; see the module doc for the request and response shapes."""

    remote = True

    def __init__(self, cfg: RerankConfig):
        self.cfg = cfg
        self.where = redact_url(cfg.url or "")
        self.model_id = f"http:{cfg.model or 'served model'}@{self.where}"
        self.requests = 0

    def rerank(self, query: str, texts: Sequence[str]) -> list[float]:
        """One score per text (the endpoint's relevance scores), in the order of ``texts``."""
        if not texts:
            return []
        answer = self._post(self._body(query, list(texts)))
        return self._scores(answer, len(texts))

    def _body(self, query: str, texts: list[str]) -> dict:
        if self.cfg.api == "tei":
            return {"query": query, "texts": texts}
        body: dict[str, Any] = {"model": self.cfg.model} if self.cfg.model else {}
        body.update(query=query, documents=texts)
        body["top_k" if self.cfg.api == "voyage" else "top_n"] = len(texts)
        return body

    def _key(self) -> str | None:
        return os.environ.get(self.cfg.api_key_env, "").strip() or None if self.cfg.api_key_env else None

    def _post(self, body: dict) -> Any:
        """POST ``body``; back off on 429 and 5xx; the parsed JSON answer, or RerankError."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        data = json.dumps(body).encode("utf-8")
        delay = self.cfg.backoff_s
        for attempt in range(self.cfg.retries + 1):
            self.requests += 1
            request = urllib.request.Request(self.cfg.url or "", data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as exc:
                detail = _read_detail(exc)
                if (exc.code == 429 or exc.code >= 500) and attempt < self.cfg.retries:
                    time.sleep(_pause(exc.headers.get("Retry-After"), delay))
                    delay *= 2
                    continue
                raise self._http_error(exc.code, detail, key) from None
            except (TimeoutError, socket.timeout):
                raise RerankError(f"the reranker at {self.where} did not answer within {self.cfg.timeout_s:g} s "
                                  "(check the server, or raise rerank.timeout_s)") from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if isinstance(reason, (TimeoutError, socket.timeout)):
                    raise RerankError(f"the reranker at {self.where} did not answer within {self.cfg.timeout_s:g} s "
                                      "(check the server, or raise rerank.timeout_s)") from None
                raise RerankError(f"cannot reach the reranker at {self.where} (check rerank.url, or the server)") from None
            return self._parse(raw)
        raise AssertionError("unreachable")

    def _parse(self, raw: bytes) -> Any:
        try:
            return json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise RerankError(f"the reranker at {self.where} answered something that is not JSON "
                              f"(check rerank.url: it must be the /rerank endpoint, e.g. {EXAMPLES})") from None

    def _http_error(self, status: int, detail: str, key: str | None) -> RerankError:
        detail = _scrub(detail, key)
        said = f": {detail}" if detail else ""
        if status in (401, 403):
            fix = f"check ${self.cfg.api_key_env}" if self.cfg.api_key_env else "it may need a key: set rerank.api_key_env"
            return RerankError(f"the reranker at {self.where} refused the request (HTTP {status}; {fix})")
        if status == 404:
            return RerankError(f"the reranker at {self.where} answered HTTP 404 (check rerank.url, e.g. {EXAMPLES}; "
                               f"and rerank.model){said}")
        if status == 429:
            return RerankError(f"the reranker at {self.where} kept rate-limiting (HTTP 429) after {self.cfg.retries} "
                               "retries (retry later, or raise rerank.retries)")
        if status >= 500:
            return RerankError(f"the reranker at {self.where} answered HTTP {status} after {self.cfg.retries} retries "
                               f"(check the server){said}")
        return RerankError(f"the reranker at {self.where} refused the request (HTTP {status}; check rerank.model and "
                           f"rerank.api: tei sends {{query, texts}}, cohere {{model, query, documents}}; or lower "
                           f"search.rerank_candidates){said}")

    def _scores(self, answer: Any, count: int) -> list[float]:
        """Scores by index from any known answer shape; every index 0..count-1 exactly once."""
        items = answer.get("results", answer.get("data")) if isinstance(answer, dict) else answer
        if not isinstance(items, list):
            raise RerankError(f"the reranker at {self.where} answered JSON of an unknown shape (expected "
                              '{"results": [{"index", "relevance_score"}]} or TEI\'s [{"index", "score"}])')
        scores: dict[int, float] = {}
        for item in items:
            index = item.get("index") if isinstance(item, dict) else None
            score = item.get("relevance_score", item.get("score")) if isinstance(item, dict) else None
            if isinstance(index, bool) or not isinstance(index, int) or isinstance(score, bool) \
                    or not isinstance(score, (int, float)):
                raise RerankError(f"the reranker at {self.where} answered a result without an integer index and "
                                  f"a numeric relevance_score (or score): {_short(item)}")
            if not 0 <= index < count or index in scores:
                what = "twice" if index in scores else f"out of range for {count} texts"
                raise RerankError(f"the reranker at {self.where} answered index {index} {what}")
            scores[index] = float(score)
        missing = [i for i in range(count) if i not in scores]
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (", …" if len(missing) > 10 else "")
            raise RerankError(f"the reranker at {self.where} scored {len(scores)} of {count} texts (missing indexes "
                              f"{shown}; does the server cap top_n?)")
        return [scores[i] for i in range(count)]


def _pause(retry_after: str | None, delay: float) -> float:
    """Seconds to wait before the next try: the server's ``Retry-After`` when it is a small number, else ``delay`` with jitter."""
    try:
        asked = float(retry_after) if retry_after else None
    except ValueError:
        asked = None
    if asked is not None and 0 <= asked <= BACKOFF_CAP_S:
        return asked
    return min(BACKOFF_CAP_S, delay) * (0.5 + random.random() / 2)


def _read_detail(exc: urllib.error.HTTPError) -> str:
    """The error body's message (``{"error": {"message"}}``, ``{"message"}``, ``{"detail"}``, ``{"error": "…"}``) or its text."""
    try:
        text = exc.read().decode("utf-8", "replace")
    except OSError:
        return ""
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(body, dict):
        error = body.get("error")
        found = error.get("message") if isinstance(error, dict) else error
        return str(found or body.get("message") or body.get("detail") or text)
    return text


def _scrub(text: str, key: str | None) -> str:
    """``text`` on one short line, without the key."""
    if key:
        text = text.replace(key, "***")
    return " ".join(text.split())[:200]


def _short(item: Any) -> str:
    return " ".join(json.dumps(item, default=str).split())[:120]
