"""Scanning customer QR codes: the camera's decoders and loop, and the keyboard-wedge scanner.

Owns nothing itself; re-exports the public names of :mod:`~cashier.scanning.decoders` (QR decoder
backends and the choice between them), :mod:`~cashier.scanning.confirm` (accepting a code read
steadily, once), :mod:`~cashier.scanning.keyburst` (scanner bursts told from typing) and :mod:`~cashier.scanning.camera` (the camera loop, no Qt).
"""

from __future__ import annotations

from cashier.scanning.camera import CameraScanner
from cashier.scanning.confirm import ReadConfirmer
from cashier.scanning.decoders import (
    Chosen,
    Decoder,
    DecoderUnavailable,
    Frame,
    OpenCvDecoder,
    ZbarDecoder,
    ZxingDecoder,
    available_backends,
    choose_decoder,
)
from cashier.scanning.keyburst import Entry, KeyBurst

__all__ = [
    "CameraScanner",
    "Chosen",
    "Decoder",
    "DecoderUnavailable",
    "Entry",
    "Frame",
    "KeyBurst",
    "OpenCvDecoder",
    "ReadConfirmer",
    "ZbarDecoder",
    "ZxingDecoder",
    "available_backends",
    "choose_decoder",
]
