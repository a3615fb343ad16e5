"""Ids without a system call (engine/ids.py): valid UUIDs, unique, and told apart by their
first group, which is what the dashboard shows and `opsc explain` takes."""
from __future__ import annotations

import subprocess
import sys
import uuid

from opsconductor.engine import ids


def test_ids_are_version_4_uuids_and_unique():
    made = [ids.new_id() for _ in range(200_000)]
    assert len(set(made)) == len(made)
    for text in made[:1000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    raw = ids.new_hex()
    assert "-" not in raw and len(raw) == 32 and uuid.UUID(raw).version == 4


def test_successive_ids_differ_in_their_first_group():
    firsts = [ids.new_id()[:8] for _ in range(100_000)]
    assert len(set(firsts)) == len(firsts)


def test_another_process_draws_other_random_bits():
    code = "from opsconductor.engine.ids import new_id; print(new_id())"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other[8:] != ids.new_id()[8:]  # the random part, after the counter's first group
