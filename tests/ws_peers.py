#!/usr/bin/python3
"""ws_peers.py — a real WebSocket client and server (python3-websockets, RFC 6455) over
real TLS (Python's ssl = OpenSSL) on loopback, exchanging a SIP dialog as SIP over
WebSocket (RFC 7118, subprotocol "sip"). Used by tests/ws_real_test.sh, which captures the
traffic; the framing (masking keys, lengths, fragmentation, ping/pong/close) is all the
websockets library's, not ours.

usage: ws_peers.py PORT CERT KEY KEYLOG OUT.jsonl deflate|plain

Writes OUT.jsonl: one {"dir": "c2s"|"s2c", "data": base64} line per SIP message a peer
sent, in the order it sent them (the expected output of the decrypting engine).
"""
import asyncio, base64, json, ssl, sys

import websockets

port, cert, key, keylog, out, mode = sys.argv[1:7]
compression = "deflate" if mode == "deflate" else None
sent = []


def rec(d, data):
    b = data.encode() if isinstance(data, str) else data
    sent.append({"dir": d, "data": base64.b64encode(b).decode()})


def sip_req(method, cseq, body=""):
    return (f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
            f"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK{cseq}x{method}\r\n"
            f"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
            f"Call-ID: ws-real-1@example.com\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}")


def sip_resp(code, reason, req, body=""):
    via = [l for l in req.split("\r\n") if l.startswith("Via:")][0]
    cseq = [l for l in req.split("\r\n") if l.startswith("CSeq:")][0]
    return (f"SIP/2.0 {code} {reason}\r\n{via}\r\nFrom: <sip:alice@example.com>;tag=a1\r\n"
            f"To: <sip:bob@example.com>;tag=b2\r\nCall-ID: ws-real-1@example.com\r\n{cseq}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n{body}")


SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
SDP_BIG = SDP + "".join(f"a=x-pad{i}:{'p' * 60}\r\n" for i in range(45))      # ~3 KB: 16-bit length


async def server(ws):
    async for m in ws:
        m = m.decode() if isinstance(m, bytes) else m
        method = m.split(" ", 1)[0]
        if method == "INVITE":
            for code, reason, body in ((100, "Trying", ""), (180, "Ringing", ""), (200, "OK", SDP_BIG)):
                r = sip_resp(code, reason, m, body)
                rec("s2c", r)
                await ws.send(r)
            await ws.ping(b"srv")
        elif method in ("BYE", "MESSAGE"):
            r = sip_resp(200, "OK", m)
            rec("s2c", r)
            await ws.send(r)


async def client():
    cctx = ssl.create_default_context()
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.keylog_filename = keylog
    async with websockets.connect(f"wss://127.0.0.1:{port}/ws", ssl=cctx, subprotocols=["sip"],
                                  compression=compression, max_size=None) as ws:
        inv = sip_req("INVITE", 1, SDP)
        rec("c2s", inv)
        await ws.send(inv)
        for _ in range(3):
            await ws.recv()
        ack = sip_req("ACK", 1)
        rec("c2s", ack)
        await ws.send(ack.encode())                           # a binary frame
        await ws.ping(b"cli")
        # a fragmented MESSAGE with a ping between its fragments
        msg = sip_req("MESSAGE", 2, "hello " * 200)

        async def frags():
            yield msg[:50]
            await ws.ping(b"mid")
            yield msg[50:700]
            yield msg[700:]
        rec("c2s", msg)
        await ws.send(frags())
        await ws.recv()
        big = sip_req("MESSAGE", 3, "B" * 70000)              # 64-bit length
        rec("c2s", big)
        await ws.send(big)
        await ws.recv()
        bye = sip_req("BYE", 4)
        rec("c2s", bye)
        await ws.send(bye)
        await ws.recv()


async def main():
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    async with websockets.serve(server, "127.0.0.1", int(port), ssl=sctx, subprotocols=["sip"],
                                compression=compression, max_size=None):
        await client()
        await asyncio.sleep(0.2)


asyncio.run(main())
with open(out, "w") as f:
    for s in sent:
        f.write(json.dumps(s) + "\n")
