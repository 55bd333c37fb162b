#!/usr/bin/env bash
# Connection limits (issue 8, item 2; docs/operations.md, "Connection limits"): a stranger at 127.0.0.2 opens
# 200 connections and sends half a request header on each, then holds them. Meanwhile, from 127.0.0.1 (yund's
# own machine) /healthz answers, a portal login answers and an agent registers and reports; from 127.0.0.3
# (another stranger) /healthz and a login answer too. yund keeps at most its per-address limit of the
# stranger's connections and cuts those it keeps once their header deadline passes. yund on the fake
# hypervisor; TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
# the strangers connect from 127.0.0.2 and 127.0.0.3 to 127.0.0.1 (all of 127/8 is this machine's loopback)
yund_start "$D/state" "test:///default" --fake-hv || { tap_fail "yund starts"; tap_done; exit 1; }
PORT=$YUND_PORT
PID=$YUND_PID
PORT="$PORT" A="$(cat "$D/state/admin.token" 2>/dev/null)" G="$(host_credential h2 2>/dev/null)" YPID="$PID" \
  python3 - <<'PY'
import json, os, socket, ssl, sys, time, urllib.request

# yund serves HTTPS only: every connection here does TLS first (SSL_CERT_FILE names its CA: lib.sh's yund_trust)
CTX = ssl.create_default_context()

PORT, A, G, YPID = int(os.environ['PORT']), os.environ['A'], os.environ['G'], int(os.environ['YPID'])
n = failed = 0

def tap(ok, desc, diag=''):
    global n, failed
    n += 1
    failed += not ok
    print(f"{'ok' if ok else 'not ok'} {n} - {desc}")
    if not ok and diag:
        for l in str(diag).splitlines()[:5]:
            print('# ' + l)
    sys.stdout.flush()

def http(src, method, path, body=None, token=None, timeout=10):
    """One request from source address src; (status, body, seconds) or (None, error, seconds)."""
    t0 = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.bind((src, 0))
        s.connect(('127.0.0.1', PORT))
        s = CTX.wrap_socket(s, server_hostname='127.0.0.1')
        data = json.dumps(body).encode() if body is not None else b''
        hdr = f'{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(data)}\r\n'
        if token:
            hdr += f'Authorization: Bearer {token}\r\n'
        if body is not None:
            hdr += 'Content-Type: application/json\r\n'
        s.sendall(hdr.encode() + b'\r\n' + data)
        out = b''
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
        head, _, rest = out.partition(b'\r\n\r\n')
        return int(head.split()[1]), rest.decode(errors='replace'), time.time() - t0
    except Exception as e:
        return None, repr(e), time.time() - t0
    finally:
        s.close()

# a user with a password, for the logins
st, b, _ = http('127.0.0.1', 'POST', '/v1/users', {'name': 'carol'}, A)
st2, b2, _ = http('127.0.0.1', 'PUT', '/v1/users/carol/password', {'password': 'carol-password'}, A)
tap(st == 201 and st2 in (200, 204), 'a user carol with a password', f'{st} {b} / {st2} {b2}')

# the attack: 200 connections from 127.0.0.2, each with half a request header
held = []
for i in range(200):
    s = socket.socket()
    s.setblocking(True)
    s.settimeout(5)
    try:
        s.bind(('127.0.0.2', 0))
        s.connect(('127.0.0.1', PORT))
        s = CTX.wrap_socket(s, server_hostname='127.0.0.1')
        s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
        held.append(s)
    except Exception:
        s.close()
tap(len(held) > 0, f'the stranger at 127.0.0.2 opened {len(held)} connections and sent half a header on each')
time.sleep(1)

def alive(ts):
    """Whether yund still holds this TLS socket open (nothing waiting on it: no alert, EOF or reset)."""
    s = socket.socket(fileno=os.dup(ts.fileno()))  # the TCP socket under it, which MSG_PEEK can look at
    s.setblocking(False)
    try:
        s.recv(1, socket.MSG_PEEK)  # an end, or an answer before one: yund let go of it
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        s.close()

kept = sum(alive(s) for s in held)
tap(0 < kept <= 32, f'yund keeps at most 32 of them ({kept})')

st, b, t = http('127.0.0.1', 'GET', '/healthz')
tap(st == 200, f'/healthz answers from 127.0.0.1 during the attack ({t:.2f} s)', f'{st} {b}')
st, b, t = http('127.0.0.1', 'POST', '/v1/session', {'name': 'carol', 'password': 'carol-password'})
tap(st == 201, f'a login answers from 127.0.0.1 during the attack ({t:.2f} s)', f'{st} {b}')
st, b, t = http('127.0.0.1', 'POST', '/v1/agent/register',
                {'name': 'h2', 'cores': 4, 'mhz': 2000, 'mem_mib': 8192, 'disk_total_mib': 100000,
                 'disk_free_mib': 100000, 'hypervisor': 'qemu', 'accel': 'tcg', 'libvirt_uri': 'test:///h2'}, G)
hid = json.loads(b).get('host_id') if st == 200 or st == 201 else None
tap(hid is not None, f'an agent registers during the attack ({t:.2f} s)', f'{st} {b}')
st, b, t = http('127.0.0.1', 'POST', f'/v1/agent/hosts/{hid}/report', {'domains': [], 'vms': []}, G)
tap(st == 200, f'an agent reports during the attack ({t:.2f} s)', f'{st} {b}')
st, b, t = http('127.0.0.3', 'GET', '/healthz')
tap(st == 200, f'/healthz answers another stranger (127.0.0.3) too ({t:.2f} s)', f'{st} {b}')
st, b, t = http('127.0.0.3', 'POST', '/v1/session', {'name': 'carol', 'password': 'carol-password'})
tap(st == 201, f'a login from 127.0.0.3 answers too ({t:.2f} s)', f'{st} {b}')

# the header deadline (10 s): the connections yund kept are cut
deadline = time.time() + 25
while time.time() < deadline and any(alive(s) for s in held):
    time.sleep(0.5)
left = sum(alive(s) for s in held)
tap(left == 0, 'the stranger\'s connections are cut once their header deadline passes', f'{left} still open')
for s in held:
    s.close()
st, b, _ = http('127.0.0.2', 'GET', '/healthz')
tap(st == 200, 'the stranger is served again once it behaves', f'{st} {b}')
try:
    os.kill(YPID, 0)
    tap(True, 'yund is still running')
except OSError:
    tap(False, 'yund is still running')
print(f'1..{n}')
sys.exit(1 if failed else 0)
PY
