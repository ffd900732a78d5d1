"""Which FEC setting a speaker's encoder uses, from its listeners' loss reports.

Measured on this client's codec (38 kbit/s CBR, docs/network.md "Decisions"):
in-band FEC costs quality on a lossless path and wins from about 1.5 % loss
on; FEC tuned for 5 % was as good as or better than FEC for 10 % at every
measured loss.  So the setting has two values, off (``0``) and "tuned for
``FEC_PERCENT``", and :class:`FecPolicy` chooses between them:

* **Which report counts**: the worst current report.  Reports come from stage
  members (a handful; spec §14.4), each of whom is in the conversation, and
  the audience hears the same upstream losses the stage does; one listener
  with a bad path is reason enough to spend the redundancy.
* **Hysteresis**: FEC goes on as soon as the worst report reaches
  ``ON_PERMILLE`` and goes off only once the worst report has stayed below
  ``OFF_PERMILLE`` for ``OFF_HOLD`` seconds (three report intervals), so a
  path hovering around the threshold does not make the setting flap.
* **Bounded memory**: one report per reporter (the latest replaces the one
  before, however often a reporter sends), at most ``MAX_REPORTERS``
  (the oldest forgotten); a report older than ``REPORT_TTL`` no longer counts
  (the reporter left the stage, lost its path or stopped hearing us).
* **Only where loss can happen**: on a client without a datagram channel
  (TLS only, ``datagrams=False``) the policy is not used and FEC stays off.
"""

from __future__ import annotations

from client.loss_report import REPORT_INTERVAL

ON_PERMILLE = 15
"""Worst reported loss (1.5 %) at which FEC goes on."""
OFF_PERMILLE = 10
"""FEC goes off once every report stays below this (1 %) ..."""
OFF_HOLD = 3 * REPORT_INTERVAL
"""... for this many seconds."""
FEC_PERCENT = 5
"""The expected loss FEC is tuned for while on (``OpusFrameEncoder.set_expected_loss``)."""
REPORT_TTL = 3 * REPORT_INTERVAL
"""Seconds a report counts after it arrived."""
MAX_REPORTERS = 64
"""Reporters remembered at once."""


class FecPolicy:
    """The expected-loss setting (0 = FEC off) a speaker follows (see module docstring)."""

    def __init__(self) -> None:
        self._reports: dict[bytes, tuple[float, int]] = {}
        self._quiet_since: float | None = None
        self.expected_loss = 0

    def report(self, reporter: bytes, loss_permille: int, now: float) -> int:
        """A loss report arrived; the setting to use from now on."""
        self._reports.pop(reporter, None)
        if len(self._reports) >= MAX_REPORTERS:
            del self._reports[next(iter(self._reports))]
        self._reports[reporter] = (now, loss_permille)
        return self.update(now)

    def update(self, now: float) -> int:
        """Expire old reports and apply the hysteresis; the setting to use from now on."""
        live = {r: v for r, v in self._reports.items() if now - v[0] <= REPORT_TTL}
        self._reports = live
        worst = max((permille for _, permille in live.values()), default=0)
        if worst >= ON_PERMILLE:
            self.expected_loss = FEC_PERCENT
        if worst >= OFF_PERMILLE:
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = now
        elif now - self._quiet_since >= OFF_HOLD:
            self.expected_loss = 0
        return self.expected_loss
