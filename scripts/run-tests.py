#!/usr/bin/env python3
"""Runs every test suite and prints one line: `N passed, N failed` (all suites summed).

Suites:
  unit         every meson test of each build dir given with --build (plain and ASan+UBSan), TAP
  integration  tests/integration/test_*.sh, TAP on stdout, against the binaries of the first build dir; --jobs
               (default 2) of them side by side, the longest (a larger `# run-tests: timeout=`) first
  browser      tests/browser/test_*.mjs, TAP on stdout (node + playwright-core + chromium, firefox-esr)
  fuzz         each libFuzzer harness of --fuzz-build (tests/fuzz, docs/fuzzing.md) over its seed corpus plus
               --fuzz-runs new inputs (or for --fuzz-time seconds); a crash, leak or UB fails it, its input kept
               in FUZZBUILD/test-logs/. Runs only when --fuzz-build is given.
A test program that exits non-zero without printing a `not ok` line counts as one failure, so a crash
cannot pass. Logs go to BUILD/test-logs/. Select with --suite and --only (a substring of a test's name).
"""
import argparse, concurrent.futures, json, os, re, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRINT = threading.Lock()  # one test's result lines together, when integration tests run side by side


def run_tap(name, cmd, env, cwd, logdir, timeout):
    os.makedirs(logdir, exist_ok=True)
    log = os.path.join(logdir, re.sub(r'[^A-Za-z0-9_.-]', '_', name) + '.log')
    t0 = time.time()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, errors='replace')
    try:
        out, _ = p.communicate(timeout=timeout)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM first, so the test's own cleanup (a trap, the browser test's handler) ends the daemons and
        # browsers it started, which a SIGKILL would leave running; SIGKILL if it does not end in 30 s
        p.terminate()
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        out = (out or '') + f'\nnot ok - {name} timed out after {timeout}s\n'
        rc = 124
    with open(log, 'w') as f:
        f.write(out)
    passed = failed = 0
    fails = []
    for line in out.splitlines():
        if re.match(r'^ok\b', line) and '# SKIP' not in line:
            passed += 1
        elif re.match(r'^not ok\b', line):
            failed += 1
            fails.append(line)
    if rc != 0 and failed == 0:
        failed = 1
        fails.append(f'not ok - {name} exited with {rc} (see {log})')
    if passed == 0 and failed == 0:
        failed = 1
        fails.append(f'not ok - {name} printed no results (see {log})')
    status = 'ok  ' if failed == 0 else 'FAIL'
    with PRINT:
        print(f'{status} {name}: {passed} passed, {failed} failed ({time.time() - t0:.1f}s)', flush=True)
        for f in fails[:20]:
            print('     ' + f, flush=True)
        if failed:
            tail = out.splitlines()[-15:]
            for l in tail:
                print('     | ' + l, flush=True)
    return passed, failed


