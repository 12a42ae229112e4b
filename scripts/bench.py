#!/usr/bin/env python3
"""bench.py -- captls against ssldump and tshark on the same captures (issue 11).

Why: the engine's in-process figures (tests/bench) say nothing about the whole tool, and
the targets of issue 11 are relative to what people use today (ssldump, tshark) and to the
raw crypto on the same machine. This script makes real-OpenSSL captures (tests/bench
--gen-bulk / --gen-idle, tests/tlsgen), runs every tool on the same files, checks that
each tool really decrypted everything, and prints ratios of CPU time (user + sys of the
child, getrusage via wait4), median over interleaved rounds (round r runs every tool and
every file once, so slow drifts of a shared machine hit all tools alike):

  - bulk decryption MB/s of plaintext: TLS1.2 RSA AES-128-GCM with 16 KiB records in
    64 KB segments, the same at MSS-sized (1460-byte) packets, AES-128-CBC-SHA at MSS;
  - full RSA-2048 handshakes/s (N TLS1.2 connections, 1 HTTP request/response each);
  - bytes per established idle flow and per half-open flow (captls: tests/bench
    --memory-established, 100,000 flows, RSS and heap per flow);
  - bytes per idle flow (peak RSS with 100,000 flows stopped mid-handshake minus peak RSS
    with 1,000, per extra flow; ssldump and tshark with 20,000: ssldump's flow lookup
    grows with the number of flows, 100,000 take it many minutes);
  - captls -o json / -o text / -w writers: plaintext MB/s of the writer alone (CPU of the
    run minus CPU of `captls -q` on the same file in the same round) and of the whole run;
  - 1 vs 2 threads (captls --threads 1 / 2): WALL-clock time and CPU time of the same
    run, on 64 bulk GCM connections (16 KiB records, 64 KB segments, 64 client addresses,
    packets interleaved) and on the handshake capture (its connections come from 64
    client addresses: flows are sharded by address pair); here wall time is the figure,
    2 threads' CPU time is not a speedup. Every other captls run uses --threads 1;
  - beside raw libgcrypt AES-128-GCM and OpenSSL RSA-2048 private decryption measured in
    the same rounds (tests/bench --baseline, CPU time).

What each tool runs (the plain way to get the plaintext out of each):
  captls -q --stats -r F -k KEY           (checked: "plaintext bytes" and decrypted sessions)
  ssldump -d -n -k KEY -r F > /dev/null    (checked once: -d output has the application_data
                                            records, -w OUT.pcap carries every plaintext byte)
  tshark -n -r F -o uat:rsa_keys:... -q -z follow,tls,raw,0     (bulk: one connection)
  tshark ... -Y http -T fields -e http.request.method -e http.response.code  (handshakes)
                                           (checked once: all bytes / every request+response)
A tool that is not installed is left out (said so). A tool that does not decrypt
everything is reported as FAILED for that file, and the script exits 1.

usage: scripts/bench.py [--build DIR] [--work DIR] [--rounds N] [--quick] [--no-tshark]
       (make bench runs it from the build directory)
Not part of make check: it takes several minutes and its figures depend on the machine.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import time

def die(msg):
    print("bench: " + msg, file=sys.stderr)
    sys.exit(1)

def run(cmd, out=None, err=None, check=True):
    """Run cmd (stdout/stderr to files or /dev/null); return (rc, cpu seconds, maxrss KiB)."""
    fo = open(out or os.devnull, "wb")
    fe = open(err or os.devnull, "wb")
    try:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    finally:
        fo.close()
        fe.close()
    if check and p.returncode != 0:
        msg = open(err).read()[-2000:] if err else ""
        die("%s exited %d %s" % (" ".join(cmd), p.returncode, msg))
    return p.returncode, ru.ru_utime + ru.ru_stime, ru.ru_maxrss

def pcap_tcp_payload_bytes(path):
    """Sum of TCP payload lengths in a classic pcap (Ethernet, raw IP or Linux SLL)."""
    total = 0
    with open(path, "rb") as f:
        gh = f.read(24)
        if len(gh) < 24:
            return 0
        magic = struct.unpack("<I", gh[:4])[0]
        e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
        linktype = struct.unpack(e + "I", gh[20:24])[0]
        while True:
            rh = f.read(16)
            if len(rh) < 16:
                break
            incl = struct.unpack(e + "IIII", rh)[2]
            d = f.read(incl)
            off = {1: 14, 101: 0, 12: 0, 113: 16, 0: 4}.get(linktype, 14)
            if linktype == 1 and len(d) >= 14 and d[12:14] == b"\x81\x00":
                off = 18
            ip = d[off:]
            if len(ip) < 20:
                continue
            if ip[0] >> 4 == 4:
                ihl = (ip[0] & 15) * 4
                tot = struct.unpack(">H", ip[2:4])[0]
                if ip[9] != 6:
                    continue
                tcp = ip[ihl:]
                iplen = tot - ihl
            elif ip[0] >> 4 == 6:
                if ip[6] != 6:
                    continue
                tcp = ip[40:]
                iplen = struct.unpack(">H", ip[4:6])[0]
            else:
                continue
            if len(tcp) < 20:
                continue
            total += max(0, iplen - (tcp[12] >> 4) * 4)
    return total

def follow_bytes(path):
    """Plaintext bytes in `tshark -z follow,tls,raw,N` output: c2s lines, s2c lines (tab)."""
    c = s = 0
    with open(path) as f:
        for line in f:
            t = line.rstrip("\n")
            h = t.lstrip("\t")
            if h and re.fullmatch(r"[0-9a-f]+", h):
                if t.startswith("\t"):
                    s += len(h) // 2
                else:
                    c += len(h) // 2
    return c, s

def merge_pcaps(srcs, dst):
    """Interleave the packets of classic pcaps (same header) round-robin into dst."""
    fs = [open(x, "rb") for x in srcs]
    hdr = [f.read(24) for f in fs][0]
    e = "<" if struct.unpack("<I", hdr[:4])[0] in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    with open(dst, "wb") as o:
        o.write(hdr)
        live = list(fs)
        while live:
            for f in list(live):
                rh = f.read(16)
                if len(rh) < 16:
                    live.remove(f)
                    continue
                o.write(rh + f.read(struct.unpack(e + "IIII", rh)[2]))
    for f in fs:
        f.close()

def timed(cmd):
    """run(cmd) with its wall-clock seconds: (cpu, wall)."""
    t0 = time.monotonic()
    _, c, _ = run(cmd)
    return c, time.monotonic() - t0

def pair_wall(cmd):
    """Wall seconds of two copies of cmd run at once: 2 x (one copy's wall) / this is the
    parallelism the machine gives this workload right now (2.0 on two idle cores)."""
    t0 = time.monotonic()
    ps = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    for p in ps:
        if p.wait() != 0:
            die("%s exited %d" % (" ".join(cmd), p.returncode))
    return time.monotonic() - t0

def med(v):
    return statistics.median(v) if v else float("nan")

def main():
    ap = argparse.ArgumentParser(description="captls vs ssldump vs tshark (issue 11)")
    ap.add_argument("--build", default=".", help="build directory (captls, tests/bench, tests/tlsgen)")
    ap.add_argument("--work", default=None, help="where captures go (default BUILD/bench-work)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller captures, 3 rounds")
    ap.add_argument("--no-tshark", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    captls = os.path.join(build, "captls")
    bench = os.path.join(build, "tests", "bench")
    tlsgen = os.path.join(build, "tests", "tlsgen")
    for x in (captls, bench, tlsgen):
        if not os.access(x, os.X_OK):
            die("%s not built (make captls tests/bench tests/tlsgen)" % x)
    work = os.path.abspath(a.work or os.path.join(build, "bench-work"))
    os.makedirs(work, exist_ok=True)
    rounds = 3 if a.quick and a.rounds == 5 else a.rounds
    nmsg = 1000 if a.quick else 4000          # 16 KiB messages per bulk capture
    nhs = 500 if a.quick else 3000
    nidle = 20000 if a.quick else 100000
    nidle_other = 5000 if a.quick else 20000  # ssldump's flow lookup is not constant-time
    ssldump = shutil.which("ssldump")
    tshark = None if a.no_tshark else shutil.which("tshark")
    W = lambda n: os.path.join(work, n)
    key, cert = W("key.pem"), W("cert.pem")

    # ---- captures ----
    print("bench: making captures in %s" % work, flush=True)
    if not os.path.exists(key):
        run([tlsgen, "--make-key", "rsa2048", key, cert])
    os.chmod(key, 0o600)
    bulk = [  # name, label, cipher, segment size
        ("gcm16k", "AES-128-GCM, 16 KiB records, 64 KB segments", "AES128-GCM-SHA256", 65000),
        ("gcmmss", "AES-128-GCM, 16 KiB records, MSS packets", "AES128-GCM-SHA256", 1460),
        ("cbcmss", "AES-128-CBC-SHA, 16 KiB records, MSS packets", "AES128-SHA", 1460),
    ]
    expect = {}
    for name, _, cipher, seg in bulk:
        run([bench, "--key", key, cert, "--gen-bulk", W(name + ".pcap"), cipher, str(seg), str(nmsg), "16384"])
        expect[name] = (nmsg * 16384, 0, 1)         # c2s bytes, s2c bytes, sessions
    # the same kind of connection with no application data: each tool's fixed cost
    # (start-up, key loading, one RSA handshake), subtracted for the net figures
    run([bench, "--key", key, cert, "--gen-bulk", W("hs0.pcap"), "AES128-GCM-SHA256", "1460", "0", "16384"])
    expect["hs0"] = (0, 0, 1)
    # 64 connections from 64 clients, packets interleaved: what 2 threads can share. Flows
    # are sharded by a keyed hash of the address pair, so with 8 clients (the earlier
    # capture) 2 shards got 4/4 pairs in only 27 % of runs, and 2/6 or worse in 29 %: the
    # figure measured the hash seed's luck. A capture point sees many peers; 64 (as the
    # handshake capture) still leaves a 28/36 split or worse in 38 % of runs, which is part
    # of what is measured (the hash stays keyed: the split is not chosen).
    nconn = 64
    nmc = 4 * nmsg // nconn            # 4x the bulk capture: 262 MB, long enough for wall time
    for k in range(nconn):
        run([bench, "--key", key, cert, "--client", str(k), "--gen-bulk", W("mc%d.pcap" % k),
             "AES128-GCM-SHA256", "65000", str(nmc), "16384"])
    merge_pcaps([W("mc%d.pcap" % k) for k in range(nconn)], W("gcmmulti.pcap"))
    expect["gcmmulti"] = (nconn * nmc * 16384, 0, nconn)
    for k in range(nconn):
        os.unlink(W("mc%d.pcap" % k))
    run([tlsgen, "-o", W("hs.pcap"), "-v", "1.2", "-c", "AES128-GCM-SHA256", "--key", key, "--cert", cert,
         "--app", "http", "-n", "1", "--connections", str(nhs), "--no-tickets", "--seed", "9",
         "--client-hosts", "64"], out=W("hs.txt"))
    c2s = s2c = 0
    for m in re.finditer(r"c2s (\d+) bytes s2c (\d+) bytes", open(W("hs.txt")).read()):
        c2s += int(m.group(1))
        s2c += int(m.group(2))
    expect["hs"] = (c2s, s2c, nhs)
    run([bench, "--key", key, cert, "--gen-idle", W("idle_small.pcap"), "1000"])
    run([bench, "--key", key, cert, "--gen-idle", W("idle_big.pcap"), str(nidle)])
    run([bench, "--key", key, cert, "--gen-idle", W("idle_mid.pcap"), str(nidle_other)])
    with open(W("idle.xml"), "w") as f:
        f.write('<?xml version="1.0"?>\n<document type="captagent_module/xml">\n'
                '<module name="protocol_tls" description="bench" serial="1">\n'
                '<profile name="bench" description="bench" enable="true" serial="1"><settings>\n'
                '<param name="private-key-path" value="%s"/>\n'
                '<param name="max-flows" value="%d"/>\n'
                '</settings></profile></module></document>\n' % (key, nidle * 2))

    files = [n for n, _, _, _ in bulk] + ["hs", "hs0", "gcmmulti"]
    rsa_uat = 'uat:rsa_keys:"%s",""' % key

    def captls_cmd(f, *extra):
        extra = list(extra)
        if not any(x.startswith("--threads") for x in extra):
            extra = ["--threads", "1"] + extra
        return [captls, "-r", W(f + ".pcap"), "-k", key] + extra

    def tshark_cmd(f):
        base = [tshark, "-n", "-r", W(f + ".pcap"), "-o", rsa_uat]
        if f == "hs":
            return base + ["-Y", "http", "-T", "fields", "-e", "http.request.method", "-e", "http.response.code"]
        return base + ["-q", "-z", "follow,tls,raw,0"]

    # ---- verification, once per tool and file ----
    failed = []
    print("bench: checking that every tool decrypts everything", flush=True)
    for f in files:
        exp_c, exp_s, exp_sess = expect[f]
        run(captls_cmd(f, "-q", "--stats"), err=W("v.err"))
        st = open(W("v.err")).read()
        pb = int(re.search(r"plaintext bytes (\d+)", st).group(1))
        sd = int(re.search(r"sessions \d+, decrypted (\d+)", st).group(1))
        ok = pb == exp_c + exp_s and sd == exp_sess
        print("  %-8s captls:  %d/%d plaintext bytes, %d/%d sessions decrypted %s" %
              (f, pb, exp_c + exp_s, sd, exp_sess, "ok" if ok else "FAILED"))
        if not ok:
            failed.append(("captls", f))
        if ssldump and f != "gcmmulti":          # (the threads capture: captls only)
            if os.path.exists(W("sd.pcap")):
                os.unlink(W("sd.pcap"))             # ssldump -w appends
            run([ssldump, "-n", "-k", key, "-r", W(f + ".pcap"), "-w", W("sd.pcap")], check=False)
            got = pcap_tcp_payload_bytes(W("sd.pcap"))
            run([ssldump, "-d", "-n", "-k", key, "-r", W(f + ".pcap")], out=W("sd.txt"), check=False)
            recs = open(W("sd.txt"), errors="replace").read().count("application_data")
            minrec = {"hs": 2 * nhs, "hs0": 0, "gcmmulti": nconn * nmc}.get(f, nmsg)
            ok = got == exp_c + exp_s and recs >= minrec
            print("  %-8s ssldump: %d/%d plaintext bytes (-w), %d application_data records (>= %d) %s" %
                  (f, got, exp_c + exp_s, recs, minrec, "ok" if ok else "FAILED"))
            if not ok:
                failed.append(("ssldump", f))
        if tshark and f != "gcmmulti":
            run(tshark_cmd(f), out=W("ts.txt"), check=False)
            if f in ("hs0", "gcmmulti"):
                ok = True
            elif f == "hs":
                lines = [l for l in open(W("ts.txt")).read().splitlines() if l.strip()]
                ok = len(lines) == 2 * nhs
                print("  %-8s tshark:  %d/%d HTTP requests+responses decrypted %s" %
                      (f, len(lines), 2 * nhs, "ok" if ok else "FAILED"))
            else:
                c, s = follow_bytes(W("ts.txt"))
                ok = (c, s) == (exp_c, exp_s)
                print("  %-8s tshark:  %d/%d plaintext bytes (follow,tls,raw) %s" %
                      (f, c + s, exp_c + exp_s, "ok" if ok else "FAILED"))
            if not ok:
                failed.append(("tshark", f))

    # ---- timed rounds, interleaved ----
    cpu = {}
    def add(k, v):
        cpu.setdefault(k, []).append(v)
    writers = [("json", ["-o", "json"]), ("text", ["-o", "text"]), ("pcap", ["-q", "-w", "/dev/null"])]
    base = {}
    thr = {}     # (threads, file) -> [(cpu, wall)]
    for r in range(rounds):
        print("bench: round %d/%d" % (r + 1, rounds), flush=True)
        for f in ("gcmmulti", "hs"):
            for n in (1, 2):
                thr.setdefault((n, f), []).append(timed(captls_cmd(f, "--threads", str(n), "-q")))
            thr.setdefault(("pair", f), []).append(pair_wall(captls_cmd(f, "--threads", "1", "-q")))
        run([bench, "--key", key, cert, "--baseline"], out=W("base.txt"))
        for line in open(W("base.txt")):
            k, v = line.split()
            base.setdefault(k, []).append(float(v))
        for f in files:
            if f == "gcmmulti":
                continue
            add(("captls", f), run(captls_cmd(f, "-q"))[1])
            if ssldump:
                add(("ssldump", f), run([ssldump, "-d", "-n", "-k", key, "-r", W(f + ".pcap")], check=False)[1])
            if tshark:
                add(("tshark", f), run(tshark_cmd(f), check=False)[1])
            if f in ("gcm16k", "gcmmss"):
                for wn, args in writers:
                    add(("captls-" + wn, f), run(captls_cmd(f, *args))[1])

    with open(W("cpu.json"), "w") as f:    # raw CPU seconds per run, for a second look
        json.dump({"%s %s" % k: v for k, v in cpu.items()} | {"baseline " + k: v for k, v in base.items()}, f, indent=1)

    # ---- memory per idle flow (peak RSS; one run each) ----
    mem = {}
    for tool, cmd in (("captls", lambda p: [captls, "-q", "-c", W("idle.xml"), "-r", p]),
                      ("ssldump", lambda p: [ssldump, "-n", "-k", key, "-r", p]),
                      ("tshark", lambda p: [tshark, "-n", "-r", p, "-o", rsa_uat, "-q", "-Y", "tls.handshake.type == 14"])):
        if (tool == "ssldump" and not ssldump) or (tool == "tshark" and not tshark):
            continue
        n = nidle if tool == "captls" else nidle_other
        rs, _, small = run(cmd(W("idle_small.pcap")), check=False)
        rb, cb, big = run(cmd(W("idle_big.pcap" if tool == "captls" else "idle_mid.pcap")), check=False)
        if rs or rb or big <= small:
            print("bench: %s memory runs: exit %d/%d, peak RSS %d/%d KiB, %.1f CPU s: not counted" %
                  (tool, rs, rb, small, big, cb))
            continue
        mem[tool] = (n, (big - small) * 1024.0 / (n - 1000))
    # established and idle (keys proven, 3 messages each way, then silence): captls only,
    # in-process (tests/bench --memory-established: RSS and heap per flow at N flows)
    est = []
    rc, _, _ = run([bench, "--memory-established", str(nidle)], out=W("mem_est.txt"), check=False)
    if rc == 0:
        for line in open(W("mem_est.txt")):
            m = re.match(r"\s+(TLS 1\.[23].*?|half-open.*?)\s+(\d+)\s+(\d+)\s*$", line)
            if m:
                est.append((m.group(1).strip(), int(m.group(2)), int(m.group(3))))

    # ---- report ----
    gcm = med(base["aes128gcm_MBps"])
    cbc = med(base["aes128cbc_sha1_MBps"])
    rsa = med(base["rsa2048_decrypt_per_s"])
    print("\ncaptls vs ssldump vs tshark: CPU time (user+sys) of each run, median of %d interleaved rounds" % rounds)
    print("raw crypto in the same rounds (tests/bench --baseline): libgcrypt AES-128-GCM %.0f MB/s, "
          "AES-128-CBC+HMAC-SHA1 %.0f MB/s, OpenSSL RSA-2048 decrypt %.0f/s" % (gcm, cbc, rsa))
    print("\nBulk decryption, plaintext MB/s (1 connection, %d SIP messages of 16 KiB = %.1f MB)" % (nmsg, nmsg * 16384 / 1e6))
    print("  %-46s %9s %9s %9s %10s %10s %9s" % ("", "captls", "ssldump", "tshark", "x ssldump", "x tshark", "x raw"))
    def rate(tool, name, net):
        if (tool == "ssldump" and not ssldump) or (tool == "tshark" and not tshark):
            return float("nan")
        mb = sum(expect[name][:2]) / 1e6
        t = med(cpu[(tool, name)])
        if net:
            t = med([x - y for x, y in zip(cpu[(tool, name)], cpu[(tool, "hs0")])])
        return mb / t if t > 0 else float("inf")
    for net in (False, True):
        if net:
            print("  net of each tool's fixed cost (the same run on the handshake alone: start-up, key, RSA):")
        for name, label, cipher, _ in bulk:
            c, s, t = rate("captls", name, net), rate("ssldump", name, net), rate("tshark", name, net)
            rawv = gcm if "GCM" in label else cbc
            print("  %-46s %9.0f %9.0f %9.1f %10.2f %10.1f %9.2f" % (label, c, s, t, c / s, c / t, c / rawv))
    print("\nFull handshakes (%d TLS1.2 RSA-2048 connections, 1 HTTP request/response each)" % nhs)
    hc = nhs / med(cpu[("captls", "hs")])
    hs_ = nhs / med(cpu[("ssldump", "hs")]) if ssldump else float("nan")
    ht = nhs / med(cpu[("tshark", "hs")]) if tshark else float("nan")
    print("  fixed cost of one run (handshake-only capture), CPU s: captls %.3f, ssldump %.3f, tshark %.3f" %
          (med(cpu[("captls", "hs0")]), med(cpu.get(("ssldump", "hs0"), [float("nan")])),
           med(cpu.get(("tshark", "hs0"), [float("nan")]))))
    print("  handshakes/s: captls %.0f, ssldump %.0f, tshark %.0f; captls x ssldump %.2f, x tshark %.1f, "
          "x raw RSA-2048 %.2f" % (hc, hs_, ht, hc / hs_, hc / ht, hc / rsa))
    print("\n1 vs 2 threads (captls -q --threads N), median wall-clock and CPU seconds; ceiling = the")
    print("  parallelism the machine gave at the time: 2 x (1-thread wall) / (wall of two 1-thread runs at once)")
    print("  %-46s %9s %9s %9s %9s %9s %9s" % ("", "1 wall", "2 wall", "speedup", "ceiling", "1 CPU", "2 CPU"))
    for f, label in (("gcmmulti", "AES-128-GCM 16 KiB, %d connections, %.0f MB" % (nconn, sum(expect["gcmmulti"][:2]) / 1e6)),
                     ("hs", "%d RSA-2048 handshakes, 64 clients" % nhs)):
        w1 = med([w for _, w in thr[(1, f)]])
        w2 = med([w for _, w in thr[(2, f)]])
        print("  %-46s %9.3f %9.3f %8.2fx %8.2fx %9.3f %9.3f" % (label, w1, w2, w1 / w2, 2 * w1 / med(thr[("pair", f)]),
              med([c for c, _ in thr[(1, f)]]), med([c for c, _ in thr[(2, f)]])))
    print("\ncaptls writers to /dev/null, plaintext MB/s (writer alone = run minus captls -q in the same round)")
    print("  %-46s %14s %14s" % ("", "writer alone", "whole run"))
    for name, label, _, _ in bulk[:2]:
        mb = sum(expect[name][:2]) / 1e6
        q = cpu[("captls", name)]
        for wn, _ in writers:
            w = cpu[("captls-" + wn, name)]
            alone = med([wi - qi for wi, qi in zip(w, q)])
            print("  %-46s %14s %14.0f" % ("%s: %s" % ({"json": "-o json", "text": "-o text", "pcap": "-w"}[wn], label),
                                           ("%.0f" % (mb / alone)) if alone > 0 else "> 10000", mb / med(w)))
    print("\nMemory per idle flow (N flows stopped after ServerHelloDone; peak RSS difference to 1,000 flows)")
    for tool, (n, v) in mem.items():
        print("  %-10s %10.0f bytes/flow  (N = %d)" % (tool, v, n))
    if est:
        print("captls per flow, %d flows (tests/bench --memory-established; target <= 1 KiB established, "
              "<= 2 KiB half-open)" % nidle)
        print("  %-46s %10s %10s" % ("", "RSS B", "heap B"))
        for label, rss, heap in est:
            print("  %-46s %10d %10d" % (label, rss, heap))
    for tool, f in failed:
        print("FAILED: %s did not decrypt everything in %s" % (tool, f))
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
