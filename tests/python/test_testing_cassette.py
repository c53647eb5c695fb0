"""The plugin's `blazen_cassette` fixture, as a user runs it (a test file in a fresh folder,
pytest in its own process): `--blazen-record` records a test's model calls against a real
server on 127.0.0.1 into cassettes/<module>/<test>.json; without it the same test replays
them with the server gone; a changed request or a missing cassette turns the run red."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from llm_server import LLMTestServer

KEY = "sk-plugin-cassette-0123456789abcdef"

USER = '''
import asyncio, os
from blazen_py.llm import ChatMessage, CompletionModel

def make():
    return CompletionModel.openai_compatible(base_url=os.environ["LLM_URL"], model="echo",
                                             api_key_env="PLUGIN_CASSETTE_KEY")

def test_ask(blazen_cassette):
    model = blazen_cassette.model(make)
    reply = asyncio.run(model.complete([ChatMessage.user(os.environ.get("ASK", "hello"))]))
    assert reply.content == "Echo: hello"
'''


def run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # A user's pytest has no hypothesis; its plugin is half of pytest's start-up here.
    command = [sys.executable, "-m", "pytest", "test_user.py", "-q", "-p", "no:cacheprovider",
               "-p", "no:hypothesispytest", *args]
    return subprocess.run(command, cwd=folder, env={**os.environ, **env}, text=True,
                          capture_output=True, timeout=120, check=False)


def test_record_then_replay_then_red(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER)
    with LLMTestServer() as server:
        url = server.base_url
        recorded = run(tmp_path, "--blazen-record", LLM_URL=url, PLUGIN_CASSETTE_KEY=KEY)
        assert recorded.returncode == 0, recorded.stdout + recorded.stderr
    cassette = tmp_path / "cassettes" / "test_user" / "test_ask.json"
    text = cassette.read_text()
    assert KEY not in text
    assert len(json.loads(text)["exchanges"]) == 1, text

    # the server is gone and there is no key: only the cassette can answer
    replayed = run(tmp_path, LLM_URL=url)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr

    changed = run(tmp_path, LLM_URL=url, ASK="something else")
    assert changed.returncode == 1, changed.stdout
    assert "CassetteMismatchError" in changed.stdout, changed.stdout

    cassette.unlink()
    missing = run(tmp_path, LLM_URL=url)
    assert missing.returncode == 1, missing.stdout
    assert "no cassette at" in missing.stdout, missing.stdout
    assert "record it with --blazen-record" in missing.stdout, missing.stdout
