#!/usr/bin/env bash
# Numbers from outside (issue 8, item 3): a table of hostile inputs (beyond 64 bits, INT64_MAX and its
# neighbours, negative, -0, 1e99, fractions where whole numbers are wanted, "12abc", empty, a leading space or
# '+') sent to every numeric query parameter and body field a user or admin can send: the metrics routes'
# from/to/step/core, VM create and patch, users' quotas, the numeric settings. Each must be a 400 that names
# the parameter and says the allowed range: never a 500, never a 200 with nonsense, never a crash (yund still
# answers afterwards, and under the ASan build its log has no sanitizer report). yund on the fake hypervisor;
# TAP on stdout.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cloud.sh"
D=$YUN_TEST_DIR
yund_start "$D/state" "test:///default" --fake-hv || { tap_fail "yund starts"; tap_done; exit 1; }
URL=$YUN_URL
PID=$YUND_PID

URL="$URL" A="$(cat "$D/state/admin.token" 2>/dev/null)" G="$(host_credential h9 2>/dev/null)" LOG="$D/state/yund.log" IMG="$D/tiny.qcow2" YPID="$PID" \
  python3 - <<'PY'
import json, os, re, subprocess, sys, time, urllib.error, urllib.parse, urllib.request

URL, A, LOG, YPID = os.environ['URL'], os.environ['A'], os.environ['LOG'], int(os.environ['YPID'])
G = os.environ['G']  # host h9's credential: hosts' numbers enter through the agent protocol
n = 0
failed = 0

def tap(ok, desc, diag=''):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print(f"{'ok' if ok else 'not ok'} {n} - {desc}")
    if not ok and diag:
        for l in str(diag).splitlines()[:5]:
            print('# ' + l)
    sys.stdout.flush()

def call(method, path, token, body=None, raw=None):
    data = raw.encode() if raw is not None else (json.dumps(body).encode() if body is not None else None)
    rq = urllib.request.Request(URL + path, data=data, method=method, headers={'Authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(rq, timeout=20) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except Exception as e:  # a dead yund: connection refused or reset
        return 0, repr(e)

def msg(text):
    try:
        return json.loads(text)['error']['message']
    except Exception:
        return text[:300]

tap(A != '' and call('GET', '/healthz', A)[0] == 200, 'yund starts')
# a plain user, an image, and a VM of theirs to patch and to read the metrics of
st, b = call('POST', '/v1/users', A, {'name': 'bob'})
B = json.loads(b)['token'] if st == 201 else ''
tap(st == 201, 'a plain user bob', b)
subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', os.environ['IMG'], '64M'], check=True)
with open(os.environ['IMG'], 'rb') as f:
    rq = urllib.request.Request(URL + '/v1/images?name=tiny', data=f.read(), method='PUT',
                                headers={'Authorization': 'Bearer ' + A})
    urllib.request.urlopen(rq, timeout=30).read()
st, b = call('POST', '/v1/vms', B, {'name': 'web1', 'image': 'tiny', 'memory': '64M'})
tap(st == 201, 'bob creates web1', b)
for _ in range(50):  # the fake host registers with the all-in-one agent
    if call('GET', '/v1/hosts/fake', A)[0] == 200:
        break
    time.sleep(0.2)

# hostile whole numbers, as JSON text (so values beyond 64 bits reach the parser as typed)
HUGE = '99999999999999999999999'
JSON_BAD = [HUGE, '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809',
            '-1', '1e99', '2.5', '2.0', '"12abc"', '""', '"2"', 'null', 'true', '[]']
# (route, path, token, body template with @ for the value, field, the range the message must state, 0 allowed)
INT_FIELDS = [
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","cpus":@}', 'cpus', 'from 1 to 64', False),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","cpu_shares":@}', 'cpu_shares',
     'from 0 to 262144', True),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","cpu_cap":@}', 'cpu_cap', 'from 0 to 100',
     True),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","min_mhz":@}', 'min_mhz',
     'from 0 to 1000000', True),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","max_mhz":@}', 'max_mhz',
     'from 0 to 1000000', True),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","utility":@}', 'utility', 'from 0 to 1000',
     True),
    ('PATCH', '/v1/vms/web1', 'B', '{"cpu_shares":@}', 'cpu_shares', 'from 2 to 262144', False),
    ('PATCH', '/v1/vms/web1', 'B', '{"cpu_cap":@}', 'cpu_cap', 'from 0 to 100', True),
    ('PATCH', '/v1/vms/web1', 'B', '{"min_mhz":@}', 'min_mhz', 'from 0 to 1000000', True),
    ('PATCH', '/v1/vms/web1', 'B', '{"max_mhz":@}', 'max_mhz', 'from 0 to 1000000', True),
    ('PATCH', '/v1/vms/web1', 'B', '{"utility":@}', 'utility', 'from 1 to 1000', False),
    ('POST', '/v1/users', 'A', '{"name":"q1","quota":{"max_vms":@}}', 'quota.max_vms', 'from 0 to 1000000000', True),
    ('POST', '/v1/users', 'A', '{"name":"q1","quota":{"max_cpus":@}}', 'quota.max_cpus', 'from 0 to 1000000000',
     True),
    ('PATCH', '/v1/users/bob', 'A', '{"quota":{"max_vms":@}}', 'quota.max_vms', 'from 0 to 1000000000', True),
    ('PATCH', '/v1/users/bob', 'A', '{"quota":{"max_cpus":@}}', 'quota.max_cpus', 'from 0 to 1000000000', True),
]
SIZE_FIELDS = [
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":@}', 'memory', 'from 32M to 16T', False),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","max_memory":@}', 'max_memory',
     'from 32M to 16T', False),
    ('POST', '/v1/vms', 'B', '{"name":"x1","image":"tiny","memory":"64M","disk":@}', 'disk', 'from 64M to 1024T',
     False),
    ('PATCH', '/v1/vms/web1', 'B', '{"memory":@}', 'memory', 'from 32M to 16T', False),
    ('POST', '/v1/users', 'A', '{"name":"q1","quota":{"max_memory":@}}', 'quota.max_memory', 'to 1048576T', True),
    ('PATCH', '/v1/users/bob', 'A', '{"quota":{"max_disk":@}}', 'quota.max_disk', 'to 1048576T', True),
]
SIZE_BAD = [v for v in JSON_BAD if v != '"2"'] + ['"99999999999999999999999T"', '"1e99G"', '"2000000T"', '"-1G"', '"0x10M"', '"nanM"', '"12abc"']
tok = {'A': A, 'B': B, 'G': G}
# a second host, registered as an agent would, to report for
REG = '{"name":"h9","cores":4,"mhz":2000,"mem_mib":8192,"disk_total_mib":100000,"disk_free_mib":100000,' \
      '"hypervisor":"qemu","accel":"tcg","libvirt_uri":"test:///h9"}'
