#!/usr/bin/env python3
"""WAL frames one `takt ingest` commit writes, by table or index.

    bench/store/wal_frames.py TAKT [BATCHES] [BATCH]     (defaults 200 and 100)

Stores BATCHES-1 documents of BATCH events (the events of bench/store/run.sh:
11 journey milestones per vehicle, 20 events a minute) into a fresh SQLite
database with TAKT, checkpoints the WAL, stores the last document, and
counts the frames of the WAL by the B-tree each page belongs to (dbstat).
The raw INSERT path of the benchmark is counted the same way (the log
records takt stored, as plain INSERTs into the benchmark's raw table, one
transaction per batch).
"""
import datetime, json, os, sqlite3, struct, subprocess, sys, tempfile

TR = {c: v for c, v in zip("ABCDEFGHJKLMNPRSTUVWXYZ",
                           [1,2,3,4,5,6,7,8,1,2,3,4,5,7,9,2,3,4,5,6,7,8,9])}
W = [8,7,6,5,4,3,2,10,0,9,8,7,6,5,4,3,2]
MILESTONES = [("released","released"),("inland_departed","inland"),("port_arrived","port_arrival"),
  ("processing_started","processing"),("yard_staged","yard"),("loading_started","loading"),
  ("vessel_departed","voyage"),("discharged","discharge"),("certification_started","certification"),
  ("delivery_departed","delivery"),("delivered","delivery")]

def vin(serial):
    v = "4T1DAACK0TU" + serial
    s = sum((int(c) if c.isdigit() else TR[c]) * w for c, w in zip(v, W)) % 11
    return v[:8] + ("X" if s == 10 else str(s)) + v[9:]

def line(i, base):
    m, st = MILESTONES[i % 11]
    at = (base + datetime.timedelta(minutes=i // 20)).strftime("%Y-%m-%dT%H:%M:00Z")
    return json.dumps({"event_id": f"ev-{i:08}", "vin": vin(f"{i // 11:06}"), "tenant": "toyota",
        "model": "camry", "milestone": m, "stage": st, "at": at, "location": "USLGB",
        "resource": "USLGB/processing"})

def frames(db):
    """(page number of each frame in the WAL)."""
    data = open(db + "-wal", "rb").read()
    page = struct.unpack(">I", data[8:12])[0]
    out, off = [], 32
    while off + 24 + page <= len(data):
        out.append(struct.unpack(">I", data[off:off+4])[0])
        off += 24 + page
    return out

def by_btree(c, pages):
    owner = dict(c.execute("SELECT pageno, name FROM dbstat"))
    count = {}
    for p in pages:
        k = owner.get(p, "other (page 1, freelist)")
        count[k] = count.get(k, 0) + 1
    return count

def checkpoint(db):
    """Checkpoints the WAL and keeps a connection open (so that the last
    writer to close does not checkpoint and delete the WAL)."""
    c = sqlite3.connect(db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.execute("SELECT COUNT(*) FROM sqlite_schema").fetchall()
    return c

def batches(prefix):
    """TAKT and the documents of the command line's BATCHES and BATCH, written
    to a fresh temporary folder: (takt, folder, files)."""
    takt = sys.argv[1]
    n_batches = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    b = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    base = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0) - datetime.timedelta(days=60)
    tmp = tempfile.mkdtemp(prefix=prefix)
    files = []
    for k in range(n_batches):
        p = os.path.join(tmp, f"batch-{k:05}.jsonl")
        with open(p, "w") as f:
            f.write("".join(line(i, base) + "\n" for i in range(k * b, (k + 1) * b)))
        files.append(p)
    return takt, tmp, files

def main():
    takt, tmp, files = batches("takt-wal-")
    n_batches, b = len(files), int(sys.argv[3]) if len(sys.argv) > 3 else 100
    db = os.path.join(tmp, "takt.db")
    run = lambda fs: subprocess.run([takt, "ingest", "--db", db, "--tenant", "toyota", *fs],
                                    check=True, stdout=subprocess.DEVNULL)
    run(files[:-1])
    keep = checkpoint(db)
    run(files[-1:])
    pages = frames(db)
    print(f"takt ingest, batch {n_batches} after {n_batches - 1}: {len(pages)} frames",
          json.dumps(by_btree(keep, pages), sort_keys=True))
    records = [r for (r,) in keep.execute("SELECT record FROM event_log ORDER BY seq")]
    keep.close()
    # The raw path: the same rows, one multi-row INSERT per batch.
    raw = os.path.join(tmp, "raw.db")
    c = sqlite3.connect(raw, isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=FULL")
    c.execute("""CREATE TABLE raw_log (seq BIGINT, tenant TEXT NOT NULL, event_id TEXT NOT NULL,
        kind TEXT NOT NULL, event_time_ms BIGINT NOT NULL, received_at_ms BIGINT NOT NULL,
        flags TEXT NOT NULL, record TEXT NOT NULL, UNIQUE (tenant, event_id, kind))""")
    def raw_batch(k):
        rows = [(f"ev-{i:08}", records[i]) for i in range(k * b, (k + 1) * b)]
        c.execute("BEGIN IMMEDIATE")
        c.executemany("INSERT INTO raw_log VALUES (NULL, 'toyota', ?, 'event', 0, 0, '[]', ?)", rows)
        c.execute("COMMIT")
    for k in range(n_batches - 1):
        raw_batch(k)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw_batch(n_batches - 1)
    pages = frames(raw)
    print(f"raw INSERTs of the same log records, same batch: {len(pages)} frames",
          json.dumps(by_btree(c, pages), sort_keys=True))
    c.close()
    subprocess.run(["rm", "-rf", tmp])

main()
