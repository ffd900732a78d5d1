"""Whether the loaded libopus can do DRED (Deep REDundancy, libopus >= 1.5).

DRED lets each packet carry a neural, very low-rate description of up to a
second of the audio before it, so a receiver can rebuild a burst of losses, not
only the one frame in-band FEC covers.  The API symbols (``opus_dred_*``,
``OPUS_SET_DRED_DURATION``) are exported by every libopus >= 1.5, but they only
work when the library was built with ``--enable-dred`` and its model weights
compiled in; otherwise each call answers ``OPUS_UNIMPLEMENTED``.
:func:`probe` asks the library itself (docs/network.md records the answer for
the libopus PyAV bundles).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from client.audio._libopus import load_libopus
from client.audio.encoder import encoder_functions
from client.audio.format import SAMPLE_RATE

OPUS_SET_DRED_DURATION_REQUEST = 4050
OPUS_UNIMPLEMENTED = -5
_VOIP = 2048


@dataclass(frozen=True)
class DredSupport:
    """libopus's own answers; ``works`` only when every call succeeded."""

    version: str
    set_dred_duration: int
    """``opus_encoder_ctl(OPUS_SET_DRED_DURATION(100))``: 0, or an error code."""
    dred_alloc: int
    """The error ``opus_dred_alloc`` reports: 0, or an error code."""
    dred_decoder_create: int
    """The error ``opus_dred_decoder_create`` reports: 0, or an error code."""
    dred_size: int
    """``opus_dred_get_size()``: 0 when DRED state is compiled out."""

    @property
    def works(self) -> bool:
        calls = (self.set_dred_duration, self.dred_alloc, self.dred_decoder_create)
        return calls == (0, 0, 0) and self.dred_size > 0


def probe() -> DredSupport | None:
    """Ask the loaded libopus about DRED; ``None`` when libopus is not loadable or pre-1.5."""
    lib = load_libopus()
    if lib is None or not hasattr(lib, "opus_dred_alloc"):
        return None
    lib = encoder_functions(lib)
    lib.opus_get_version_string.restype = ctypes.c_char_p
    lib.opus_dred_alloc.restype = ctypes.c_void_p
    lib.opus_dred_alloc.argtypes = [ctypes.POINTER(ctypes.c_int)]
    lib.opus_dred_free.argtypes = [ctypes.c_void_p]
    lib.opus_dred_decoder_create.restype = ctypes.c_void_p
    lib.opus_dred_decoder_create.argtypes = [ctypes.POINTER(ctypes.c_int)]
    lib.opus_dred_decoder_destroy.argtypes = [ctypes.c_void_p]
    lib.opus_dred_get_size.restype = ctypes.c_int

    err = ctypes.c_int(0)
    encoder = lib.opus_encoder_create(SAMPLE_RATE, 1, _VOIP, ctypes.byref(err))
    if err.value != 0 or not encoder:
        return None
    try:
        set_duration = int(
            lib.opus_encoder_ctl(encoder, OPUS_SET_DRED_DURATION_REQUEST, ctypes.c_int32(100))
        )
    finally:
        lib.opus_encoder_destroy(encoder)
    alloc_err = ctypes.c_int(0)
    dred = lib.opus_dred_alloc(ctypes.byref(alloc_err))
    if dred:
        lib.opus_dred_free(dred)
    decoder_err = ctypes.c_int(0)
    dred_decoder = lib.opus_dred_decoder_create(ctypes.byref(decoder_err))
    if dred_decoder:
        lib.opus_dred_decoder_destroy(dred_decoder)
    version = lib.opus_get_version_string() or b"?"
    return DredSupport(
        version=version.decode(errors="replace"),
        set_dred_duration=set_duration,
        dred_alloc=alloc_err.value,
        dred_decoder_create=decoder_err.value,
        dred_size=int(lib.opus_dred_get_size()),
    )
