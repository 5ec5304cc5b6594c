#!/usr/bin/env python3
"""Measurement helpers for bench/peers.sh (standard library only).

  run     Run a command N times; report the median CPU seconds (user + sys from os.wait4's
          rusage, which covers every thread of the process and any children it waited for),
          wall seconds and peak RSS (ru_maxrss) as one JSON line.
  writes  Run a command once against an embedded SQLite store and count what it wrote:
          committed write transactions (commit frames in the WAL, which this helper keeps
          from being checkpointed by holding a connection open) and rows inserted / updated /
          deleted per table (a before/after comparison of every row).
  floor   SQLite's own CPU to store the findings a muster ingest stored: the same rows, schema,
          pragmas and insertion order, inserted into a new file by one INSERT ... SELECT (all in
          SQLite's C code) and committed, with the close's checkpoint; CPU from getrusage around
          that alone, so the interpreter's start-up is not in it. Optionally with each row's body
          cut to N bytes, to see what a smaller stored form would save.
  target  The 25x target per report of a peers run; floor-table: the floor's Markdown table.
  count   Print counts used to check that a tool really did its work (findings in a store,
          vulnerabilities in faraday-plugins' JSON, rows of a CSV, results in a SARIF file).
"""

import argparse
import csv
import hashlib
import json
import os
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import time

GNU_TIME = os.environ.get("GNU_TIME", "/usr/bin/time")


def remove_db(path):
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass


