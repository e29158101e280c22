"""Which copy of Aha!'s OpenAPI document the sandbox tests read.

The full document lives in ``../shared/reference/aha-openapi.json`` beside the repository
(override: ``$AHA_OPENAPI``); a plain clone has only ``data/aha-openapi-served.json``, the
document trimmed to the operations the sandbox serves (written by
``scripts/extract_openapi.py``), which every sandbox test can run on.
"""

from __future__ import annotations

import os
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "data" / "aha-openapi-served.json"
_FULL = Path(__file__).resolve().parents[3] / "shared" / "reference" / "aha-openapi.json"
FULL = Path(os.environ.get("AHA_OPENAPI", str(_FULL)))
SPEC = FULL if FULL.exists() else SHIPPED
