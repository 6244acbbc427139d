"""Make the helpers in tests/ importable (support.py, truth.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