st, b = call('POST', '/v1/agent/register', G, raw=REG)
H9 = json.loads(b).get('host_id') if st in (200, 201) else 0
tap(H9, 'an agent registers host h9', b)
def reg(field):
    return re.sub('"%s":[0-9]+' % field, '"%s":@' % field, REG)
# the agent protocol: a host's capacities, its free disk, a stranger domain's figures, a migration's times
AGENT_FIELDS = [
    ('POST', '/v1/agent/register', 'G', reg('cores'), 'cores', 'from 1 to 65536', False),
    ('POST', '/v1/agent/register', 'G', reg('mhz'), 'mhz', 'from 0 to 100000', True),
    ('POST', '/v1/agent/register', 'G', reg('mem_mib'), 'mem_mib', 'from 1 to 4294967296', False),
    ('POST', '/v1/agent/register', 'G', reg('disk_total_mib'), 'disk_total_mib', 'from 0 to 1099511627776', True),
    ('POST', '/v1/agent/register', 'G', reg('disk_free_mib'), 'disk_free_mib', 'from 0 to 1099511627776', True),
    ('POST', f'/v1/agent/hosts/{H9}/report', 'G', '{"disk_free_mib":@,"domains":[],"vms":[]}', 'disk_free_mib',
     'from 0 to 1099511627776', True),
    ('POST', f'/v1/agent/hosts/{H9}/report', 'G',
     '{"domains":[{"uuid":"6f1c0d3e-8a42-4c1b-9d0e-2f5a7b9c1d3e","name":"s","state":"running","yun_owned":false,'
     '"mem_mib":@}],"vms":[]}', 'mem_mib', 'from 0 to 4294967296', True),
]

names = iter(range(1, 1000000))

def check_table(fields, values, what):
    bad = []
    for m, p, t, tmpl0, field, rng, zero_ok in fields:
        for v in values:
            tmpl = tmpl0.replace('"x1"', f'"x{next(names)}"')  # a VM that is wrongly created does not block the next
            st, b = call(m, p, tok[t], raw=tmpl.replace('@', v))
            text = msg(b)
            if st == 400 and field in text and rng in text:
                continue
            bad.append(f'{m} {p} {field}={v}: {st} {text}')
        # -0 is 0: fine where 0 is, else refused with the range
        tmpl = tmpl0.replace('"x1"', f'"x{next(names)}"')
        st, b = call(m, p, tok[t], raw=tmpl.replace('@', '-0'))
        if zero_ok and st not in (200, 201):
            bad.append(f'{m} {p} {field}=-0 (0 is allowed): {st} {msg(b)}')
        if not zero_ok and not (st == 400 and rng in msg(b)):
            bad.append(f'{m} {p} {field}=-0: {st} {msg(b)}')
        if st in (200, 201) and p == '/v1/users':
            call('DELETE', '/v1/users/q1', A)
        if st == 201 and p == '/v1/vms':
            call('DELETE', '/v1/vms/' + json.loads(b)['vm']['name'], B)
    tap(not bad, f'{what}: every hostile value is a 400 naming the field and its range', '\n'.join(bad))

