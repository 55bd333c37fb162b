#!/usr/bin/env python3
"""Fires N requests at once (one thread each, released together by a barrier) and prints one JSON line per
request: {"i": I, "status": HTTP status, "code": error code or null, "message": error message or null}.

  burst.py URL TOKEN N METHOD PATH BODY_TEMPLATE

BODY_TEMPLATE is JSON text in which {i} becomes the request's number (0..N-1). A connection that yund refuses
before reading it (over its connection limit) is tried again after a short pause: it never reached a handler.
"""
import http.client, json, ssl, sys, threading, time, urllib.parse


def one(i, url, token, method, path, body, barrier, out):
    u = urllib.parse.urlsplit(url)
    barrier.wait()
    for attempt in range(200):
        c = (http.client.HTTPSConnection(u.hostname, u.port, timeout=60, context=ssl.create_default_context())
             if u.scheme == 'https' else http.client.HTTPConnection(u.hostname, u.port, timeout=60))
        try:
            c.request(method, path, body=body.replace('{i}', str(i)),
                      headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
            r = c.getresponse()
            data = r.read()
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError, http.client.RemoteDisconnected):
            c.close()
            time.sleep(0.05 + 0.01 * (attempt % 10))
            continue
        c.close()
        err = {}
        try:
            err = json.loads(data or b'{}').get('error') or {}
        except ValueError:
            pass
        out[i] = {'i': i, 'status': r.status, 'code': err.get('code'), 'message': err.get('message')}
        return
    out[i] = {'i': i, 'status': 0, 'code': 'no_connection', 'message': 'yund never took the connection'}


def main():
    url, token, n, method, path, body = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
    out = [None] * n
    barrier = threading.Barrier(n)
    ts = [threading.Thread(target=one, args=(i, url, token, method, path, body, barrier, out)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for r in out:
        print(json.dumps(r))


if __name__ == '__main__':
    main()
