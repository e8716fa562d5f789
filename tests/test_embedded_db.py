"""The embedded server's holders: one killed outright must not keep the server alive
after every living holder has exited cleanly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from core.db import _forget_dead_handles


def a_dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_dead_holders_are_forgotten_and_living_ones_kept(tmp_path: Path) -> None:
    handles = tmp_path / ".handle_pids.json"
    dead = a_dead_pid()
    handles.write_text(json.dumps([dead, os.getpid()]))
    _forget_dead_handles(tmp_path)
    assert json.loads(handles.read_text()) == [os.getpid()]


def test_a_missing_or_garbled_handle_file_is_left_alone(tmp_path: Path) -> None:
    _forget_dead_handles(tmp_path)  # no file: nothing to do
    handles = tmp_path / ".handle_pids.json"
    handles.write_text("{not json")
    _forget_dead_handles(tmp_path)
    assert handles.read_text() == "{not json"
