"""Talking to a Pinecone index: the key, the address, 429 back-off, batched writes, errors as one line.

The ``pinecone`` SDK (imported on first use: it is slow to import) retries 5xx itself but not
429, so every call here goes through :meth:`PineconeConnection.call`, which backs off on 429
(doubling from ``backoff_s``, ``retries`` times) and turns whatever is left into a
:class:`~ragkit.errors.RemoteIndexError` that names the setting to fix. The API key is read from
``PINECONE_API_KEY`` only and never appears in a message (messages are ragkit's own, not the SDK's).

Writes respect the service limits: an upsert carries at most ``batch_records`` records and at
most ``batch_mb`` MB of JSON; fetch and delete at most ``ID_BATCH`` ids. Upserts skip the SDK's
per-value type check (``_check_type=False``): ragkit builds the records itself (Python floats,
flat metadata) and the check cost most of an ingest's client time (benchmarks/backends.py pinecone).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ragkit.errors import RemoteIndexError
from ragkit.extras import require_base_package

KEY_VARIABLE = "PINECONE_API_KEY"
HOST_VARIABLE = "PINECONE_HOST"
ID_BATCH = 200          # ids per fetch (they ride in the URL) and per delete (the service allows 1,000)
MAX_METADATA_BYTES = 40 * 1024
VISIBLE_SAMPLE = 200    # ids fetched to decide that an ingest's records are visible (one fetch request)
BACKOFF_CAP_S = 30.0


@dataclass(frozen=True)
class PineconeTarget:
    """Where records go: the index (by host, or by name), the namespace, and how to behave."""

    host: str | None
    index_name: str | None
    namespace: str
    metric: str = "cosine"
    adopt: bool = False
    batch_records: int = 200
    batch_mb: float = 2.0
    retries: int = 8
    backoff_s: float = 0.5
    visible_timeout_s: float = 60.0

    @classmethod
    def from_options(cls, options: dict) -> "PineconeTarget":
        """From the ``pinecone:`` config section (as a dict); the host falls back to ``$PINECONE_HOST``."""
        fields = {k: v for k, v in options.items() if k in cls.__dataclass_fields__}
        fields["host"] = fields.get("host") or os.environ.get(HOST_VARIABLE) or None
        if not fields["host"] and not fields.get("index_name"):
            raise RemoteIndexError(f"no Pinecone index given: set pinecone.host (or ${HOST_VARIABLE}) "
                                   "or pinecone.index_name in the config")
        return cls(**fields)

    def where(self) -> str:
        """The index and namespace, for messages and ``ragkit info`` (no key)."""
        return f"{self.host or self.index_name} namespace {self.namespace!r}"


def api_key() -> str:
    """The key from ``PINECONE_API_KEY``; RemoteIndexError when it is not set."""
    key = os.environ.get(KEY_VARIABLE, "").strip()
    if not key:
        raise RemoteIndexError(f"the Pinecone backend needs an API key: set {KEY_VARIABLE}")
    return key


class PineconeConnection:
    """One SDK ``Index`` with back-off and ragkit's error messages around every call."""

    def __init__(self, target: PineconeTarget):
        self.target = target
        self.requests = 0
        self._index = None

    @property
    def index(self):
        """The SDK's Index (built on first use; a name is resolved through the control plane)."""
        if self._index is None:
            require_base_package("pinecone", "dense.backend / sparse.backend: pinecone")
            from pinecone import Pinecone

            client = Pinecone(api_key=api_key(), source_tag="ragkit")
            if self.target.host:
                self._index = client.Index(host=self.target.host)
            else:
                self._index = self.call("looking up the index", lambda: client.Index(name=self.target.index_name))
        return self._index

    @property
    def host(self) -> str:
        """The data-plane address in use (resolved from the name when only a name was given)."""
        return self.target.host or str(self.index.config.host)

    def call(self, what: str, request: Callable[[], object]) -> object:
        """Run ``request``; back off on 429; RemoteIndexError (one line, no key) for any other failure."""
        from pinecone.exceptions import PineconeApiException, PineconeException

        delay = self.target.backoff_s
        for attempt in range(self.target.retries + 1):
            self.requests += 1
            try:
                return request()
            except PineconeApiException as exc:
                if exc.status == 429 and attempt < self.target.retries:
                    time.sleep(min(BACKOFF_CAP_S, delay) * (0.5 + random.random() / 2))
                    delay *= 2
                    continue
                raise self._error(what, exc.status, _api_message(exc)) from None
            except PineconeException as exc:
                raise self._error(what, None, type(exc).__name__) from None
            except Exception as exc:  # connection errors after the SDK's own retries (urllib3's, or its ProtocolError)
                if type(exc).__module__.split(".")[0] not in ("urllib3", "http", "socket", "ssl", "pinecone"):
                    raise
                raise self._error(what, None, _unreachable(exc)) from None
        raise AssertionError("unreachable")

    def _error(self, what: str, status: int | None, detail: str) -> RemoteIndexError:
        where = self.target.where()
        if status in (401, 403):
            return RemoteIndexError(f"Pinecone refused the API key while {what} ({where}): check {KEY_VARIABLE}")
        if status == 404:
            return RemoteIndexError(f"Pinecone has no such index while {what} ({where}): check pinecone.host, "
                                    f"${HOST_VARIABLE} or pinecone.index_name")
        if status == 429:
            return RemoteIndexError(f"Pinecone kept rate-limiting (429) after {self.target.retries} back-offs while "
                                    f"{what} ({where}); re-run the ingest later (it resumes), or raise pinecone.retries")
        code = f"HTTP {status}: " if status else ""
        return RemoteIndexError(f"Pinecone failed while {what} ({where}): {code}{detail}")

    # ----------------------------------------------------------------- requests

    def stats(self) -> dict:
        """describe_index_stats as a plain dict (dimension, metric, vectorType, namespaces' counts)."""
        answer = self.call("reading the index statistics", lambda: self.index.describe_index_stats())
        return answer.to_dict()

    def namespace_count(self, stats: dict | None = None) -> int:
        """Records in the namespace (as the statistics see them: eventually consistent)."""
        stats = stats if stats is not None else self.stats()
        return int((stats.get("namespaces") or {}).get(self.target.namespace, {}).get("vector_count", 0))

    def upsert(self, records: list[dict]) -> int:
        """Upsert ``records`` (SDK dicts) in batches within the limits; returns the number of requests."""
        batches = 0
        for batch in batches_within_limits(records, self.target.batch_records, int(self.target.batch_mb * 1e6)):
            self.call("upserting records", lambda b=batch: self.index.upsert(
                vectors=b, namespace=self.target.namespace, show_progress=False, _check_type=False))
            batches += 1
        return batches

    def delete(self, ids: Iterable[str]) -> None:
        """Delete records by id, ``ID_BATCH`` at a time (ids that are not there are fine)."""
        ids = list(ids)
        for start in range(0, len(ids), ID_BATCH):
            part = ids[start : start + ID_BATCH]
            self.call("deleting records", lambda p=part: self.index.delete(ids=p, namespace=self.target.namespace))

    def fetch(self, ids: list[str]) -> dict:
        """id -> SDK Vector for the ids that are visible, ``ID_BATCH`` per request."""
        found: dict = {}
        for start in range(0, len(ids), ID_BATCH):
            part = ids[start : start + ID_BATCH]
            answer = self.call("fetching records", lambda p=part: self.index.fetch(ids=p, namespace=self.target.namespace))
            found.update(answer.vectors)
        return found

    def list_ids(self) -> Iterator[str]:
        """Every id in the namespace, page by page."""
        token = None
        while True:
            page = self.call("listing records", lambda t=token: self.index.list_paginated(
                limit=100, pagination_token=t, namespace=self.target.namespace))
            yield from (v.id for v in page.vectors)
            if not page.pagination or not page.pagination.next:
                return
            token = page.pagination.next

    def wait_visible(self, ids: list[str]) -> None:
        """Return once a sample of ``ids`` can be fetched; RemoteIndexError after ``visible_timeout_s``.

        The sample (:func:`visibility_sample`) is the last ids written (the likeliest to lag) and
        ids spread over the rest: one fetch request instead of one per 200 records.
        """
        ids = visibility_sample(ids)
        missing = list(ids)
        deadline = time.monotonic() + self.target.visible_timeout_s
        pause = 0.05
        while missing:
            found = self.fetch(missing)
            missing = [i for i in missing if i not in found]
            if not missing:
                return
            if time.monotonic() > deadline:
                raise RemoteIndexError(f"{len(missing)} of {len(ids)} records upserted to Pinecone "
                                       f"({self.target.where()}) were still not visible after "
                                       f"{self.target.visible_timeout_s:g} s; the live index is unchanged: re-run "
                                       "the ingest, or raise pinecone.visible_timeout_s")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def visibility_sample(ids: list[str], size: int = VISIBLE_SAMPLE) -> list[str]:
    """At most ``size`` of ``ids``: the last quarter of the sample from the end, the rest evenly spread."""
    if len(ids) <= size:
        return list(ids)
    tail = size // 4
    head = ids[:-tail]
    step = len(head) / (size - tail)
    return [head[int(n * step)] for n in range(size - tail)] + ids[-tail:]