def run_once(cmd, stdout_path, stderr_path=None):
    """Runs cmd once; returns (cpu_s, wall_s, maxrss_kib, exit status).

    CPU: user + sys from os.wait4's rusage of the launched process, which includes every thread
    and every child it waited for. The command runs under GNU time (`/usr/bin/time -f %M`), and
    peak RSS is taken from time's report rather than from wait4: a child forked from this Python
    process inherits Python's ~20 MiB resident set as the floor of its ru_maxrss (the kernel
    records the pre-exec image's high-water mark), whereas time's own image is ~1 MiB. Time's own
    CPU (~1 ms) is inside the figure. Standard output and error go to files: no terminal, so no
    progress bars, and no pipe to drain."""
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    fd, rss_file = tempfile.mkstemp(prefix="peers-rss-")
    os.close(fd)
    try:
        started = time.perf_counter()
        proc = subprocess.Popen([GNU_TIME, "-q", "-f", "%M", "-o", rss_file] + cmd,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        with open(rss_file) as f:
            lines = [line.strip() for line in f if line.strip()]
        # GNU time prints "Command exited with non-zero status N" before the format on failure.
        maxrss = int(lines[-1]) if lines and lines[-1].isdigit() else usage.ru_maxrss
    finally:
        os.remove(rss_file)
        if stdout_path:
            out.close()
        if stderr_path:
            err.close()
    return usage.ru_utime + usage.ru_stime, wall, maxrss, proc.returncode


def fail(label, cmd, code, stderr_path):
    print(f"error: {label}: exited with {code}: {' '.join(cmd)}", file=sys.stderr)
    if stderr_path and os.path.exists(stderr_path):
        tail = open(stderr_path, "rb").read()[-3000:].decode("utf-8", "replace")
        print(f"--- last lines of its standard error ({stderr_path}) ---\n{tail}", file=sys.stderr)
    sys.exit(1)


def cmd_run(args):
    cpus, walls, rsss = [], [], []
    for i in range(args.runs):
        if args.fresh_db:
            remove_db(args.fresh_db)
        if args.copy_db:
            src, dst = args.copy_db
            remove_db(dst)
            with sqlite3.connect(src) as s, sqlite3.connect(dst) as d:
                s.backup(d)
        cpu, wall, rss, code = run_once(args.cmd, args.stdout, args.stderr)
        if code != 0 and args.allow_fail:
            print(f"  {args.label}: exited with {code} (kept as a failed row; see {args.stderr})", file=sys.stderr)
            print(json.dumps({"label": args.label, "runs": i + 1, "failed": code, "cpu_s": cpu, "wall_s": wall,
                              "rss_mib": rss / 1024}))
            return
        if code != 0:
            fail(f"{args.label} run {i + 1}", args.cmd, code, args.stderr)
        cpus.append(cpu)
        walls.append(wall)
        rsss.append(rss)
        print(f"  {args.label} run {i + 1}/{args.runs}: cpu {cpu:.3f} s, wall {wall:.3f} s, "
              f"peak RSS {rss / 1024:.1f} MiB", file=sys.stderr)
        if i == 0 and args.once_if_over and wall > args.once_if_over:
            print(f"  {args.label}: first run took {wall:.0f} s > {args.once_if_over:.0f} s; measured once",
                  file=sys.stderr)
            break
    record = {
        "label": args.label,
        "runs": len(cpus),
        "cpu_s": statistics.median(cpus),
        "wall_s": statistics.median(walls),
        "rss_mib": statistics.median(rsss) / 1024,
        "cpu_all": cpus,
        "wall_all": walls,
        "rss_all_mib": [r / 1024 for r in rsss],
    }
    print(json.dumps(record))


def cmd_annotate(args):
    """Merges --set KEY=VALUE pairs (values parsed as JSON when they parse) into the record on
    standard input and appends it to a JSONL file."""
    record = json.loads(sys.stdin.read())
    for pair in args.set or []:
        key, _, value = pair.partition("=")
        try:
            record[key] = json.loads(value)
        except ValueError:
            record[key] = value
    with open(args.path, "a") as f:
        f.write(json.dumps(record) + "\n")


def snapshot(db):
    """{table: {primary key: sha1 of the row}} for every table of the store. Rows are keyed by the
    declared primary key (so an INSERT OR REPLACE of a row counts as one update, not a delete and
    an insert), else by rowid."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        snap = {}
        for table in tables:
            info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
            names = [col[1] for col in info]
            pk = [col[1] for col in sorted(info, key=lambda c: c[5]) if col[5] > 0]
            key_index = [names.index(k) for k in pk]
            rows = {}
            for row in conn.execute(f'SELECT rowid, * FROM "{table}"'):
                values = row[1:]
                key = tuple(values[i] for i in key_index) if key_index else row[0]
                rows[key] = hashlib.sha1(repr(values).encode()).hexdigest()
            snap[table] = rows
        return snap
    finally:
        conn.close()


def wal_commits(wal_path):
    """Committed transactions in a WAL file: frames whose 'db size after commit' field is non-zero
    and whose salts match the header (frames of an older WAL generation are not counted)."""
    try:
        data = open(wal_path, "rb").read()
    except FileNotFoundError:
        return 0, 0
    if len(data) < 32:
        return 0, 0
    page_size = struct.unpack(">I", data[8:12])[0]
    salt = data[16:24]
    commits = frames = 0
    offset = 32
    while offset + 24 + page_size <= len(data):
        header = data[offset:offset + 24]
        if header[8:16] != salt:
            break
        frames += 1
        if struct.unpack(">I", header[4:8])[0] != 0:
            commits += 1
        offset += 24 + page_size
    return commits, frames


def cmd_writes(args):
    db = args.db
    before = snapshot(db)
    # Empty the WAL, then hold a read transaction open on the emptied state while the command
    # runs: the command is then not the last connection to close (the last one checkpoints and
    # deletes the WAL), and no checkpoint (SQLite's automatic one runs every 1,000 pages) can copy
    # frames back into the database file under this reader, so the WAL is never restarted and
    # keeps every frame the command commits. Writers are not blocked by a reader in WAL mode.
    holder = sqlite3.connect(db, isolation_level=None)
    mode = holder.execute("PRAGMA journal_mode").fetchone()[0]
    if mode.lower() != "wal":
        print(f"error: {db} is in journal mode {mode}, not WAL", file=sys.stderr)
        sys.exit(1)
    holder.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    commits0, frames0 = wal_commits(db + "-wal")
    if frames0:
        print(f"error: the WAL of {db} still holds {frames0} frames after a TRUNCATE checkpoint", file=sys.stderr)
        sys.exit(1)
    holder.execute("BEGIN")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    cpu, wall, rss, code = run_once(args.cmd, args.stdout, args.stderr)
    if code != 0:
        holder.close()
        fail(args.label, args.cmd, code, args.stderr)
    commits, frames = wal_commits(db + "-wal")
    holder.execute("COMMIT")
    holder.close()
    after = snapshot(db)
    changes = {}
    for table in sorted(set(before) | set(after)):
        b, a = before.get(table, {}), after.get(table, {})
        inserted = sum(1 for k in a if k not in b)
        deleted = sum(1 for k in b if k not in a)
        updated = sum(1 for k in a if k in b and a[k] != b[k])
        if inserted or deleted or updated:
            changes[table] = {"inserted": inserted, "updated": updated, "deleted": deleted}
    record = {
        "label": args.label,
        "write_transactions": commits,
        "wal_frames": frames,
        "rows_changed": sum(sum(v.values()) for v in changes.values()),
        "changes": changes,
        "cpu_s": cpu,
        "wall_s": wall,
        "rss_mib": rss / 1024,
    }
    line = json.dumps(record)
    if args.append:
        with open(args.append, "a") as f:
            f.write(line + "\n")
    print(line)


def store_floor_once(src, dst, body_bytes):
    """One timed INSERT ... SELECT of src's findings into a fresh dst; returns (user_s, sys_s)."""
    import resource

    remove_db(dst)
    conn = sqlite3.connect(dst, isolation_level=None)
    # muster's SqliteStore::open and ::prepare, in the same order
    for pragma in ("page_size = 16384", "journal_mode = WAL", "synchronous = NORMAL", "cache_size = -32768",
                   "temp_store = MEMORY"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute("ATTACH ? AS src", (src,))
    schema = conn.execute("SELECT sql FROM src.sqlite_master WHERE tbl_name = 'findings' AND sql IS NOT NULL "
                          "ORDER BY type = 'index', name").fetchall()
    for (sql,) in schema:
        conn.execute(sql)
    columns = [row[1] for row in conn.execute("PRAGMA src.table_info(findings)") if row[1] != "id"]
    # The rows in memory first, in muster's insertion order, so the timed part reads no file.
    conn.execute(f"CREATE TEMP TABLE rows AS SELECT {', '.join(columns)} FROM src.findings ORDER BY id")
    conn.execute("DETACH src")
    selected = ", ".join(f"substr(body, 1, {body_bytes})" if c == "body" and body_bytes is not None else c
                         for c in columns)
    before = resource.getrusage(resource.RUSAGE_SELF)
    conn.execute("BEGIN")
    conn.execute(f"INSERT INTO findings ({', '.join(columns)}) SELECT {selected} FROM temp.rows")
    conn.execute("COMMIT")
    conn.close()  # the last connection's checkpoint, as at the end of `muster ingest`
    after = resource.getrusage(resource.RUSAGE_SELF)
    return after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def cmd_floor(args):
    """Runs store_floor_once --runs times in fresh child interpreters (a warm process would keep
    freed pages and skew sys time); prints one JSON record."""
    cpus, users, syss = [], [], []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "floor-once", args.src, args.dst]
                             + ([] if args.body_bytes is None else ["--body-bytes", str(args.body_bytes)]),
                             check=True, capture_output=True, text=True).stdout
        user, sys_ = json.loads(out)
        users.append(user)
        syss.append(sys_)
        cpus.append(user + sys_)
    remove_db(args.dst)
    conn = sqlite3.connect(f"file:{args.src}?mode=ro", uri=True)
    rows, body = conn.execute(
        "SELECT count(*), avg(CASE WHEN ? IS NULL THEN length(body) ELSE min(length(body), ?) END) FROM findings",
        (args.body_bytes, args.body_bytes)).fetchone()
    print(json.dumps({"rows": rows, "avg_body_bytes": body, "body_cut": args.body_bytes, "runs": args.runs,
                      "cpu_s": statistics.median(cpus), "user_s": statistics.median(users),
                      "sys_s": statistics.median(syss), "cpu_all": cpus, "sqlite": sqlite3.sqlite_version}))


