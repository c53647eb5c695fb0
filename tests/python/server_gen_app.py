"""The generated workflows of tests/python/workflow_gen.py, served for the server's
differential test (`--app tests.python.server_gen_app:workflows`)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # workflow_gen, as pytest imports it

from workflow_gen import SERVER_KINDS, Generated

SEEDS = 16

workflows = [Generated(seed, SERVER_KINDS).builder().build() for seed in range(SEEDS)]
