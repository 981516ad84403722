#!/usr/bin/env bash
# Seeds the HTTP fuzz targets from the acceptance corpus in core/tests/data: every case's raw
# bytes go to fuzz/corpus/http_request/ or fuzz/corpus/http_response/ by its kind, and the
# bytes after the head of every chunked case go to fuzz/corpus/http_chunked/.
# Usage: fuzz/seed-http.sh   (then: cd fuzz && cargo +nightly fuzz run http_request)
set -euo pipefail
cd "$(dirname "$0")"
python3 - ../core/tests/data/http1_acceptance_candidates.json <<'PY'
import base64, json, os, re, sys

cases = json.load(open(sys.argv[1]))["cases"]
counts = {}
for i, case in enumerate(cases):
    raw = base64.b64decode(case["raw_b64"])
    name = "%03d-%s" % (i, re.sub(r"[^A-Za-z0-9._-]+", "_", case["id"])[:80])
    targets = ["http_" + case["kind"]]
    head_end = raw.find(b"\r\n\r\n")
    if b"chunked" in raw.lower() and head_end >= 0:
        targets.append("http_chunked")
    for target in targets:
        data = raw if target != "http_chunked" else raw[head_end + 4:]
        os.makedirs(os.path.join("corpus", target), exist_ok=True)
        with open(os.path.join("corpus", target, name), "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1
for target, n in sorted(counts.items()):
    print("%s: %d seeds" % (target, n))
PY
