"""A pickled object that runs code when unpickled in full, for the tests that show such a file is refused."""
from __future__ import annotations

import os


class RunsCode:
    """Pickles to a call of os.mkdir: unpickling it in full creates the folder ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)
