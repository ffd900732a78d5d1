"""``hushroom devices``: the sound devices ``--input-device`` and ``--output-device`` take."""

from __future__ import annotations

import argparse

HELP = "list this machine's microphones and speakers"

EXAMPLES = """examples:
  hushroom devices                                  # index, name, channels, defaults
  hushroom join --invite-file invite.txt --input-device 2 --output-device 'USB'

A device is named by its index or by part of its name.  Sound devices need the
'mic' extra and the system package libportaudio2:
  pip install -e '.[mic]'; apt-get install libportaudio2
"""


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EXAMPLES


def run(args: argparse.Namespace) -> int:
    from client.audio.devices import list_devices

    devices = list_devices()  # AudioDeviceError: one line, exit 1
    for device in devices:
        print(device.line())
    if not devices:
        print("no sound devices")
    return 0
