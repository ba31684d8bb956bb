"""Keeping a Pinecone namespace equal to the live generation: ownership, the journal, clean-up.

A generation is published locally (crash-safe, :mod:`ragkit.store.generations`), but a Pinecone
namespace is one mutable set of records. ragkit keeps the two in step with two small files beside
the generations:

- ``pinecone-owner.json`` — written before ragkit's first upsert into a namespace: which index and
  namespace this index folder owns, and an owner id every record carries (``ragkit_owner``).
  A namespace that already holds records when there is no owner file belongs to someone else:
  the ingest refuses it unless ``pinecone.adopt`` is set (the records it did not write are then
  deleted once the new generation is live).
- ``pinecone-journal.json`` — written before any upsert: the ids about to be upserted and the ids
  the new generation drops. After the generation is published, the dropped ids are deleted and
  the journal removed. An ingest killed at any point leaves the journal; the next ingest first
  deletes every journaled id that the live manifest does not know (new records of a generation
  that never went live, or old records of one that did), so a re-run converges: no duplicates
  (ids are the chunks' stable ids), no orphans.

Searches drop any match whose id the live docstore does not know, so records in flight are never
returned.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ragkit.errors import RemoteIndexError
from ragkit.store.backends.pinecone.client import PineconeConnection
from ragkit.store.generations import write_atomic

OWNER_FILE = "pinecone-owner.json"
JOURNAL_FILE = "pinecone-journal.json"
# The sparse index (sparse.backend: pinecone) is another Pinecone index: its own owner and journal.
FILES = {"dense": (OWNER_FILE, JOURNAL_FILE), "sparse": ("pinecone-sparse-owner.json", "pinecone-sparse-journal.json")}


def live_chunk_ids(manifest: dict | None, host: str, namespace: str, kind: str = "dense") -> set[str]:
    """The chunk ids a live manifest keeps in this Pinecone namespace (none unless its ``kind`` index is there)."""
    if not manifest or manifest.get(kind, {}).get("backend") != "pinecone":
        return set()
    where = manifest[kind].get("pinecone") or {}
    if where.get("host") != host or where.get("namespace") != namespace:
        return set()
    return {chunk_id for record in manifest["files"].values() for chunk_id in record.get("chunk_ids", [])}


def read_owner(index_dir: Path, kind: str = "dense") -> dict | None:
    """The owner record of this index folder's ``kind`` index, or None before its first Pinecone ingest."""
    path = Path(index_dir) / FILES[kind][0]
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise RemoteIndexError(f"{path} is unreadable; remove it and re-ingest with pinecone.adopt: true") from None


def claim_namespace(index_dir: Path, connection: PineconeConnection, kind: str = "dense") -> dict:
    """This folder's owner record for the target namespace; refuse a namespace holding records of another index.

    The first ingest into a namespace writes the owner record (``reconcile`` set when adopting, so
    the records found there are checked against the first generation and the foreign ones deleted).
    """
    target, host = connection.target, connection.host
    owner = read_owner(index_dir, kind)
    if owner and owner.get("host") == host and owner.get("namespace") == target.namespace:
        return owner
    found = connection.namespace_count()
    if found and not target.adopt:
        raise RemoteIndexError(
            f"Pinecone namespace {target.namespace!r} at {host} already holds {found} records that this index "
            "did not write (another index's?); use another pinecone.namespace, or set pinecone.adopt: true "
            "to take it over (records ragkit does not know are then deleted)")
    owner = {"owner": uuid.uuid4().hex, "host": host, "namespace": target.namespace, "reconcile": bool(found)}
    write_atomic(Path(index_dir) / FILES[kind][0], json.dumps(owner))
    return owner


def write_journal(index_dir: Path, *, upserting: list[str], dropping: list[str], kind: str = "dense") -> None:
    """Record, before any upsert, what the ingest is about to change in the namespace."""
    write_atomic(Path(index_dir) / FILES[kind][1], json.dumps({"upserting": upserting, "dropping": dropping}))


def settle(index_dir: Path, connection: PineconeConnection, live_manifest: dict | None, kind: str = "dense") -> int:
    """Make the namespace hold exactly the live generation's records; returns how many were deleted.

    Deletes the journaled ids the live manifest does not know, and, for a namespace just adopted,
    every id it does not know; then removes the journal and clears the owner's ``reconcile`` flag.
    """
    owner_file, journal_file = FILES[kind]
    journal_path = Path(index_dir) / journal_file
    owner = read_owner(index_dir, kind) or {}
    live = live_chunk_ids(live_manifest, connection.host, connection.target.namespace, kind)
    stale: set[str] = set()
    if journal_path.exists():
        try:
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            journal = {"upserting": [], "dropping": []}
            owner["reconcile"] = True   # a torn journal: fall back to listing the namespace
        stale |= (set(journal["upserting"]) | set(journal["dropping"])) - live
    if owner.get("reconcile") and live_manifest is not None and live:
        stale |= {record_id for record_id in connection.list_ids() if record_id not in live}
    connection.delete(sorted(stale))
    journal_path.unlink(missing_ok=True)
    if owner.get("reconcile") and live:
        write_atomic(Path(index_dir) / owner_file, json.dumps({**owner, "reconcile": False}))
    return len(stale)


def check_sparse_index(connection: PineconeConnection) -> dict:
    """The index statistics, once it is a sparse index with metric dotproduct (the only kind sparse queries run on)."""
    stats = connection.stats()
    if stats.get("vector_type", "dense") != "sparse" or stats.get("metric") not in (None, "dotproduct"):
        raise RemoteIndexError(
            f"the Pinecone index at {connection.host} is a {stats.get('vector_type', 'dense')} index with metric "
            f"{stats.get('metric')!r}; sparse.backend: pinecone needs a sparse index (vector_type sparse, "
            "metric dotproduct): sparse queries run on dotproduct indexes only")
    return stats


def check_index_shape(connection: PineconeConnection, dimension: int) -> dict:
    """The index statistics, once its type, dimension and metric fit the embedder and the config."""
    stats = connection.stats()
    target = connection.target
    if stats.get("vector_type", "dense") != "dense":
        raise RemoteIndexError(f"the Pinecone index at {connection.host} is a {stats.get('vector_type')} index; "
                               "dense.backend: pinecone needs a dense one")
    if int(stats.get("dimension") or 0) != dimension:
        raise RemoteIndexError(f"the Pinecone index at {connection.host} has dimension {stats.get('dimension')}, "
                               f"but the embedder makes {dimension}-d vectors; use an index of dimension {dimension}")
    if stats.get("metric") and stats["metric"] != target.metric:
        raise RemoteIndexError(f"the Pinecone index at {connection.host} uses metric {stats['metric']!r}, "
                               f"the config says pinecone.metric: {target.metric}; make them agree")
    return stats

