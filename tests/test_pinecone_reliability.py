"""Pinecone backends under the worst: an ingest SIGKILLed mid-upsert, 5xx after the SDK's own retries.

Heavy (a child process per kill, the SDK's ~8 s of 5xx back-off): ``pytest -m integration``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pinecone_server import PineconeStandIn, serving
from test_pinecone_sparse import KEY, known_ids, sparse_cfg

from ragkit.errors import RemoteIndexError
from ragkit.ingest.pipeline import ingest
from ragkit.retrieval.search import Searcher
from ragkit.store.backends.pinecone.sync import FILES

from conftest import write_docs

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent

_CHILD = """
import json, sys
from ragkit.config import config_from_dict
from ragkit.ingest.pipeline import ingest
if __name__ == "__main__":
    ingest(sys.argv[1], sys.argv[2], config_from_dict(json.loads(sys.argv[3])))
"""


@pytest.fixture
def standin(monkeypatch):
    """Dense and sparse indexes on one stand-in; the key in the environment."""
    with serving(monkeypatch, sparse=True) as server:
        yield server


def upserts_to(server: PineconeStandIn, index: str) -> int:
    """Upsert requests the stand-in has received for ``index``."""
    port = server.indexes[index].host.rsplit(":", 1)[1]
    return sum(1 for e in list(server.log) if e["route"] == "/vectors/upsert" and e["headers"]["host"].endswith(port))


@pytest.mark.parametrize("index", ["dense", "sparse"])
def test_sigkill_mid_upsert_then_a_rerun_converges(standin, tmp_path, index):
    folder = write_docs(tmp_path / "docs", {f"f{n}.txt": f"Document {n} about topic {n % 4}. " * 40 for n in range(12)})
    settings = {"embedder": {"kind": "hash"}, "splitter": {"chunk_size": 300, "chunk_overlap": 30},
                "dense": {"backend": "pinecone"}, "sparse": {"backend": "pinecone"},
                "pinecone": {"host": standin.indexes["dense"].host, "sparse_host": standin.indexes["sparse"].host,
                             "namespace": "ns", "batch_records": 4}}
    cfg = sparse_cfg(standin, dense=True, batch_records=4)
    ingest(folder, tmp_path / "idx", cfg)
    for n in range(6):
        (folder / f"f{n}.txt").write_text(f"Rewritten document {n}, new words. " * 40)
    (folder / "f11.txt").unlink()
    standin.inject("/vectors/upsert", count=10_000, delay_s=0.05)
    before = upserts_to(standin, index)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(folder), str(tmp_path / "idx"), json.dumps(settings)],
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 120
    while upserts_to(standin, index) < before + 3 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    assert (tmp_path / "idx" / FILES[index][1]).exists()        # its journal was left behind
    standin.faults.clear()
    ingest(folder, tmp_path / "idx", cfg)
    known = known_ids(tmp_path / "idx", cfg)
    assert set(standin.records("dense", "ns")) == known == set(standin.records("sparse", "ns"))
    assert not any((tmp_path / "idx" / name).exists() for pair in FILES.values() for name in pair[1:])


def test_5xx_after_the_sdks_retries_is_one_clear_line_without_the_key(standin, tmp_path):
    cfg = sparse_cfg(standin, dense=True)
    ingest(write_docs(tmp_path / "docs", {"a.txt": "Cats and dogs. " * 30}), tmp_path / "idx", cfg)
    searcher = Searcher(tmp_path / "idx", cfg)
    for mode in ("sparse", "dense"):
        standin.inject("/query", count=100, status=503)
        with pytest.raises(RemoteIndexError, match="kept failing after the SDK's retries") as caught:
            searcher.search("cats", mode=mode)
        standin.faults.clear()
        message = str(caught.value)
        assert "\n" not in message and KEY not in message and "while searching" in message
    searcher.close()
