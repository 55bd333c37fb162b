// test_portal.mjs: the portal end to end in Debian's Chromium (headless, driven by playwright-core) against a
// yund of its own (a temp state dir, a free port, the all-in-one agent on the fake hypervisor). TAP on stdout.
// Screenshots of each page go to $YUN_BUILD/screenshots/ for a person to look at.
// With YUN_PORTAL_URL and YUN_PORTAL_STATE set (tests/integration/test_portal_libvirt.sh: a yund of that script
// on a private libvirtd, the image YUN_PORTAL_IMAGE built), it runs only the VM's life in real QEMU instead:
// register, create, running, the guest's serial log in the page, chart, console, stop, delete.
// Checks that need parts yund does not have yet (metrics queries, the console proxy) are reported as SKIP
// when yund answers 404 for them, and run when it does not.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ROOT = process.env.YUN_ROOT || process.cwd();
const BUILD = process.env.YUN_BUILD || join(ROOT, 'build');
const YUND = join(BUILD, 'src/cmd/yund');
const SHOTS = join(BUILD, 'screenshots');
const CHROMIUM = process.env.YUN_CHROMIUM || '/usr/bin/chromium';

let n = 0, failed = 0;
const ok = (cond, what, extra) => {
  n++;
  if (cond) console.log(`ok ${n} - ${what}`);
  else { failed++; console.log(`not ok ${n} - ${what}`); if (extra) console.log('# ' + String(extra).split('\n').join('\n# ')); }
  return cond;
};
const skip = (what, why) => { n++; console.log(`ok ${n} - ${what} # SKIP ${why}`); };
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); });
    s.on('error', rej);
  });
}

