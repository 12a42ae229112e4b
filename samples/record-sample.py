#!/usr/bin/env python3
"""Records samples/sip-tls12-rsa.pcap: a SIP call over TLS 1.2 (RSA key exchange,
AES-256-GCM, extended master secret) between Python's ssl module (OpenSSL) client and
server on loopback, captured with tshark. Writes the plaintext each side sent to
samples/sip-tls12-rsa.{c2s,s2c}.txt. Run as root from the repository root:
    python3 samples/record-sample.py
"""
import socket, ssl, subprocess, threading, time, os

PORT = 5061
CALL = "a84b4c76e66710@pc33.example.com"

def sip(first, headers, body=""):
    h = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return f"{first}\r\n{h}Content-Length: {len(body.encode())}\r\n\r\n{body}".encode()

def hdrs(cseq, method, totag=""):
    return [("Via", "SIP/2.0/TLS 127.0.0.1:5062;branch=z9hG4bK776asdhds" + method.lower()),
            ("Max-Forwards", "70"),
            ("From", "Alice <sips:alice@example.com>;tag=1928301774"),
            ("To", "Bob <sips:bob@example.com>" + totag),
            ("Call-ID", CALL), ("CSeq", f"{cseq} {method}")]

SDP = ("v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       "t=0 0\r\nm=audio 49170 RTP/SAVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")
C2S = [sip("INVITE sips:bob@example.com SIP/2.0", hdrs(1, "INVITE") + [("Contact", "<sips:alice@127.0.0.1:5062>"), ("Content-Type", "application/sdp")], SDP),
       sip("ACK sips:bob@example.com SIP/2.0", hdrs(1, "ACK", ";tag=a6c85cf")),
       b"\r\n\r\n",
       sip("BYE sips:bob@example.com SIP/2.0", hdrs(2, "BYE", ";tag=a6c85cf"))]
S2C = [[sip("SIP/2.0 100 Trying", hdrs(1, "INVITE")),
        sip("SIP/2.0 180 Ringing", hdrs(1, "INVITE", ";tag=a6c85cf")),
        sip("SIP/2.0 200 OK", hdrs(1, "INVITE", ";tag=a6c85cf") + [("Contact", "<sips:bob@127.0.0.1:5061>"), ("Content-Type", "application/sdp")], SDP)],
       [], [b"\r\n"],
       [sip("SIP/2.0 200 OK", hdrs(2, "BYE", ";tag=a6c85cf"))]]

def server(ready):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("AES256-GCM-SHA384")
    ctx.load_cert_chain("samples/server-rsa.crt", "samples/server-rsa.key")
    ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", PORT)); ls.listen(1); ready.set()
    c, _ = ls.accept()
    s = ctx.wrap_socket(c, server_side=True)
    for i, m in enumerate(C2S):
        got = b""
        while len(got) < len(m):
            got += s.recv(65536)
        for r in S2C[i]:
            s.sendall(r); time.sleep(0.02)
    s.unwrap(); c.close(); ls.close()

cap = subprocess.Popen(["tshark", "-q", "-i", "lo", "-f", f"tcp port {PORT}", "-F", "pcap",
                        "-w", "samples/sip-tls12-rsa.pcap"], stderr=subprocess.DEVNULL)
time.sleep(2)
ready = threading.Event()
t = threading.Thread(target=server, args=(ready,)); t.start(); ready.wait()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.maximum_version = ssl.TLSVersion.TLSv1_2; ctx.set_ciphers("AES256-GCM-SHA384")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", PORT)), server_hostname="sip.example.com")
for i, m in enumerate(C2S):
    s.sendall(m)
    want = sum(len(r) for r in S2C[i]); got = b""
    while len(got) < want:
        got += s.recv(65536)
    time.sleep(0.02)
try: s.unwrap()
except Exception: pass
s.close(); t.join(); time.sleep(1); cap.terminate(); cap.wait()
open("samples/sip-tls12-rsa.c2s.txt", "wb").write(b"".join(C2S))
open("samples/sip-tls12-rsa.s2c.txt", "wb").write(b"".join(b"".join(x) for x in S2C))
print("wrote samples/sip-tls12-rsa.pcap")
