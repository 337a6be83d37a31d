"""Suite-wide guards: a hard crash (abort, segfault) must show a traceback, not vanish."""

from __future__ import annotations

import faulthandler
import os
import sys

faulthandler.enable(file=sys.stderr, all_threads=True)

# Widgets render without a screen unless a test brings up its own Xvfb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