def cmd_floor_once(args):
    print(json.dumps(store_floor_once(args.src, args.dst, args.body_bytes)))


def cmd_count(args):
    if args.kind == "findings":
        conn = sqlite3.connect(f"file:{args.path}?mode=ro", uri=True)
        total, open_, triaged, grouped = conn.execute(
            "SELECT count(*), coalesce(sum(is_open), 0), count(tier), count(group_key) FROM findings").fetchone()
        print(json.dumps({"findings": total, "open": open_, "triaged": triaged, "grouped": grouped}))
    elif args.kind == "outbox":
        conn = sqlite3.connect(f"file:{args.path}?mode=ro", uri=True)
        counts = dict(conn.execute("SELECT kind || ' ' || action, count(*) FROM outbox GROUP BY 1"))
        tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
        print(json.dumps({"tickets": tickets, "outbox": counts}))
    elif args.kind == "faraday":
        with open(args.path) as f:
            data = json.load(f)
        hosts = data.get("hosts", [])
        vulns = sum(len(h.get("vulnerabilities", [])) for h in hosts)
        vulns += sum(len(s.get("vulnerabilities", [])) for h in hosts for s in h.get("services", []))
        print(json.dumps({"hosts": len(hosts), "vulns": vulns, "tool": data.get("command", {}).get("tool")}))
    elif args.kind == "csv":
        with open(args.path, newline="") as f:
            print(sum(1 for _ in csv.reader(f)) - 1)  # minus the header
    elif args.kind == "sarif":
        with open(args.path) as f:
            data = json.load(f)
        print(sum(len(run.get("results") or []) for run in data.get("runs", [])))
    elif args.kind == "trivy":
        with open(args.path) as f:
            data = json.load(f)
        print(sum(len(r.get("Vulnerabilities") or []) for r in data.get("Results", [])))


