"""`python -m fastvrrp.lab responder|probe ...`: the lab's helper programs."""

import sys

from fastvrrp.lab import probe, responder

_PROGRAMS = {"responder": responder.main, "probe": probe.main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in _PROGRAMS:
        sys.exit(f"usage: python -m fastvrrp.lab {{{'|'.join(_PROGRAMS)}}} [options]")
    sys.exit(_PROGRAMS[sys.argv[1]](sys.argv[2:]))
