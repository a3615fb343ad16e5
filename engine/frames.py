"""Frames between the engine and its child processes (the batch writer, the notifier):
pickled tuples over a pipe. Both ends are ours, so pickle is safe; a frame that does not
unpickle means the other end cannot be trusted any more."""
from __future__ import annotations

import logging
import pickle
import subprocess
from collections.abc import Callable, Iterator
from typing import IO

log = logging.getLogger("opsconductor.frames")


def send(stream: IO[bytes], frame: tuple) -> None:
    pickle.dump(frame, stream, protocol=pickle.HIGHEST_PROTOCOL)
    stream.flush()


def receive(stream: IO[bytes], what: str, on_garbled: Callable[[], None] = lambda: None) -> Iterator[tuple]:
    """Frames until the stream ends; a garbled one is logged, `on_garbled` runs (kill the
    sender), and the stream is given up."""
    while True:
        try:
            yield pickle.load(stream)
        except EOFError:
            return
        except Exception:  # noqa: BLE001 - anything unpickling raises: the sender is not to be trusted
            log.exception("unreadable frame from %s", what)
            on_garbled()
            return


def end_child(child: subprocess.Popen[bytes], timeout: float) -> bool:
    """Close the child's stdin (its end of the frames: it finishes what it has and exits) and
    wait for it; killed after `timeout`. True when it had to be killed."""
    assert child.stdin is not None  # spawned with pipes
    try:
        child.stdin.close()
    except OSError:
        pass
    try:
        child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return True
    return False
