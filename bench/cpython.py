"""CPython benchmarks: blazen_py against llama-index-workflows, in one process.

    python -m bench.cpython CONFIG_JSON      (run from the repository root)

Prints one JSON object: versions, one record per (workload, engine) with its samples,
cProfile tops of blazen_py's loops, and the peer cases skipped (with why). The peer is
imported when installed (the bench virtualenv); without it only blazen_py is measured.
"""

from __future__ import annotations

import asyncio
import json
import platform
import sys
import time
from typing import Any

from .workloads import (
    Workload,
    blazen_workloads,
    composition_workloads,
    design_groups,
    floor_workloads,
    measure,
    profile_workload,
)

# The CPython loop and its design before the pump's fast path, compared in section 1b.
DESIGN_PAIR = ("loop", "loop_not_inlined")


def peer_version() -> str | None:
    """Installed version of llama-index-workflows, or None."""
    from importlib import metadata

    try:
        return metadata.version("llama-index-workflows")
    except metadata.PackageNotFoundError:
        return None


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Measure every workload; peer cases over ``config['peer_max_events']`` are skipped
    and extrapolated (the peer's fan-out and chain grow faster than linearly)."""
    sizes = config["sizes"]
    # The loop against its previous design first, the pair alone and many rounds: its
    # samples are ~2 ms, and nine of them, among the suite's, moved the ratio 0.95-1.32x
    # from run to run on this shared machine. Before the suite and the peer's import: after
    # them, each run's gc.collect() sweeps their heap and leaves the run cold caches, a
    # cost both designs pay that moved the ratio 1.23-1.38x (the pair alone: 1.32-1.41x).
    pair = [w for w in blazen_workloads(sizes) if w.name in DESIGN_PAIR]
    design = await measure([pair], int(config.get("design_runs", config["runs"])), int(config["warmup"]))
    ours = blazen_workloads(sizes)
    peers: dict[str, Workload] = {}
    version = peer_version()
    if version is not None:
        from .peer_llama import llama_workloads

        peers = {w.name: w for w in llama_workloads(sizes)}
    limit = int(config.get("peer_max_events", 1 << 60))
    skipped = []
    groups = design_groups(ours)
    for group in groups:  # the peer has no design variants: paired by name with the base
        peer = peers.get(group[0].name)
        if peer is not None and peer.events <= limit:
            group.append(peer)
        elif peer is not None:
            skipped.append({"name": peer.name, "engine": peer.engine, "events": peer.events})
    groups += [[w] for w in floor_workloads(sizes)]
    # fan-in and map bookkeeping at two sizes: the report compares their per-event cost
    groups += [[w] for w in composition_workloads(config.get("composition", {}))]
    records = await measure(groups, int(config["runs"]), int(config["warmup"]))
    profiles = [await profile_workload(w) for w in ours if w.name in set(config.get("profile", ()))]
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "peers": {"llama-index-workflows": version},
        "records": records,
        "design": design,
        "profiles": profiles,
        "skipped": skipped,
    }


def main(argv: list[str]) -> int:
    """Entry point: one JSON argument in, one JSON line out."""
    config = json.loads(argv[0])
    started = time.perf_counter()
    result = asyncio.run(run(config))
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
