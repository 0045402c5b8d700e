#!/usr/bin/env python3
"""Export the DMRG reference energies of a workflow run as a small test fixture.

    .venv/bin/python tools/export_reference_energies.py RESULTS_DIR tests/data/paper_grid_references.json

Reads ``RESULTS_DIR/references/<system>.json`` (written by the workflow's ``reference`` rule) and the
provenance record of each, and writes ``{system: electronic energy (Ha)}`` together with the commit, the
grid and the SHA-256 of each reference npz, so a test can check the published models against our
references without rerunning DMRG.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    results, out = Path(argv[0]), Path(argv[1])
    energies, digests, commits, grids = {}, {}, set(), set()
    for path in sorted((results / "references").glob("*.json")):
        record = json.loads(path.read_text())
        name = record["system"]["name"]
        energies[name] = record["total_energy"]
        digests[name] = hashlib.sha256(path.with_suffix(".npz").read_bytes()).hexdigest()
        grids.add(json.dumps(record["grid"], sort_keys=True))
        provenance = results / "provenance" / "reference" / f"{name}.json"
        if provenance.exists():
            commits.add((json.loads(provenance.read_text()).get("git") or {}).get("commit"))
    if len(grids) != 1:
        raise SystemExit(f"references on {len(grids)} different grids in {results}")
    fixture = {
        "description": "DMRG reference energies (electronic, Ha) of the paper config, from the workflow",
        "grid": json.loads(grids.pop()),
        "commits": sorted(c for c in commits if c),
        "npz_sha256": digests,
        "energies": energies,
    }
    out.write_text(json.dumps(fixture, indent=2, sort_keys=True) + "\n")
    print(f"{len(energies)} references -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
