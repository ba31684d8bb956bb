"""A local stand-in for Pinecone: the data-plane REST subset ragkit's client uses, plus control-plane describe/list.

Stdlib only (``http.server``, threaded), bound to 127.0.0.1, so the real ``pinecone`` SDK and
``langchain_pinecone.PineconeVectorStore`` run end to end without leaving the machine. Each index
gets its own port (its "host"); one more port answers the control plane (``GET /indexes``,
``GET /indexes/{name}``), which the SDK finds through ``PINECONE_CONTROLLER_HOST``.

It enforces the service limits the notes list (1,000 records and 2 MB per upsert, 40 KB of flat
metadata without nulls per record, 1,000 ids per fetch/delete, top_k <= 10,000, sparse queries on
dotproduct indexes only, dense vectors of the index's dimension with a non-zero value), checks the
``Api-Key`` header, logs every request (method, route, headers, body keys), and injects faults on
demand: an HTTP status (429, 503, ...), a delay, or a dropped connection, for the next n requests
to a route. ``visibility_lag`` makes upserted records invisible to reads for that many further
read requests (eventual consistency).
"""

from __future__ import annotations

import json
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

TEST_KEY = "test-key-5ecret"   # the key the tests' stand-ins expect (and must never see printed)
MAX_UPSERT_RECORDS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_IDS = 1000
MAX_TOP_K = 10_000
READ_ROUTES = ("/query", "/vectors/fetch", "/vectors/list", "/describe_index_stats")


@dataclass
class Fault:
    """What to do to the next ``count`` requests whose route starts with ``route``."""

    route: str
    count: int
    status: int | None = None
    delay_s: float = 0.0
    drop: bool = False


@dataclass
class Record:
    """One stored record; ``visible_after`` is the read count from which queries see it."""

    values: list[float] | None
    sparse: dict | None
    metadata: dict
    visible_after: int = 0


@dataclass
class StandInIndex:
    """One index: its description and its namespaces of records."""

    name: str
    dimension: int | None
    metric: str
    vector_type: str = "dense"
    namespaces: dict[str, dict[str, Record]] = field(default_factory=dict)
    server: ThreadingHTTPServer | None = None

    @property
    def host(self) -> str:
        """``http://127.0.0.1:PORT``, as the SDK accepts it."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def description(self) -> dict:
        """The control plane's answer for this index (host without a scheme, as Pinecone gives it)."""
        return {"name": self.name, "dimension": self.dimension, "metric": self.metric,
                "host": self.host, "vector_type": self.vector_type, "deletion_protection": "disabled",
                "spec": {"serverless": {"cloud": "aws", "region": "us-east-1"}},
                "status": {"ready": True, "state": "Ready"}}