check_table(INT_FIELDS, JSON_BAD, 'whole-number body fields (VM create/patch, quotas)')
check_table(SIZE_FIELDS, SIZE_BAD, 'size body fields (memory, disk, quota sizes)')
check_table(AGENT_FIELDS, JSON_BAD, 'the agent protocol\'s numbers (a host\'s capacities, its free disk, a domain\'s)')

# query parameters of the metrics routes (a plain user may call them): times, steps, a core number
Q_BAD = [HUGE, '9223372036854775807', '9223372036854775808', '-9223372036854775809', '1e99', '12abc', '', '-0',
         '%2B5', '%205', '0x10']
QUERY = [('/v1/metrics', 'to'), ('/v1/metrics', 'from'), ('/v1/metrics', 'step'), ('/v1/vms/web1/metrics', 'to'),
         ('/v1/vms/web1/metrics', 'from'), ('/v1/hosts/fake/metrics', 'to'), ('/v1/hosts/fake/metrics', 'step'),
         ('/v1/hosts/fake/metrics', 'core')]
bad = []
for path, param in QUERY:
    for v in Q_BAD:
        if param == 'core' and v == '-0':  # core 0
            continue
        st, b = call('GET', f'{path}?{param}={v}', B)
        text = msg(b)
        if st == 400 and param in text:
            continue
        bad.append(f'{path}?{param}={v}: {st} {text}')
tap(not bad, 'metrics query parameters: every hostile value is a 400 naming the parameter', '\n'.join(bad))
# the issue's own example, and its neighbours: the range is stated
bad = []
for path in ('/v1/metrics', '/v1/vms/web1/metrics', '/v1/hosts/fake/metrics'):
    for v in (HUGE, '9223372036854775807', '253402300800000'):
        st, b = call('GET', f'{path}?to={v}', B)
        if not (st == 400 and 'from 0 to 253402300799999' in msg(b)):
            bad.append(f'{path}?to={v}: {st} {msg(b)}')
    st, b = call('GET', f'{path}?core=4096' if 'hosts' in path else f'{path}?step=99999d', B)
    if st != 400:
        bad.append(f'{path} core/step: {st} {msg(b)}')
tap(not bad, 'GET ...?to=99999999999999999999999 (the issue\'s example) is a 400 with the allowed range', '\n'.join(bad))
st, b = call('GET', '/v1/hosts/fake/metrics?core=64', B)
tap(st == 400 and 'core 64 is out of range: give a whole number from 0 to 63' in msg(b),
    'a core beyond the host\'s is a 400 with the host\'s range', msg(b))
st, b = call('GET', '/v1/metrics?from=1699990000000&to=1700000000000&step=1m', B)
tap(st == 200, 'a good query still works', b[:200])

# the numeric settings (admin): values are strings, parsed with the same rule
SET_BAD = [HUGE, '9223372036854775807', '-9223372036854775809', '-1', '1e99', '2.5', '12abc', '', ' 500', '+500',
           '0x10', '500 ']
SETTINGS = [('agent.interval_ms', 'from 200 to 60000'), ('metrics.interval_ms', 'from 200 to 600000'),
            ('migration.concurrency', 'from 1 to 16'), ('admission.threshold_pct', 'from 1 to 100'),
            ('vm.max_cpus', 'from 0 to 1000000000'), ('vm.max_memory_mib', 'from 0 to 1000000000'),
            ('vm.max_disk_mib', 'from 0 to 1000000000')]
bad = []
for key, rng in SETTINGS:
    before = call('GET', f'/v1/settings/{key}', A)[1]
    for v in SET_BAD:
        st, b = call('PUT', f'/v1/settings/{key}', A, {'value': v})
        if not (st == 400 and key in msg(b) and rng in msg(b)):
            bad.append(f'{key}={v!r}: {st} {msg(b)}')
    if call('GET', f'/v1/settings/{key}', A)[1] != before:
        bad.append(f'{key} changed: {before} -> {call("GET", f"/v1/settings/{key}", A)[1]}')
tap(not bad, 'numeric settings: every hostile value is a 400 naming the setting and its range, and nothing is stored',
    '\n'.join(bad))

# nothing crashed: yund answers, the process is the one started, and no sanitizer spoke
alive = call('GET', '/healthz', A)[0] == 200
try:
    os.kill(YPID, 0)
except OSError:
    alive = False
tap(alive, 'yund is still up after every hostile input')
log = open(LOG, errors='replace').read()
tap(not re.search(r'AddressSanitizer|runtime error:|LeakSanitizer', log), 'no sanitizer report in yund\'s log',
    '\n'.join(l for l in log.splitlines() if 'Sanitizer' in l or 'runtime error' in l))
print(f'1..{n}')
sys.exit(1 if failed else 0)
PY
