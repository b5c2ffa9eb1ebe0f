"""The trainer's output protocol: one JSON object per line on stdout, everything else on stderr.

stdout belongs to the protocol alone. Libraries print to stdout on their own (torch 1.13's ONNX exporter prints a
"Diagnostic Run" banner there), so `claim_stdout` moves the real stdout to a private descriptor and points file
descriptor 1 at stderr: whatever anything else prints, from Python or from C, lands on stderr.
"""
import json
import math
import os
import sys

_events = sys.stdout


class TrainError(Exception):
    """Bad input found before training: exit code 2 and one `error` event. `code` is stable; the Node side maps it."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def claim_stdout():
    global _events
    _events = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def clean(value):
    """JSON has no NaN: an undefined metric (a class absent from both truth and prediction) is null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def emit(event, **fields):
    _events.write(json.dumps(clean({'event': event, **fields}), allow_nan=False) + '\n')
    _events.flush()


def log(message):
    print(message, file=sys.stderr, flush=True)