const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'yun-browser-'));
let yund = null, browser = null;
async function cleanup() {
  try { if (browser) await browser.close(); } catch (e) { /* already gone */ }
  if (yund && yund.exitCode === null) {
    yund.kill('SIGTERM');
    await Promise.race([new Promise(r => yund.once('exit', r)), sleep(5000)]);
    if (yund.exitCode === null) yund.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}
process.on('SIGTERM', async () => { await cleanup(); process.exit(1); });

async function main() {
  mkdirSync(SHOTS, { recursive: true });
  if (!existsSync(join(ROOT, 'www/vendor/preact/preact.module.js'))) {
    execFileSync('bash', [join(ROOT, 'scripts/vendor.sh')], { stdio: 'inherit' });
  }
  const REAL = !!process.env.YUN_PORTAL_URL;
  const STATE = REAL ? process.env.YUN_PORTAL_STATE : join(dir, 'state');
  const IMAGE = process.env.YUN_PORTAL_IMAGE || 'tiny';
  let URL = process.env.YUN_PORTAL_URL, log = '';
  if (!REAL) {
    const port = await freePort();
    URL = `http://127.0.0.1:${port}`;
    yund = spawn(YUND, ['--all-in-one', '--fake-hv', '--state-dir', STATE, '--listen', `127.0.0.1:${port}`,
      '--www-dir', join(ROOT, 'www')], { stdio: ['ignore', 'ignore', 'pipe'] });
    yund.stderr.on('data', d => { log += d; });
  }
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    try { up = (await fetch(URL + '/healthz')).ok; } catch (e) { await sleep(100); }
  }
  if (!ok(up, 'yund starts and answers /healthz', log)) return;
  const ADMIN = readFileSync(join(STATE, 'admin.token'), 'utf8').trim();
  const asAdmin = async (method, path, body) => {
    const r = await fetch(URL + path, { method, headers: { Authorization: 'Bearer ' + ADMIN, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : (typeof body === 'string' || body instanceof Buffer ? body : JSON.stringify(body)) });
    const t = await r.text();
    return { status: r.status, body: t ? (() => { try { return JSON.parse(t); } catch (e) { return t; } })() : null };
  };

  // an image to create VMs from (the real run's script built the starter), and a password for the admin
  if (!REAL) {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'tiny.qcow2'), '64M']);
    const img = await asAdmin('PUT', '/v1/images?name=tiny', readFileSync(join(dir, 'tiny.qcow2')));
    ok(img.status === 201, 'the admin uploads an image', JSON.stringify(img.body));
  }
  const pw = await asAdmin('PUT', '/v1/users/admin/password', { password: 'admin-password' });
  ok(pw.status === 200, 'the admin sets their own password with their token', JSON.stringify(pw.body));

  // the page itself: content types and security headers
  const idx = await fetch(URL + '/');
  ok(idx.status === 200 && idx.headers.get('content-type').startsWith('text/html') &&
     /frame-ancestors 'none'/.test(idx.headers.get('content-security-policy') || ''),
     'yund serves the portal at / as text/html with a Content-Security-Policy');
  const js = await fetch(URL + '/app.js');
  ok(js.headers.get('content-type').startsWith('text/javascript'), 'JavaScript is served as text/javascript');
  const trav = await fetch(URL + '/vendor/%2e%2e/%2e%2e/package.json');
  ok(trav.status === 404, 'a path climbing out of www/ is 404');

  // playwright gives every launch a fresh --user-data-dir of its own (it refuses one in args), under TMPDIR,
  // which is pointed into this test's temp dir so the profile goes with it
  mkdirSync(join(dir, 'chromium'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    env: { ...process.env, TMPDIR: join(dir, 'chromium') },
  });
  const newPage = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 860 } });
    const page = await ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', e => console.log('# page error: ' + e.message));
    return page;
  };
  const shot = (page, name) => page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });

  // ---- register, log out, log in ----
  const alice = await newPage();
  await alice.goto(URL + '/');
  await alice.getByRole('heading', { name: 'Log in to yun' }).waitFor();
  await shot(alice, 'login');
  await alice.getByRole('link', { name: 'Create one' }).click();
  await alice.getByRole('heading', { name: 'Create an account' }).waitFor();
  await alice.getByLabel('User name').fill('alice');
  await alice.getByLabel('Password', { exact: true }).fill('alice-password');
  await alice.getByLabel('Password again').fill('alice-password');
  await shot(alice, 'register');
  await alice.getByRole('button', { name: 'Create account' }).click();
  ok(await alice.getByRole('heading', { name: 'My VMs' }).isVisible().catch(() => false) ||
     await alice.getByRole('heading', { name: 'My VMs' }).waitFor().then(() => true, () => false),
     'a new user registers and lands on My VMs');
  const cookies = await alice.context().cookies();
  const sc = cookies.find(c => c.name === 'yun_session');
  ok(sc && sc.httpOnly && sc.sameSite === 'Strict', 'the session cookie is HttpOnly and SameSite=Strict',
     JSON.stringify(sc));
  await alice.getByRole('button', { name: 'Log out' }).click();
  await alice.getByRole('heading', { name: 'Log in to yun' }).waitFor();
  const after = await alice.evaluate(async () => (await fetch('/v1/whoami')).status);
  ok(after === 401, 'after logging out the API answers 401', after);
  await alice.getByLabel('User name').fill('alice');
  await alice.getByLabel('Password').fill('wrong-password');
  await alice.getByRole('button', { name: 'Log in' }).click();
  ok(await alice.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor().then(() => true, () => false),
     'a wrong password is refused with a message');
  await alice.getByLabel('Password').fill('alice-password');
  await alice.getByRole('button', { name: 'Log in' }).click();
  ok(await alice.getByRole('heading', { name: 'My VMs' }).waitFor().then(() => true, () => false), 'the user logs in');

  // CSRF: a cookie-authenticated write without the portal's header is refused
  const csrf = await alice.evaluate(async () => (await fetch('/v1/vms', { method: 'POST', body: '{}' })).status);
  ok(csrf === 403, 'a write by cookie without X-Yun-Portal is refused (403)', csrf);

  // ---- create a VM, see it run ----
  await alice.getByRole('link', { name: 'Create VM' }).click();
  await alice.getByLabel('Name').fill('web1');
  await alice.getByLabel('Image').selectOption(IMAGE);
  await alice.getByLabel('Memory').fill('128M');
  await alice.getByLabel('Disk').fill('1G');
  await alice.getByText('VMs:').first().waitFor();
  await shot(alice, 'create');
  await alice.getByRole('button', { name: 'Create VM' }).click();
  const running = await alice.locator('h1 .state', { hasText: 'running' })
    .waitFor({ timeout: REAL ? 180000 : 30000 }).then(() => true, () => false);
  ok(running, 'the new VM reaches running on its page');
  if (REAL) {
    const ready = await alice.locator('pre.console', { hasText: 'YUN-GUEST-READY' })
      .waitFor({ timeout: 240000 }).then(() => true, () => false);
    ok(ready, 'the page\'s serial console log shows the guest\'s YUN-GUEST-READY');
  }
  const vmId = (await alice.evaluate(() => location.hash)).split('/')[2];
  await shot(alice, 'vm');

  // charts: only when yund answers metrics queries
  const m = await alice.evaluate(async id => (await fetch(`/v1/vms/${id}/metrics?from=1h&step=5s`)).status, vmId);
  if (m === 404) skip('the VM\'s CPU chart gets points', 'yund has no metrics query yet (GET /v1/vms/{vm}/metrics is 404)');
  else {
    const pts = await alice.waitForFunction(() => {
      const el = document.querySelector('[data-chart="CPU"]');
      return el && Number(el.dataset.points) > 0;
    }, null, { timeout: 30000 }).then(() => true, () => false);
    ok(pts, 'the VM\'s CPU chart gets points');
  }
  // the graphical console: only when yund has the console proxy
  const t = await alice.evaluate(async id => (await fetch(`/v1/vms/${id}/console`, { method: 'POST', headers: { 'X-Yun-Portal': '1' } })).status, vmId);
  if (!REAL) skip('the console canvas shows the guest\'s screen', 'the fake hypervisor has no screen (test_portal_libvirt.sh checks it)');
  else if (t !== 201) ok(false, 'a console ticket for alice\'s running VM', `status ${t}`);
  else {
    await alice.getByRole('button', { name: 'Open console' }).click();
    const painted = await alice.waitForFunction(() => {
      const c = document.querySelector('[data-console] canvas');
      if (!c || !c.width) return false;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4 * 97) if (d[i] || d[i + 1] || d[i + 2]) return true;
      return false;
    }, null, { timeout: 30000 }).then(() => true, () => false);
    ok(painted, 'the console canvas shows the guest\'s screen (not blank)');
  }

  // ---- stop, delete ----
  await alice.getByRole('link', { name: 'My VMs' }).click();
  const row = alice.locator('tr[data-vm="web1"]');
  await row.waitFor();
  await shot(alice, 'vms');
  await alice.getByRole('button', { name: 'Stop web1' }).click();
  ok(await row.locator('.state', { hasText: 'stopped' }).waitFor({ timeout: REAL ? 150000 : 30000 }).then(() => true, () => false),
     'Stop brings the VM to stopped');
  await alice.getByRole('button', { name: 'Delete web1' }).click();
  await alice.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  ok(await row.waitFor({ state: 'detached', timeout: REAL ? 90000 : 30000 }).then(() => true, () => false),
     'Delete, confirmed, removes the VM from the list');
  if (REAL) return; // the rest needs no real guest: the fake run covers it

  // ---- the admin sets a quota of one VM in the Admin page; the second create is refused naming it ----
  const admin = await newPage();
  await admin.goto(URL + '/');
  await admin.getByLabel('User name').fill('admin');
  await admin.getByLabel('Password').fill('admin-password');
  await admin.getByRole('button', { name: 'Log in' }).click();
  await admin.getByRole('link', { name: 'Admin' }).click();
  const arow = admin.locator('tr[data-user="alice"]');
  await arow.getByLabel('VMs').fill('1');
  await arow.getByRole('button', { name: 'Save quota' }).click();
  ok(await arow.getByText('quota saved').waitFor().then(() => true, () => false), 'the admin sets alice\'s quota to one VM');
  await shot(admin, 'admin');

  const create = async (name, cpus) => {
    await alice.goto(URL + '/#/create');
    await alice.getByLabel('Name').fill(name);
    await alice.getByLabel('CPUs').fill(String(cpus));
    await alice.getByRole('button', { name: 'Create VM' }).click();
  };
  await create('one', 2);
  ok(await alice.locator('h1', { hasText: 'one' }).waitFor().then(() => true, () => false), 'the first VM within the quota is created');
  await create('two', 1);
  const qa = alice.getByRole('alert');
  const qmsg = await qa.waitFor().then(() => qa.textContent(), () => '');
  ok(/quota/.test(qmsg) && /max_vms/.test(qmsg), 'the second create is refused with a message naming the quota', qmsg);
  await shot(alice, 'create-refused');

  // ---- the admission threshold refuses with its reason ----
  await asAdmin('PATCH', '/v1/users/alice', { quota: { max_vms: 0 } });
  await admin.getByLabel('admission.threshold_pct').fill('1');
  await admin.getByRole('button', { name: 'Save settings' }).click();
  ok(await admin.getByText('settings saved').waitFor().then(() => true, () => false), 'the admin sets the admission threshold to 1%');
  await create('three', 1);
  const am = await alice.getByRole('alert').waitFor().then(() => alice.getByRole('alert').textContent(), () => '');
  ok(/admission threshold/.test(am) && /1%/.test(am), 'a create above the admission threshold is refused with its reason', am);

  // ---- resources, for everyone ----
  await alice.getByRole('link', { name: 'Resources' }).click();
  const cpuRow = alice.locator('tr[data-item="cpu"]');
  ok(await cpuRow.waitFor().then(() => true, () => false) && /core/.test(await cpuRow.textContent()),
     'Resources lists cores, memory and disk with unit and price');
  await shot(alice, 'resources');

  // ---- another user cannot open alice's VM page or console by URL ----
  const bob = await newPage();
  await bob.goto(URL + '/#/register');
  await bob.getByLabel('User name').fill('bob');
  await bob.getByLabel('Password', { exact: true }).fill('bob-password');
  await bob.getByLabel('Password again').fill('bob-password');
  await bob.getByRole('button', { name: 'Create account' }).click();
  await bob.getByRole('heading', { name: 'My VMs' }).waitFor();
  const aliceVm = (await asAdmin('GET', '/v1/vms?owner=alice')).body.vms.find(v => v.name === 'one');
  await bob.goto(`${URL}/#/vm/${aliceVm.id}`);
  const nf = await bob.getByRole('alert').waitFor().then(() => bob.getByRole('alert').textContent(), () => '');
  ok(/not found/.test(nf) && !(await bob.getByText('alice').count()), 'bob opening alice\'s VM page by URL sees "not found"', nf);
  await shot(bob, 'other-users-vm');
  const codes = await bob.evaluate(async id => [
    (await fetch(`/v1/vms/${id}`)).status, (await fetch(`/v1/vms/${id}/console`)).status,
    (await fetch(`/v1/vms/${id}/console`, { method: 'POST', headers: { 'X-Yun-Portal': '1' } })).status], aliceVm.id);
  ok(codes[0] === 404 && codes[1] === 404 && codes[2] === 404, 'alice\'s VM, its console log and console ticket are 404 for bob', codes);
  const adm = await bob.evaluate(async () => (await fetch('/v1/users')).status);
  ok(adm === 403, 'a plain user gets 403 from admin endpoints', adm);

  // ---- the keyboard alone: log in and reach a page ----
  const kb = await newPage();
  await kb.goto(URL + '/');
  await kb.getByRole('heading', { name: 'Log in to yun' }).waitFor();
  await kb.keyboard.type('bob'); // the name field has the focus
  await kb.keyboard.press('Tab');
  await kb.keyboard.type('bob-password');
  await kb.keyboard.press('Enter');
  const kbIn = await kb.getByRole('heading', { name: 'My VMs' }).waitFor().then(() => true, () => false);
  let reached = false;
  for (let i = 0; i < 12 && kbIn && !reached; i++) {
    await kb.keyboard.press('Tab');
    reached = await kb.evaluate(() => document.activeElement && document.activeElement.textContent === 'Resources');
  }
  if (reached) await kb.keyboard.press('Enter');
  ok(kbIn && reached && await kb.locator('tr[data-item="cpu"]').waitFor().then(() => true, () => false),
     'logging in and opening Resources work with the keyboard alone');

  // ---- registration turned off ----
  await asAdmin('PUT', '/v1/settings/portal.registration', { value: 'off' });
  const carol = await newPage();
  await carol.goto(URL + '/#/register');
  ok(await carol.getByText('Self-registration is turned off').waitFor().then(() => true, () => false),
     'with registration off the register page says so');
  const reg = await carol.evaluate(async () => (await fetch('/v1/register', { method: 'POST', headers: { 'X-Yun-Portal': '1' },
    body: JSON.stringify({ name: 'carol', password: 'carol-password' }) })).status);
  ok(reg === 403, 'and POST /v1/register is refused', reg);

  // ---- host drain from the Admin page: confirmed first; on the only host, alice's VM cannot leave ----
  await admin.goto(URL + '/#/admin');
  const hrow = admin.locator('tr[data-host]').first();
  await hrow.waitFor();
  const hname = await hrow.getAttribute('data-host');
  await admin.getByRole('button', { name: 'Drain ' + hname }).click();
  const dlg = admin.getByRole('dialog');
  const asked = await dlg.waitFor().then(() => dlg.textContent(), () => '');
  await dlg.getByRole('button', { name: 'Drain' }).click();
  const draining = await hrow.getByText('draining').waitFor().then(() => true, () => false);
  const stuckNote = await hrow.getByText('cannot leave').waitFor().then(() => true, () => false);
  ok(/migrate live/.test(asked) && draining && stuckNote,
     'Drain asks first, then the host shows draining, with the VM that cannot leave', asked);
  await shot(admin, 'admin-drain');
  await admin.getByRole('button', { name: 'Enable ' + hname }).click();
  ok(await hrow.getByText('up', { exact: true }).waitFor().then(() => true, () => false), 'Enable ends the drain');
}

try {
  await main();
} catch (e) {
  ok(false, 'the browser test ran to its end', e.stack || e);
} finally {
  await cleanup();
  console.log(`1..${n}`);
  process.exit(failed ? 1 : 0);
}
