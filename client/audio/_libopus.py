"""A minimal ctypes binding to the libopus decoder that ships inside PyAV.

FFmpeg's decode API (and so PyAV, and aiortc's ``OpusDecoder`` on top of it)
cannot ask libopus for in-band FEC: ``opus_decode(..., decode_fec=1)`` is not
reachable through ``avcodec_send_packet``.  PyAV's wheels bundle libopus
itself (``av.libs/libopus-*.so``), so this module loads that same library with
ctypes and sets up four functions: ``opus_decoder_create``, ``opus_decode``,
``opus_decoder_destroy`` and (libopus >= 1.5) ``opus_packet_has_lbrr``
(:mod:`client.audio.encoder` sets up the encoder's, whose settings FFmpeg
cannot change once the encoder is open).
A system libopus is used when the bundled one cannot be found.
:func:`load_libopus` returns ``None`` when neither is available; the decoder
then falls back to PyAV (PLC only, no FEC).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

import av


def _candidates() -> list[str]:
    pkg = Path(av.__file__).resolve().parent
    found: list[str] = []
    for folder, pattern in (
        (pkg.parent / "av.libs", "libopus*.so*"),  # Linux wheels (auditwheel)
        (pkg / ".dylibs", "libopus*.dylib"),  # macOS wheels (delocate)
        (pkg.parent / "av.libs", "*opus*.dll"),  # Windows wheels (delvewheel)
    ):
        if folder.is_dir():
            found.extend(str(p) for p in sorted(folder.glob(pattern)))
    system = ctypes.util.find_library("opus")
    if system:
        found.append(system)
    return found


@functools.cache
def load_libopus() -> ctypes.CDLL | None:
    """The libopus shared library with decoder prototypes set, or ``None``."""
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            create = lib.opus_decoder_create
            decode = lib.opus_decode
            destroy = lib.opus_decoder_destroy
        except (OSError, AttributeError):
            continue
        create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        create.restype = ctypes.c_void_p
        decode.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int16),
            ctypes.c_int,
            ctypes.c_int,
        ]
        decode.restype = ctypes.c_int
        destroy.argtypes = [ctypes.c_void_p]
        destroy.restype = None
        if hasattr(lib, "opus_packet_has_lbrr"):
            lib.opus_packet_has_lbrr.argtypes = [ctypes.c_char_p, ctypes.c_int32]
            lib.opus_packet_has_lbrr.restype = ctypes.c_int
        return lib
    return None
