"""``hushroom bench audio``: the audio pipeline's measurements (client/audio/bench.py)."""

from client.audio.bench import HELP, register, run

__all__ = ["HELP", "register", "run"]
