#!/usr/bin/env python3
"""rfb_type.py HOST PORT TEXT: types TEXT and Enter on a VNC server's keyboard (RFB 3.8, security None), as a
person at the VM's screen would. Used by test_metrics.sh to make a guest busy from outside: its shell on tty1
is on the VNC screen. Only unshifted characters (a-z 0-9 space / - . =) are mapped; anything else is refused."""
import socket
import struct
import sys
import time

ALLOWED = set("abcdefghijklmnopqrstuvwxyz0123456789 /-.=")


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("rfb_type: the server closed the connection")
        b += c
    return b


def key(s, sym):
    for down in (1, 0):
        s.sendall(struct.pack("!BBxxI", 4, down, sym))
        time.sleep(0.03)


def main():
    host, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if not set(text) <= ALLOWED:
        raise SystemExit("rfb_type: only a-z 0-9 space / - . = can be typed: %r" % text)
    s = socket.create_connection((host, port), timeout=10)
    ver = recv_exact(s, 12)
    if not ver.startswith(b"RFB "):
        raise SystemExit("rfb_type: not an RFB server: %r" % ver)
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    if n == 0:
        raise SystemExit("rfb_type: the server refused: %r" % s.recv(256))
    types = recv_exact(s, n)
    if 1 not in types:
        raise SystemExit("rfb_type: the server wants a password (security types %r)" % list(types))
    s.sendall(b"\x01")
    if struct.unpack("!I", recv_exact(s, 4))[0] != 0:
        raise SystemExit("rfb_type: security handshake failed")
    s.sendall(b"\x01")  # ClientInit: shared
    w, h = struct.unpack("!HH", recv_exact(s, 4))
    recv_exact(s, 16)
    name_len = struct.unpack("!I", recv_exact(s, 4))[0]
    recv_exact(s, name_len)
    key(s, 0xFF0D)  # a fresh prompt first, in case the shell printed something
    for ch in text:
        key(s, ord(ch))
    key(s, 0xFF0D)
    time.sleep(0.5)
    s.close()
    print("typed %r on a %dx%d screen" % (text, w, h))


if __name__ == "__main__":
    main()
