#!/usr/bin/env python3
"""WAL frames of one `takt ingest` commit with `subject_state` laid out in
other ways than the schema's (tried, not adopted; BENCHMARKS.md).

    bench/store/state_layouts.py TAKT [BATCHES] [BATCH]     (defaults 200 and 100)

For each layout: stores the first document of bench/store/wal_frames.py's
events with TAKT into a fresh SQLite database, changes the layout with
Python's sqlite3 (takt's statements work on each), stores the next
BATCHES-2 documents with TAKT, checkpoints, stores the last one and counts
the WAL frames by B-tree, as wal_frames.py does. Layouts: the schema's
(a rowid table and its key index); `subject_state` clustered on its key
(`WITHOUT ROWID`); page sizes of 2,048 and 8,192 bytes (VACUUM).
"""
import json, os, subprocess, sys

here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "wal_frames.py")).read().replace("\nmain()\n", "\n")
w = {}
exec(compile(src, "wal_frames.py", "exec"), w)
import sqlite3

LAYOUTS = {
    "rowid table and key index (the schema)": [],
    "WITHOUT ROWID": [
        """CREATE TABLE s2 (tenant TEXT NOT NULL, subject TEXT NOT NULL, state TEXT, tail TEXT,
           events TEXT NOT NULL, PRIMARY KEY (tenant, subject)) WITHOUT ROWID""",
        "INSERT INTO s2 SELECT tenant, subject, state, tail, events FROM subject_state",
        "DROP TABLE subject_state",
        "ALTER TABLE s2 RENAME TO subject_state",
    ],
    "page size 2048": ["PRAGMA journal_mode=DELETE", "PRAGMA page_size=2048", "VACUUM", "PRAGMA journal_mode=WAL"],
    "page size 8192": ["PRAGMA journal_mode=DELETE", "PRAGMA page_size=8192", "VACUUM", "PRAGMA journal_mode=WAL"],
}

def main():
    takt, tmp, files = w["batches"]("takt-layouts-")
    run = lambda db, fs: subprocess.run([takt, "ingest", "--db", db, "--tenant", "toyota", *fs],
                                        check=True, stdout=subprocess.DEVNULL)
    for k, (name, sqls) in enumerate(LAYOUTS.items()):
        db = os.path.join(tmp, f"layout-{k}.db")
        run(db, files[:1])
        c = sqlite3.connect(db, isolation_level=None)
        for s in sqls:
            c.execute(s)
        page = c.execute("PRAGMA page_size").fetchone()[0]
        c.close()
        run(db, files[1:-1])
        keep = w["checkpoint"](db)
        run(db, files[-1:])
        pages = w["frames"](db)
        print(f"{name}: {len(pages)} frames of {page} bytes ({len(pages) * page // 1024} KiB)",
              json.dumps(w["by_btree"](keep, pages), sort_keys=True))
        keep.close()
    subprocess.run(["rm", "-rf", tmp])

main()
