"""What every command line of the harness does around its work: logging to stderr, and one
line and an exit code for the failures a user can fix (2), a backend missing here (3) or an
interrupt (130), instead of a traceback."""
from __future__ import annotations

import logging
import sys

from datasets import DatasetError
from methods.backends import BackendUnavailable
from methods.base import HarnessError

UNAVAILABLE = 3  # exit code: a backend's library is not installed here (the message says how)


def guarded(work, args, interrupted: str, cleanup=None) -> int:
    """``work(args)``'s exit code, or the failure's; ``interrupted`` says how to continue."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return work(args)
    except BackendUnavailable as e:
        print(f"unavailable: {e}", file=sys.stderr)
        return UNAVAILABLE
    except (HarnessError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: {interrupted}", file=sys.stderr)
        return 130
    finally:
        if cleanup is not None:
            cleanup()
