"""Secrets never reach the store: a fake API key set in the environment, referenced by `api_key_env` and by an
`Authorization: Bearer ${NAME}` header, and really sent to the simulator, appears in no database byte (file and
-wal) and no export format. Files are created mode 0600."""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from store_events import PROFILE_HASH, PROFILE_TEXT, varied_runs

from workbench.cli import cli
from workbench.cli.output import run_cli
from workbench.store import EventWriter

KEY_ENV = "WB_STORE_TEST_KEY"
PROFILE = f"""\
name: secrets-test
providers:
  oai:
    kind: sim
    wire: openai
    api_key_env: {KEY_ENV}
    headers:
      Authorization: Bearer ${{{KEY_ENV}}}
  ant:
    kind: sim
    wire: anthropic
    api_key_env: {KEY_ENV}
  real:
    kind: openai
    base_url: https://api.openai.com/v1
    api_key_env: {KEY_ENV}
    headers: {{Authorization: "Bearer ${{{KEY_ENV}}}"}}
models:
  mini:
    provider: oai
    model: sim-mini
    prices: [{{input: 0.15, output: 0.60}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}
  claude:
    provider: ant
    model: sim-claude
    prices: [{{input: 3, output: 15}}]
    sim: {{ttft_ms: 0, tokens_per_s: 100000, answer_tokens: 20}}
  cloud: {{provider: real, model: gpt-4o-mini}}
routes:
  plain: {{steps: [{{name: answer, targets: [mini]}}, {{name: polish, targets: [claude]}}]}}
"""


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = "fake-key-" + secrets.token_hex(16)
    monkeypatch.setenv(KEY_ENV, value)
    return value


def _assert_absent(key: str, *paths: Path) -> None:
    needles = [key.encode(), key.encode("utf-16-le"), key[8:].encode()]
    for path in paths:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"the key is in {path}"


def _db_files(db: Path) -> list[Path]:
    return [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]


def _exports(db: Path, folder: Path) -> list[Path]:
    files = []
    for fmt, table in [("json", "runs"), ("jsonl", "runs")] + [
        ("csv", t) for t in ("runs", "hops", "messages", "decisions", "sessions", "profiles")
    ]:
        out = folder / f"export-{table}.{fmt}"
        assert (
            run_cli(cli, ["sessions", "export", "--format", fmt, "--table", table, "-o", str(out), "--db", str(db)])
            == 0
        )
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        files.append(out)
    return files


def test_key_is_nowhere_after_writer_engine_and_cli(key: str, tmp_path: Path) -> None:
    from workbench.engine import Engine
    from workbench.profiles.load import loads_profile
    from workbench.sim.server import SimServer

    seen_auth: list[str] = []

    class RecordingSim(SimServer):
        """The real simulator, noting the credentials each request carried (proof the key was in play)."""

        def admit(self, prompt: Any, headers: Mapping[str, str], wire_shape: Any) -> Any:
            seen_auth.append(headers.get("authorization", "") + headers.get("x-api-key", ""))
            return super().admit(prompt, headers, wire_shape)

    db = tmp_path / "secret.db"
    loaded = loads_profile(PROFILE, tmp_path / "secrets.yaml")
    assert key not in loaded.text and KEY_ENV in loaded.text

    async def through_engine() -> None:
        writer = EventWriter(db, session="secrets", profile=loaded)
        writer.register_profile(PROFILE_HASH, PROFILE_TEXT, "profiles/store-test.yaml")
        for run in varied_runs(5):  # and runs built from the event dataclasses
            for event in run:
                writer.submit(event)
        sim = RecordingSim({m.model: m.sim for m in loaded.profile.models.values() if m.sim is not None}, seed=1)
        sim.start()
        try:
            async with Engine(loaded, sim_server=sim) as engine:
                for i in range(3):
                    async for event in engine.run(f"tell me about secret number {i}"):
                        writer.submit(event)
        finally:
            sim.stop()
        assert await asyncio.to_thread(writer.flush, 10)
        _assert_absent(key, *_db_files(db))  # while open: the WAL holds the fresh pages
        assert Path(f"{db}-wal").exists()
        for p in _db_files(db):
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        writer.close()
        assert writer.errors == [] and writer.saved == 8

    asyncio.run(through_engine())
    assert any(key in auth for auth in seen_auth), "the key was never sent: the test would prove nothing"

    # And through the command line, in a child process that has the key in its environment.
    profile_file = tmp_path / "secrets.yaml"
    profile_file.write_text(PROFILE)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench",
            "run",
            "--profile",
            str(profile_file),
            "--db",
            str(db),
            "--session",
            "cli",
            "what is the secret?",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ},
    )
    assert out.returncode == 0, out.stderr
    _assert_absent(key, *_db_files(db), *_exports(db, tmp_path))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    import sqlite_utils

    store = sqlite_utils.Database(db)
    assert store["runs"].count == 9 and store["profiles"].count == 2
    assert all(KEY_ENV in row["text"] for row in store["profiles"].rows)  # the NAME is kept, never the value