def _unreachable(exc: Exception) -> str:
    """What a connection-level failure says, without the request (urllib3's message names the URL, never the key)."""
    reason = getattr(exc, "reason", None)
    if reason is not None and "too many" in str(reason):   # urllib3 gave up on 5xx answers after the SDK's retries
        return f"the service kept failing after the SDK's retries ({str(reason)[:80]})"
    return f"cannot reach it ({type(exc).__name__})"


def _api_message(exc) -> str:
    """Pinecone's own error message from the body (never the request, which holds the key)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return f"{exc.reason}"
    message = body.get("message") or (body.get("error") or {}).get("message") or exc.reason
    return str(message)[:200]


def batches_within_limits(records: list[dict], max_records: int, max_bytes: int) -> Iterator[list[dict]]:
    """Consecutive batches of at most ``max_records`` records and about ``max_bytes`` of JSON each.

    The size is measured as the JSON the SDK sends (camelCase keys add a few bytes; the margin
    of 4 KB per request covers them and the envelope).
    """
    batch: list[dict] = []
    size = 4096
    for record in records:
        record_size = len(json.dumps(record, separators=(",", ":"))) + 16
        if batch and (len(batch) >= max_records or size + record_size > max_bytes):
            yield batch
            batch, size = [], 4096
        batch.append(record)
        size += record_size
    if batch:
        yield batch


def record_metadata(metadata: dict, text: str, owner: str) -> dict:
    """Metadata for a Pinecone record: flat values only (no nulls, lists of strings), within 40 KB.

    The chunk text rides in ``text`` (what PineconeVectorStore reads) unless it would push the
    record over 40 KB: then ``text`` is empty and ``text_in_docstore`` is true. ragkit always
    reads text from its docstore, so nothing is lost; the record is not truncated silently.
    """
    flat = {key: value for key, value in metadata.items() if _flat(value)}
    flat.update({"text": text, "ragkit_owner": owner})
    if len(json.dumps(flat, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        flat.update({"text": "", "text_in_docstore": True})
    while len(json.dumps(flat, separators=(",", ":")).encode()) > MAX_METADATA_BYTES:
        largest = max((k for k in flat if k not in ("chunk_id", "source", "doc_id", "ragkit_owner")),
                      key=lambda k: len(json.dumps(flat[k])))
        del flat[largest]
    return flat


def _flat(value: object) -> bool:
    if isinstance(value, list):
        return all(isinstance(v, str) for v in value)
    return isinstance(value, (str, int, float, bool)) and not isinstance(value, type(None))
