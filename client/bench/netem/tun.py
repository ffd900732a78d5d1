"""TUN devices: an IP packet written to the descriptor enters the kernel, and back.

:func:`open_tun` opens ``/dev/net/tun`` in the calling namespace with
``IFF_TUN | IFF_NO_PI`` (bare IP packets, no packet-information header) and
lets the kernel pick a free name from a pattern, so parallel emulators never
collide.  The device lives as long as the descriptor is open.
"""

from __future__ import annotations

import fcntl
import os
import struct

from client.bench.netem.errors import NetemError

_TUNSETIFF = 0x400454CA  # _IOW('T', 202, int)
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: name, flags, padding to 40 bytes
TUN_PATH = "/dev/net/tun"


def open_tun(pattern: str = "hnetem%d") -> tuple[int, str]:
    """A new non-blocking TUN descriptor and the device's name."""
    try:
        fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise NetemError(f"cannot open {TUN_PATH}: {exc.strerror}") from None
    try:
        answer = fcntl.ioctl(fd, _TUNSETIFF, _IFREQ.pack(pattern.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise NetemError(f"cannot create a TUN device: {exc.strerror}") from None
    name = _IFREQ.unpack(answer)[0].rstrip(b"\0").decode()
    return fd, name