class ApiError(Exception):
    """An error answer: HTTP status and Pinecone's error body."""

    def __init__(self, status: int, message: str, code: str = "INVALID_ARGUMENT"):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class PineconeStandIn:
    """The stand-in: indexes, the request log, faults. Use as a context manager or call close()."""

    def __init__(self, api_key: str = "test-key", visibility_lag: int = 0):
        self.api_key = api_key
        self.visibility_lag = visibility_lag
        self.indexes: dict[str, StandInIndex] = {}
        self.log: list[dict] = []
        self.faults: list[Fault] = []
        self.reads = 0
        self.lock = threading.RLock()
        self.control = self._serve(None)

    # ------------------------------------------------------------------ set-up

    def _serve(self, index: StandInIndex | None) -> ThreadingHTTPServer:
        handler = type("Handler", (_Handler,), {"standin": self, "index": index})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def control_host(self) -> str:
        """The control plane's address, for ``PINECONE_CONTROLLER_HOST``."""
        return f"http://127.0.0.1:{self.control.server_address[1]}"

    def create_index(self, name: str, dimension: int | None, metric: str = "cosine",
                     vector_type: str = "dense") -> StandInIndex:
        """A new empty index on its own port."""
        index = StandInIndex(name, dimension, metric, vector_type)
        index.server = self._serve(index)
        self.indexes[name] = index
        return index

    def inject(self, route: str, count: int = 1, *, status: int | None = None, delay_s: float = 0.0,
               drop: bool = False) -> None:
        """Make the next ``count`` requests to ``route`` (a prefix) fail, stall or drop."""
        with self.lock:
            self.faults.append(Fault(route, count, status, delay_s, drop))

    def close(self) -> None:
        """Stop every server."""
        for server in [self.control, *(i.server for i in self.indexes.values())]:
            server.shutdown()
            server.server_close()

    def __enter__(self) -> "PineconeStandIn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def records(self, index: str, namespace: str = "") -> dict[str, Record]:
        """Every record of a namespace, visible or not (for assertions)."""
        return dict(self.indexes[index].namespaces.get(namespace, {}))

    def routes(self) -> list[str]:
        """The logged ``METHOD route`` of every request, in order."""
        return [f"{entry['method']} {entry['route']}" for entry in self.log]

    def take_fault(self, route: str) -> Fault | None:
        """The fault for a request to ``route``, if one is armed (and count it down)."""
        with self.lock:
            for fault in self.faults:
                if route.startswith(fault.route) and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    standin: PineconeStandIn
    index: StandInIndex | None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # the request log is self.standin.log
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.perf_counter()
        url = urlparse(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.loads(raw) if raw else {}
        entry = {"method": method, "route": url.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body_keys": sorted(body) if isinstance(body, dict) else [],
                                 "bytes": len(raw), "body": body}
        self.standin.log.append(entry)
        fault = self.standin.take_fault(url.path)
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and fault.drop:
            self.close_connection = True
            self.connection.close()
            return
        try:
            if fault and fault.status:
                raise ApiError(fault.status, "injected fault", "RESOURCE_EXHAUSTED" if fault.status == 429 else "UNAVAILABLE")
            if self.headers.get("Api-Key") != self.standin.api_key:
                raise ApiError(401, "Invalid API Key", "UNAUTHENTICATED")
            if len(raw) > MAX_REQUEST_BYTES:
                raise ApiError(400, f"request size {len(raw)} exceeds the limit of {MAX_REQUEST_BYTES} bytes")
            query = {k: v for k, v in parse_qs(url.query).items()}
            with self.standin.lock:
                answer = self._route(method, url.path, body, query)
            self._send(200, answer)
            entry["server_s"] = time.perf_counter() - started   # the stand-in's own work, for benchmarks
        except ApiError as exc:
            self._send(exc.status, {"code": exc.status, "message": exc.message, "details": [],
                                    "error": {"code": exc.code, "message": exc.message}, "status": exc.status})

    def _send(self, status: int, answer: dict) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, route: str, body: dict, query: dict) -> dict:
        if self.index is None:
            return self._control(method, route)
        if route in READ_ROUTES:
            self.standin.reads += 1
        handlers = {("POST", "/vectors/upsert"): self._upsert, ("POST", "/query"): self._query,
                    ("POST", "/vectors/delete"): self._delete, ("POST", "/describe_index_stats"): self._stats,
                    ("GET", "/vectors/fetch"): self._fetch, ("GET", "/vectors/list"): self._list}
        handler = handlers.get((method, route))
        if handler is None:
            raise ApiError(404, f"no route {method} {route}", "NOT_FOUND")
        return handler(body, query)

    def _control(self, method: str, route: str) -> dict:
        if method == "GET" and route == "/indexes":
            return {"indexes": [i.description() for i in self.standin.indexes.values()]}
        if method == "GET" and route.startswith("/indexes/"):
            name = route.removeprefix("/indexes/")
            if name not in self.standin.indexes:
                raise ApiError(404, f"Resource {name} not found", "NOT_FOUND")
            return self.standin.indexes[name].description()
        raise ApiError(404, f"no route {method} {route}", "NOT_FOUND")

    # ------------------------------------------------------------------ data plane

    def _namespace(self, name: str) -> dict[str, Record]:
        return self.index.namespaces.setdefault(name or "", {})

    def _visible(self, namespace: str) -> dict[str, Record]:
        reads = self.standin.reads
        return {i: r for i, r in self.index.namespaces.get(namespace or "", {}).items() if r.visible_after <= reads}

    def _upsert(self, body: dict, _query: dict) -> dict:
        vectors = body.get("vectors") or []
        if len(vectors) > MAX_UPSERT_RECORDS:
            raise ApiError(400, f"upsert of {len(vectors)} records exceeds the limit of {MAX_UPSERT_RECORDS}")
        checked = [(v["id"], self._checked_record(v)) for v in vectors]
        target = self._namespace(body.get("namespace", ""))
        for record_id, record in checked:
            record.visible_after = self.standin.reads + self.standin.visibility_lag
            target[record_id] = record
        return {"upsertedCount": len(checked)}

    def _checked_record(self, vector: dict) -> Record:
        values, sparse = vector.get("values") or None, vector.get("sparseValues")
        if self.index.vector_type == "dense":
            if values is None or len(values) != self.index.dimension:
                raise ApiError(400, f"Vector dimension {len(values or [])} does not match the dimension of the index {self.index.dimension}")
            if not any(values):
                raise ApiError(400, "Dense vectors must contain at least one non-zero value")
        elif values:
            raise ApiError(400, "a sparse index takes sparse values only")
        if sparse is not None:
            if self.index.metric != "dotproduct":
                raise ApiError(400, "Sparse values are supported only for indexes using the dotproduct metric")
            if len(sparse.get("indices", [])) != len(sparse.get("values", [])):
                raise ApiError(400, "sparse indices and values differ in length")
        elif self.index.vector_type == "sparse":
            raise ApiError(400, "a sparse index needs sparse values")
        metadata = vector.get("metadata") or {}
        check_metadata(metadata)
        return Record(values, sparse, metadata)

    def _query(self, body: dict, _query: dict) -> dict:
        top_k = int(body.get("topK", 0))
        if not 1 <= top_k <= MAX_TOP_K:
            raise ApiError(400, f"topK must be between 1 and {MAX_TOP_K}")
        vector, sparse = body.get("vector") or None, body.get("sparseVector")
        if sparse is not None and self.index.metric != "dotproduct":
            raise ApiError(400, "Cannot query index with sparse values: the index metric is not dotproduct")
        if vector is not None and self.index.dimension is not None and len(vector) != self.index.dimension:
            raise ApiError(400, f"Query vector dimension {len(vector)} does not match the dimension of the index {self.index.dimension}")
        namespace = body.get("namespace", "")
        flt = body.get("filter") or {}
        scored = []
        for order, (record_id, record) in enumerate(self._visible(namespace).items()):
            if flt and not matches(record.metadata, flt):
                continue
            score = self._score(record, vector, sparse)
            scored.append((-score, order, record_id, score, record))
        scored.sort(key=lambda item: (item[0], item[1]))
        matches_out = []
        for _neg, _order, record_id, score, record in scored[:top_k]:
            match = {"id": record_id, "score": score, "values": record.values if body.get("includeValues") else []}
            if body.get("includeMetadata"):
                match["metadata"] = record.metadata
            matches_out.append(match)
        return {"matches": matches_out, "namespace": namespace, "usage": {"readUnits": 5}}

    def _score(self, record: Record, vector: list | None, sparse: dict | None) -> float:
        score = 0.0
        if vector is not None and record.values is not None:
            dot = math.fsum(a * b for a, b in zip(vector, record.values))
            if self.index.metric == "cosine":
                norm = math.sqrt(math.fsum(a * a for a in vector)) * math.sqrt(math.fsum(b * b for b in record.values))
                dot = dot / norm if norm else 0.0
            score += dot
        if sparse is not None and record.sparse is not None:
            weights = dict(zip(record.sparse["indices"], record.sparse["values"]))
            score += math.fsum(weights.get(i, 0.0) * v for i, v in zip(sparse["indices"], sparse["values"]))
        return score

    def _delete(self, body: dict, _query: dict) -> dict:
        namespace = self._namespace(body.get("namespace", ""))
        if body.get("deleteAll"):
            namespace.clear()
        elif "ids" in body:
            if len(body["ids"]) > MAX_IDS:
                raise ApiError(400, f"delete of {len(body['ids'])} ids exceeds the limit of {MAX_IDS}")
            for record_id in body["ids"]:
                namespace.pop(record_id, None)
        elif body.get("filter"):
            for record_id in [i for i, r in namespace.items() if matches(r.metadata, body["filter"])]:
                del namespace[record_id]
        else:
            raise ApiError(400, "delete needs ids, a filter or deleteAll")
        return {}

    def _stats(self, _body: dict, _query: dict) -> dict:
        counts = {name: len(self._visible(name)) for name in self.index.namespaces}
        return {"namespaces": {name: {"vectorCount": n} for name, n in counts.items() if n},
                "dimension": self.index.dimension or 0, "indexFullness": 0.0,
                "totalVectorCount": sum(counts.values()), "metric": self.index.metric,
                "vectorType": self.index.vector_type}

    def _fetch(self, _body: dict, query: dict) -> dict:
        ids = query.get("ids", [])
        if len(ids) > MAX_IDS:
            raise ApiError(400, f"fetch of {len(ids)} ids exceeds the limit of {MAX_IDS}")
        namespace = query.get("namespace", [""])[0]
        visible = self._visible(namespace)
        vectors = {}
        for record_id in ids:
            if record_id in visible:
                record = visible[record_id]
                vectors[record_id] = {"id": record_id, "values": record.values or [], "metadata": record.metadata}
                if record.sparse is not None:
                    vectors[record_id]["sparseValues"] = record.sparse
        return {"vectors": vectors, "namespace": namespace, "usage": {"readUnits": 1}}

    def _list(self, _body: dict, query: dict) -> dict:
        namespace = query.get("namespace", [""])[0]
        prefix = query.get("prefix", [""])[0]
        limit = int(query.get("limit", ["100"])[0])
        start = query.get("paginationToken", [""])[0]
        ids = sorted(i for i in self._visible(namespace) if i.startswith(prefix) and i > start)
        answer: dict = {"vectors": [{"id": i} for i in ids[:limit]], "namespace": namespace,
                        "usage": {"readUnits": 1}}
        if len(ids) > limit:
            answer["pagination"] = {"next": ids[limit - 1]}
        return answer


