#!/usr/bin/env python3
"""A stand-in host agent that speaks the agent protocol (docs/agent-protocol.md) to yund with no hypervisor
behind it, for tests that need a second host beside the all-in-one fake one, and a live migration that
stays under way for as long as the test wants.

  fake_agent.py URL AGENT_TOKEN NAME CORES MODE_FILE

It registers NAME with CORES cores, then reports every 0.3 s: each VM yund assigns to it runs at once (a
domain of its own, verdict "running"); a VM assigned elsewhere that it still runs is migrating away, and its
verdict follows MODE_FILE: "hold" (or no file) keeps the migration under way ("migrating"), "fail" fails it
(verdict "running" with a migrate_error, so yund puts the VM back here), "done" ends it (verdict "migrated",
so the target's "running" lands it there). A VM wanted deleted is reported deleted. Every pass it also sends
each VM it runs a CPU sample (POST .../metrics): the percent in MODE_FILE.load, 5 without the file. Runs
until killed.
"""
import json, sys, time, urllib.request


def post(url, token, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method='POST',
                                 headers={'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def main():
    url, token, name, cores, mode_file = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    host = post(url, token, '/v1/agent/register', {
        'name': name, 'cores': cores, 'mhz': 2000, 'mem_mib': 65536, 'disk_total_mib': 1000000,
        'disk_free_mib': 1000000, 'hypervisor': 'qemu', 'accel': 'tcg', 'libvirt_uri': 'test:///' + name})
    hid = host['host_id']
    mine = {}     # uuid -> the desired entry yund last sent for it
    away = set()  # of mine: assigned elsewhere now (migrating away)
    gone = set()  # wanted deleted: reported deleted once more, then forgotten
    while True:
        try:
            mode = open(mode_file).read().strip()
        except OSError:
            mode = 'hold'
        domains, verdicts = [], []
        for uuid, d in mine.items():
            domains.append({'uuid': uuid, 'name': d['domain'], 'state': 'running', 'yun_owned': True})
            if uuid in away:
                v = {'uuid': uuid, 'state': 'migrating'}
                if mode == 'fail':
                    v = {'uuid': uuid, 'state': 'running', 'migrate_error': 'fake_agent: the migration failed'}
                elif mode == 'done':
                    v = {'uuid': uuid, 'state': 'migrated', 'total_ms': 120, 'downtime_ms': 8}
            else:
                v = {'uuid': uuid, 'state': 'running' if d['want'] == 'running' else 'stopped'}
            verdicts.append(v)
        verdicts += [{'uuid': u, 'state': 'deleted'} for u in gone]
        try:
            ans = post(url, token, '/v1/agent/hosts/%d/report' % hid, {'domains': domains, 'vms': verdicts})
        except Exception as e:  # yund busy or restarting: the next pass repairs it
            print('fake_agent: %s' % e, file=sys.stderr)
            time.sleep(0.3)
            continue
        try:
            load = float(open(mode_file + '.load').read().strip())
        except (OSError, ValueError):
            load = 5.0
        now = int(time.time() * 1000)
        samples = [{'kind': 'vm', 'id': u, 'ts_ms': now, 'cpu_pct': load} for u in mine if u not in away]
        if samples:
            try:
                post(url, token, '/v1/agent/hosts/%d/metrics' % hid, {'samples': samples})
            except Exception as e:
                print('fake_agent: metrics: %s' % e, file=sys.stderr)
        gone = set()
        seen = set()
        for d in ans['vms']:
            seen.add(d['uuid'])
            if d['want'] == 'deleted':
                mine.pop(d['uuid'], None)
                gone.add(d['uuid'])
            elif d['here']:
                mine[d['uuid']] = d
                away.discard(d['uuid'])
            elif d['uuid'] in mine:
                away.add(d['uuid'])
        for u in list(mine):
            if u not in seen:  # migrated for good, or deleted at once: no longer ours
                mine.pop(u)
                away.discard(u)
        time.sleep(0.3)


if __name__ == '__main__':
    main()