def run_fuzz(fbuild, only, runs, seconds):
    """Each harness over its corpus, then `runs` mutated inputs (or `seconds` of them); returns (passed, failed)."""
    import shutil, tempfile
    fdir = os.path.join(fbuild, 'tests', 'fuzz')
    logdir = os.path.join(fbuild, 'test-logs')
    os.makedirs(logdir, exist_ok=True)
    names = sorted(f for f in os.listdir(fdir) if f.startswith('fuzz_') and os.access(os.path.join(fdir, f), os.X_OK)
                   and os.path.isfile(os.path.join(fdir, f))) if os.path.isdir(fdir) else []
    if not names:
        print(f'FAIL fuzz: no harnesses in {fdir} (build them: make fuzz-build)', flush=True)
        return 0, 1
    tp = tf = 0
    for h in names:
        name = f'fuzz/{h}'
        if only not in name:
            continue
        corpus = os.path.join(ROOT, 'tests', 'fuzz', 'corpus', h)
        work = tempfile.mkdtemp(prefix=f'yun-{h}-')  # new finds go here, never into the repo's corpus
        limit = [f'-max_total_time={seconds}'] if seconds else [f'-runs={runs}']
        cmd = [os.path.join(fdir, h), '-max_len=4096', '-timeout=25', '-rss_limit_mb=2048', '-print_final_stats=1',
               f'-artifact_prefix={os.path.join(logdir, h)}-'] + limit + [work, corpus]
        # a TAP line from libFuzzer's verdict: it exits non-zero on a crash, leak, UB report or timeout
        wrapper = ['sh', '-c', '"$@"; rc=$?; if [ $rc -eq 0 ]; then echo "ok - $0"; else echo "not ok - $0 (exit $rc)"; fi; exit $rc',
                   f'{h}: corpus + {f"{seconds}s" if seconds else f"{runs} inputs"}'] + cmd
        env = dict(os.environ)
        env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
        p, f = run_tap(name, wrapper, env, work, logdir, max(600, 3 * seconds))
        shutil.rmtree(work, ignore_errors=True)
        tp += p
        tf += f
    return tp, tf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', action='append', default=[])
    ap.add_argument('--suite', action='append', default=[])
    ap.add_argument('--only', default='')
    ap.add_argument('--fuzz-build', default='', help='the clang -Dfuzz=true build dir (suite fuzz)')
    ap.add_argument('--fuzz-runs', type=int, default=2000, help='new inputs per harness after its corpus')
    ap.add_argument('--fuzz-time', type=int, default=0, help='seconds per harness instead of --fuzz-runs')
    ap.add_argument('--jobs', type=int, default=int(os.environ.get('YUN_TEST_JOBS', '2')),
                    help='integration tests run side by side (each makes its own test hosts and daemons); most of '
                         'their time is waiting for guests, so two share the machine well (YUN_TEST_JOBS)')
    a = ap.parse_args()
    builds = a.build or ['build']
    suites = a.suite or ['unit', 'integration', 'browser', 'fuzz']
    total_p = total_f = 0
    base_env = dict(os.environ)
    if 'unit' in suites:
        for b in builds:
            bdir = os.path.join(ROOT, b)
            tests = json.loads(subprocess.check_output(['meson', 'introspect', '--tests', bdir], text=True))
            for t in tests:
                name = f'{b}/unit/{t["name"]}'
                if a.only not in name:
                    continue
                env = dict(base_env)
                env.update(t.get('env') or {})
                env.setdefault('ASAN_OPTIONS', 'detect_leaks=1:abort_on_error=0')
                env.setdefault('UBSAN_OPTIONS', 'print_stacktrace=1:halt_on_error=1')
                p, f = run_tap(name, t['cmd'], env, t.get('workdir') or bdir, os.path.join(bdir, 'test-logs'),
                               t.get('timeout') or 300)
                total_p += p
                total_f += f
    bdir = os.path.join(ROOT, builds[0])
    for suite, pattern, runner in (('integration', r'^test_.*\.sh$', ['bash']),
                                   ('browser', r'^test_.*\.mjs$', ['node'])):
        if suite not in suites:
            continue
        d = os.path.join(ROOT, 'tests', suite)
        if not os.path.isdir(d):
            continue
        todo = []
        for fn in sorted(os.listdir(d)):
            if not re.match(pattern, fn):
                continue
            name = f'{suite}/{fn}'
            if a.only not in name:
                continue
            env = dict(base_env)
            env['YUN_BUILD'] = bdir
            env['YUN_ROOT'] = ROOT
            # a test may ask for more than 900 s in its first lines ("# run-tests: timeout=N"): real guests
            # under TCG on a loaded machine
            timeout = 900
            with open(os.path.join(d, fn), errors='replace') as tf:
                for line in tf.readlines()[:40]:
                    m = re.match(r'# run-tests: timeout=(\d+)', line)
                    if m:
                        timeout = int(m.group(1))
            todo.append((name, runner + [os.path.join(d, fn)], env, ROOT, os.path.join(bdir, 'test-logs'), timeout))
        # browsers one at a time (each drives a real browser); the longest tests (the larger timeouts) first
        jobs = max(1, a.jobs) if suite == 'integration' else 1
        todo.sort(key=lambda t: -t[5])
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
            for p, f in ex.map(lambda t: run_tap(*t), todo):
                total_p += p
                total_f += f
    if 'fuzz' in suites and (a.fuzz_build or a.suite):
        if not a.fuzz_build:
            print('FAIL fuzz: give --fuzz-build (the clang -Dfuzz=true build dir)', flush=True)
            total_f += 1
        else:
            p, f = run_fuzz(os.path.join(ROOT, a.fuzz_build), a.only, a.fuzz_runs, a.fuzz_time)
            total_p += p
            total_f += f
    print(f'{total_p} passed, {total_f} failed', flush=True)
    return 0 if total_f == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