def check_metadata(metadata: dict) -> None:
    """ApiError unless ``metadata`` is flat, without nulls, and at most 40 KB as JSON."""
    size = len(json.dumps(metadata, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise ApiError(400, f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector")
    for key, value in metadata.items():
        if value is None or isinstance(value, dict):
            raise ApiError(400, f"Metadata value for field {key} must be a string, number, boolean or list of strings")
        if isinstance(value, list) and not all(isinstance(v, str) for v in value):
            raise ApiError(400, f"Metadata list for field {key} must hold strings only")


_COMPARE = {"$eq": lambda a, b: a == b, "$ne": lambda a, b: a != b,
            "$gt": lambda a, b: a is not None and a > b, "$gte": lambda a, b: a is not None and a >= b,
            "$lt": lambda a, b: a is not None and a < b, "$lte": lambda a, b: a is not None and a <= b,
            "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b,
            "$exists": lambda a, b: (a is not None) == b}


def matches(metadata: dict, flt: dict) -> bool:
    """Whether a record's metadata passes a Pinecone filter ($and, $or, field operators, bare values)."""
    for key, condition in flt.items():
        if key == "$and":
            if not all(matches(metadata, part) for part in condition):
                return False
        elif key == "$or":
            if not any(matches(metadata, part) for part in condition):
                return False
        else:
            value = metadata.get(key)
            conditions = condition if isinstance(condition, dict) else {"$eq": condition}
            for operator, operand in conditions.items():
                if operator not in _COMPARE:
                    raise ApiError(400, f"unknown filter operator {operator}")
                if isinstance(value, list) and operator in ("$eq", "$in"):
                    hit = any(_COMPARE[operator](v, operand) for v in value)
                else:
                    hit = _COMPARE[operator](value, operand)
                if not hit:
                    return False
    return True


@contextmanager
def serving(monkeypatch, *, sparse: bool, dimension: int = 256):
    """A stand-in with a cosine index "dense" of ``dimension`` (default: the hash embedder's) and, with ``sparse``,
    a sparse dotproduct index "sparse"; the key and the control-plane address in the environment."""
    with PineconeStandIn(api_key=TEST_KEY) as server:
        server.create_index("dense", dimension)
        if sparse:
            server.create_index("sparse", None, metric="dotproduct", vector_type="sparse")
        monkeypatch.setenv("PINECONE_API_KEY", TEST_KEY)
        monkeypatch.setenv("PINECONE_CONTROLLER_HOST", server.control_host)
        yield server
