"""Scanning customer QR codes: the camera's decoders and loop, and the keyboard-wedge scanner.

Owns nothing itself; re-exports the public names of :mod:`~cashier.scanning.decoders` (QR decoder
backends and the choice between them), :mod:`~cashier.scanning.confirm` (accepting a code read
steadily, once), :mod:`~cashier.scanning.keyburst` (scanner bursts told from typing) and
:mod:`~cashier.scanning.camera` (the camera loop, no Qt).  The names load on first use (PEP 562):
the window imports the keystroke part at start, numpy and OpenCV only when the camera starts.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CameraScanner": "camera",
    "ReadConfirmer": "confirm",
    "Chosen": "decoders",
    "Decoder": "decoders",
    "DecoderUnavailable": "decoders",
    "Frame": "decoders",
    "OpenCvDecoder": "decoders",
    "ZbarDecoder": "decoders",
    "ZxingDecoder": "decoders",
    "available_backends": "decoders",
    "choose_decoder": "decoders",
    "Entry": "keyburst",
    "KeyBurst": "keyburst",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'cashier.scanning' has no attribute {name!r}")
    return getattr(importlib.import_module(f"cashier.scanning.{module}"), name)
