"""Stand-in for ``comfy.model_management``: the interrupt flag behind ComfyUI's Cancel.

As in ComfyUI, the check that raises also clears the flag, and the executor clears it when a
prompt starts.
"""

from __future__ import annotations

import threading

_lock = threading.RLock()
_interrupted = False


class InterruptProcessingException(Exception):
    pass


def interrupt_current_processing(value: bool = True) -> None:
    global _interrupted
    with _lock:
        _interrupted = value


def processing_interrupted() -> bool:
    with _lock:
        return _interrupted


def throw_exception_if_processing_interrupted() -> None:
    global _interrupted
    with _lock:
        if _interrupted:
            _interrupted = False
            raise InterruptProcessingException()