def cmd_table(args):
    """Markdown table of `run` records (JSONL) carrying tool, file, format, results, bytes, check."""
    records = [json.loads(line) for line in open(args.path) if line.strip()]
    reports = []
    for r in records:
        if r["file"] not in reports:
            reports.append(r["file"])
    print("| tool | report | CPU s (median) | results/s | MB/s | peak RSS MiB | CPU ratio (peer / muster) "
          "| RSS ratio (peer / muster) | runs | output checked |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for file in reports:
        rows = [r for r in records if r["file"] == file]
        base = next((r for r in rows if r["tool"].startswith("muster")), None)
        for r in rows:
            mb = r["bytes"] / 1e6
            report = f'{r["format"]}, {r["results"]:,} results, {mb:.1f} MB'
            if r.get("failed") is not None:
                print(f'| {r["tool"]} | {report} | failed (exit {r["failed"]}, {r["cpu_s"]:.2f} s) | — | — '
                      f'| {r["rss_mib"]:.1f} | — | — | {r["runs"]} | {r.get("check", "")} |')
                continue
            if base is None or r is base:
                cpu_ratio = rss_ratio = "—"
            else:
                cpu_ratio = f'**{r["cpu_s"] / base["cpu_s"]:.1f}×**'
                rss_ratio = f'{r["rss_mib"] / base["rss_mib"]:.1f}×'
            print(f'| {r["tool"]} | {report} | {r["cpu_s"]:.2f} | {r["results"] / r["cpu_s"]:,.0f} '
                  f'| {mb / r["cpu_s"]:.1f} | {r["rss_mib"]:.1f} | {cpu_ratio} | {rss_ratio} | {r["runs"]} '
                  f'| {r.get("check", "")} |')


def target_peer(records, file):
    """faraday-plugins' completed run with the plugin named on `file`: what the 25x target is
    measured against; None when there is none."""
    return next((r for r in records if r.get("file") == file and "--plugin_id" in r.get("tool", "")
                 and r.get("failed") is None), None)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def cmd_target(args):
    """One line per report of a peers run: faraday-plugins / muster, and whether the target holds."""
    records = read_jsonl(args.path)
    for file in dict.fromkeys(r["file"] for r in records):
        m = next(r for r in records if r["file"] == file and r["tool"].startswith("muster"))
        f = target_peer(records, file)
        if f is None:
            print(f"- {file}: faraday-plugins did not complete; no ratio")
            continue
        cpu, rss = f["cpu_s"] / m["cpu_s"], f["rss_mib"] / m["rss_mib"]
        met = "met" if cpu >= 25 and rss > 1 else "NOT met"
        print(f"- {file}: faraday-plugins / muster CPU {cpu:.1f}x, RSS {rss:.2f}x -> target (>= 25x less CPU, "
              f"less memory) {met}")


def cmd_floor_table(args):
    """Markdown table of the floor mode's records, each beside the 25x budget of the last peers run."""
    records = read_jsonl(args.path)
    peers = read_jsonl(args.peers) if os.path.exists(args.peers) else []
    print("| report | SQLite alone stores | rows | avg body bytes | CPU s | user s | sys s | 25x budget (s) "
          "| share of it |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for file in dict.fromkeys(r["file"] for r in records):
        muster = next(r for r in records if r["file"] == file and r["tool"] == "muster")
        peer = target_peer(peers, file)
        budget = peer["cpu_s"] / 25 if peer else None
        for f in (r for r in records if r["file"] == file and r["tool"] == "floor"):
            if f["body_cut"] is None:
                what = "rows as muster stored them"
            elif f["body_cut"] == 0:
                what = "rows with empty bodies (row and indexes only)"
            else:
                what = f"rows, bodies cut to {f['body_cut']} B"
            share = f"{budget:.3f} | {f['cpu_s'] / budget:.0%}" if budget else "— | —"
            print(f"| {file} | {what} | {f['rows']:,} | {f['avg_body_bytes']:.0f} | {f['cpu_s']:.3f} "
                  f"| {f['user_s']:.3f} | {f['sys_s']:.3f} | {share} |")
        print(f"| {file} | (muster's whole ingest, one run) | | | {muster['cpu_s']:.3f} | | | | |")
    print()
    print("25x budget: faraday-plugins' CPU (plugin named) on the same report in the last peers run"
          " (bench/out/peers-results.jsonl), divided by 25; — when there is none (run the peers mode).")
    print(f"SQLite {next(r for r in records if r['tool'] == 'floor')['sqlite']} (python3's sqlite3 module).")


def cmd_check(args):
    """One-line checks of a tool's output for the tables; exits non-zero when muster's is wrong."""
    kind, a = args.kind, args.args

    def load(path_or_json):
        if path_or_json.lstrip().startswith("{"):
            return json.loads(path_or_json)
        with open(path_or_json) as f:
            return json.load(f)

    if kind == "muster-ingest":  # summary file, findings counts
        s, f = load(a[0]), load(a[1])
        if f["findings"] != s["new"] or f["findings"] == 0 or f["triaged"] != f["open"]:
            sys.exit(f"muster stored {f} after reporting {s}")
        print(f"received {s['received']:,}, duplicates {s['duplicates']:,}; {f['findings']:,} findings stored, "
              f"{f['triaged']:,} triaged")
    elif kind == "ingest-30k":  # summary file, findings counts, outbox counts
        s, f, o = load(a[0]), load(a[1]), load(a[2])
        if f["findings"] != 30000 or s["new"] != 30000 or f["triaged"] != 30000 or f["grouped"] != 30000 \
                or o["tickets"] == 0:
            sys.exit(f"unexpected: summary {s}, store {f}, outbox {o}")
        outbox = ", ".join(f"{v} {k}" for k, v in sorted(o["outbox"].items()))
        print(f"new {s['new']:,}; {f['triaged']:,} triaged and grouped; {o['tickets']} tickets; outbox: {outbox}")
    elif kind == "noop":  # summary file of an identical re-ingest
        s = load(a[0])
        if s["new"] or s["updated"] or s["resolved"]:
            sys.exit(f"identical re-ingest changed findings: {s}")
        print(f"received {s['received']:,}, new 0, updated 0, resolved 0")
    elif kind == "writes":  # record of `writes`
        w = load(a[0])
        tables = "; ".join(f"{t} +{c['inserted']} ~{c['updated']} -{c['deleted']}" for t, c in w["changes"].items())
        print(f"{w['write_transactions']} write transaction(s), {w['rows_changed']} rows changed "
              f"({tables or 'none'}), {w['wal_frames']} WAL pages written")
    elif kind == "open-100k":  # findings counts, outbox counts
        f, o = load(a[0]), load(a[1])
        if f["open"] != 100000 or f["triaged"] != 100000:
            sys.exit(f"expected 100,000 open triaged findings: {f}")
        print(f"{f['open']:,} open findings, {o['tickets']} tickets")
    elif kind == "faraday":  # count faraday record, with the plugin id
        c = load(a[0])
        if not c["vulns"]:
            print(f"plugin {c['tool']}: NO vulnerabilities produced")
        else:
            print(f"plugin {c['tool']}: {c['vulns']:,} vulnerabilities on {c['hosts']:,} hosts")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run")
    run.add_argument("--label", required=True)
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("--stdout", help="file for the command's standard output (last run's kept)")
    run.add_argument("--stderr", help="file for the command's standard error (last run's kept)")
    run.add_argument("--once-if-over", type=float, metavar="SECONDS",
                     help="measure only once when the first run takes longer than this (wall)")
    run.add_argument("--fresh-db", help="delete this SQLite file (and -wal, -shm) before each run")
    run.add_argument("--copy-db", nargs=2, metavar=("SRC", "DST"),
                     help="copy SRC to DST (SQLite backup) before each run")
    run.add_argument("--allow-fail", action="store_true",
                     help="a non-zero exit gives a record with \"failed\" instead of an error")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)

    writes = sub.add_parser("writes")
    writes.add_argument("--label", required=True)
    writes.add_argument("--db", required=True)
    writes.add_argument("--stdout")
    writes.add_argument("--stderr")
    writes.add_argument("--append")
    writes.add_argument("cmd", nargs=argparse.REMAINDER)
    writes.set_defaults(func=cmd_writes)

    for name, func in (("floor", cmd_floor), ("floor-once", cmd_floor_once)):
        floor = sub.add_parser(name)
        floor.add_argument("src", help="a store written by muster ingest")
        floor.add_argument("dst", help="scratch SQLite file (deleted)")
        floor.add_argument("--body-bytes", type=int, help="cut each body to this many bytes")
        floor.add_argument("--runs", type=int, default=5)
        floor.set_defaults(func=func)

    count = sub.add_parser("count")
    count.add_argument("kind", choices=["findings", "outbox", "faraday", "csv", "sarif", "trivy"])
    count.add_argument("path")
    count.set_defaults(func=cmd_count)

    check = sub.add_parser("check")
    check.add_argument("kind", choices=["muster-ingest", "ingest-30k", "noop", "writes", "open-100k", "faraday"])
    check.add_argument("args", nargs="*")
    check.set_defaults(func=cmd_check)

    target = sub.add_parser("target")
    target.add_argument("path", help="peers-results.jsonl")
    target.set_defaults(func=cmd_target)

    floor_table = sub.add_parser("floor-table")
    floor_table.add_argument("path", help="floor-results.jsonl")
    floor_table.add_argument("peers", help="peers-results.jsonl (may be absent)")
    floor_table.set_defaults(func=cmd_floor_table)

    annotate = sub.add_parser("annotate")
    annotate.add_argument("path")
    annotate.add_argument("--set", action="append", metavar="KEY=VALUE")
    annotate.set_defaults(func=cmd_annotate)

    table = sub.add_parser("table")
    table.add_argument("path")
    table.set_defaults(func=cmd_table)

    args = parser.parse_args()
    if hasattr(args, "cmd"):
        if args.cmd and args.cmd[0] == "--":
            args.cmd = args.cmd[1:]
        if not args.cmd:
            parser.error("no command to run")
    args.func(args)


if __name__ == "__main__":
    main()
