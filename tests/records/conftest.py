import sys
from pathlib import Path

# The process helpers of the control tests (procs, socket_rig) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "control"))
