"""The README's "Reranking" section runs as it stands: each of its configs, with its endpoint's address pointed at
a loopback stand-in of that server, and each command it shows, over sample_docs (hash embedder: no model)."""

from __future__ import annotations

import re
import shlex
import shutil
from urllib.parse import urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from ragkit.cli import app

from conftest import REPO, SAMPLE_DOCS
from fakes import overlap_scores
from stand_in import StandIn

SECTION = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Reranking\n", 1)[1].split("\n## ", 1)[0]
CONFIGS = re.findall(r"```yaml\n(.*?)```", SECTION, flags=re.S)
COMMANDS = [shlex.split(line) for block in re.findall(r"```(?:sh|text)\n(.*?)```", SECTION, flags=re.S)
            for line in block.strip().splitlines()]
runner = CliRunner()


def _reply(path: str, body: dict):
    """A /rerank server of either family, scoring by term overlap, answering in the shape of what it was sent."""
    texts = body["texts"] if "texts" in body else body["documents"]
    ranked = sorted(enumerate(overlap_scores(body["query"], texts)), key=lambda pair: -pair[1])
    if "texts" in body:
        return 200, [{"index": i, "score": s} for i, s in ranked]
    return 200, {"results": [{"index": i, "relevance_score": s} for i, s in ranked]}


def test_the_section_shows_configs_and_commands():
    assert len(CONFIGS) >= 2 and COMMANDS and all(words[0] == "ragkit" for words in COMMANDS)
    assert all("--config" in words and "rerank.yaml" in words for words in COMMANDS)


@pytest.mark.parametrize("config", CONFIGS, ids=[f"config-{n}" for n in range(len(CONFIGS))])
def test_every_reranking_command_runs_against_a_stand_in_of_the_configured_server(config, tmp_path, monkeypatch):
    settings = yaml.safe_load(config)
    url = urlsplit(settings["rerank"]["url"])
    server = StandIn(_reply)
    try:
        monkeypatch.chdir(tmp_path)
        if settings["rerank"].get("api_key_env"):
            monkeypatch.setenv(settings["rerank"]["api_key_env"], "test-key")
        shutil.copytree(SAMPLE_DOCS, tmp_path / "sample_docs")
        fast = tmp_path / "fast.yaml"
        fast.write_text("embedder: {kind: hash}\n")
        assert runner.invoke(app, ["ingest", "sample_docs", "--config", str(fast)]).exit_code == 0
        # The README's config as it stands, its server's address pointed here, and the index's embedder.
        shown = config.replace(f"{url.scheme}://{url.netloc}", server.root)
        (tmp_path / "rerank.yaml").write_text(shown + "embedder: {kind: hash}\n")
        for words in COMMANDS:
            result = runner.invoke(app, words[1:])
            assert result.exit_code == 0, (words, result.output)
            assert "Note:" not in result.stderr, result.stderr   # the reranker ran: no fallback
            assert "fused #" in result.stdout or "reranked by http" in result.stderr
    finally:
        server.close()
    assert len(server.requests) == len(COMMANDS) and {r["path"] for r in server.requests} == {url.path}
    sent = server.requests[0]
    assert sent["auth"] == ("Bearer test-key" if settings["rerank"].get("api_key_env") else None)
    assert ("texts" in sent["json"]) == (settings["rerank"].get("api") == "tei")
    assert len(sent["json"].get("texts") or sent["json"]["documents"]) == settings["search"].get("rerank_candidates", 20)
