#!/usr/bin/env python3
"""ws_client.py URL [IDLE_SECONDS | --screen]: a minimal RFC 6455 client (stdlib only) for the console tests.

Opens URL (wss://host:port/path?query, or ws://) with the "binary" subprotocol, checks the 101 answer and its
Sec-WebSocket-Accept, then speaks the first steps of RFB through it: reads the server's version banner,
sends "RFB 003.008\\n" back in a masked binary frame, and reads the security types. Prints the banner and the
number of security types (after IDLE_SECONDS of silence, when given); exits 0 on success, 2 when the upgrade is refused (the HTTP status is printed).
With --screen it goes on (security None, ClientInit, raw encoding, one full FramebufferUpdateRequest) and prints
the screen's size, name and how many distinct pixel values it shows: "screen WxH NAME colors N"; it exits 0
only when N > 1 (a blank screen is one colour)."""
import base64
import hashlib
import os
import socket
import ssl
import struct
import sys
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError("the connection closed mid-frame")
        out += chunk
    return out


def read_frame(s):
    b0, b1 = recv_exact(s, 2)
    if b1 & 0x80:
        raise ValueError("a server frame must not be masked")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def read_binary(s, want):
    """Reads binary frames until want bytes of payload arrived (RFB messages may span frames)."""
    data = b""
    while len(data) < want:
        op, payload = read_frame(s)
        if op == 8:
            raise EOFError("the server closed the websocket")
        if op in (0, 2):
            data += payload
    return data


def send_binary(s, payload):
    mask = os.urandom(4)
    head = bytes([0x82, 0x80 | len(payload)])  # FIN + binary; client frames are masked (payload < 126 here)
    s.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))


def main():
    screen = len(sys.argv) > 2 and sys.argv[2] == "--screen"
    if screen:
        sys.argv = sys.argv[:2]
    u = urlsplit(sys.argv[1])
    s = socket.create_connection((u.hostname, u.port), timeout=30 + (float(sys.argv[2]) if len(sys.argv) > 2 else 0))
    if u.scheme == "wss":  # yund serves HTTPS only; SSL_CERT_FILE names its CA (lib.sh's yund_trust)
        s = ssl.create_default_context().wrap_socket(s, server_hostname=u.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Protocol: binary\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    lines = head.decode(errors="replace").split("\r\n")
    status = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "?"
    if status != "101":
        print(f"status {status}")
        return 2
    hdr = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if hdr.get("sec-websocket-accept") != want:
        print(f"bad Sec-WebSocket-Accept {hdr.get('sec-websocket-accept')!r}, want {want!r}")
        return 1
    # browsers refuse a 101 without these two
    if hdr.get("upgrade", "").lower() != "websocket" or "upgrade" not in hdr.get("connection", "").lower():
        print(f"Upgrade {hdr.get('upgrade')!r}, Connection {hdr.get('connection')!r}: want websocket, Upgrade")
        return 1
    if hdr.get("sec-websocket-protocol") != "binary":
        print(f"subprotocol {hdr.get('sec-websocket-protocol')!r}, want 'binary'")
        return 1
    banner = read_binary(s, 12)
    print("banner", banner[:12].decode(errors="replace").strip())
    if not banner.startswith(b"RFB 003.008"):
        return 1
    if len(sys.argv) > 2:
        import time
        time.sleep(float(sys.argv[2]))
    send_binary(s, b"RFB 003.008\n")
    buf = read_binary(s, 1)
    n = buf[0]
    print("security types", n)
    if not screen:
        return 0 if n > 0 else 1
    return read_screen(s, buf[1:], n)


class Stream:
    """RFB bytes out of binary frames, whatever the frame boundaries."""

    def __init__(self, s, left):
        self.s, self.buf = s, bytearray(left)

    def take(self, n):
        while len(self.buf) < n:
            self.buf += read_binary(self.s, 1)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def read_screen(s, left, n_types):
    rs = Stream(s, left)
    types = rs.take(n_types)
    if 1 not in types:
        print("no security type None:", list(types))
        return 1
    send_binary(s, b"\x01")
    if struct.unpack(">I", rs.take(4))[0] != 0:
        print("security handshake failed")
        return 1
    send_binary(s, b"\x01")  # ClientInit: shared
    w, h = struct.unpack(">HH", rs.take(4))
    bpp = rs.take(16)[0] // 8
    name = rs.take(struct.unpack(">I", rs.take(4))[0]).decode(errors="replace")
    send_binary(s, struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: raw only
    send_binary(s, struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))  # the whole screen, not incremental
    colors = set()
    while True:
        msg = rs.take(1)[0]
        if msg == 0:
            break
        if msg == 2:  # Bell
            continue
        print("unexpected RFB message", msg)
        return 1
    rs.take(1)
    for _ in range(struct.unpack(">H", rs.take(2))[0]):
        _, _, rw, rh, enc = struct.unpack(">HHHHi", rs.take(12))
        if enc != 0:
            print("unexpected encoding", enc)
            return 1
        data = rs.take(rw * rh * bpp)
        colors.update(data[i:i + bpp] for i in range(0, len(data), bpp))
    print(f"screen {w}x{h} {name} colors {len(colors)}")
    return 0 if len(colors) > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
