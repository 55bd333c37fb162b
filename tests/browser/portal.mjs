// portal.mjs: the portal end to end in a real browser (headless, driven by playwright-core) against a yund of
// its own (a temp state dir, a free port, the all-in-one agent on the fake hypervisor). TAP on stdout.
// One scenario, two browsers: test_portal.mjs runs it in Debian's Chromium (over CDP), test_portal_firefox.mjs
// in Debian's firefox-esr (over WebDriver BiDi: playwright's "moz-firefox" channel drives a stock Firefox, no
// patched build). Screenshots of each page go to $YUN_BUILD/screenshots/ (Firefox: screenshots/firefox/)
// for a person to look at.
// With YUN_PORTAL_URL and YUN_PORTAL_STATE set (tests/integration/test_portal_libvirt.sh: a yund of that script
// on a private libvirtd, the image YUN_PORTAL_IMAGE built), it runs only the VM's life in real QEMU instead:
// register, create, running, the guest's serial log in the page, chart, console, stop, delete; as the user
// YUN_PORTAL_USER (default alice), so that both browsers can take their turn on one yund.
// The graphical console needs a guest with a screen: the fake run reports it as SKIP.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { X509Certificate, createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, firefox } from 'playwright-core';

const ROOT = process.env.YUN_ROOT || process.cwd();
const BUILD = process.env.YUN_BUILD || join(ROOT, 'build');
const YUND = join(BUILD, 'src/cmd/yund');

// How each browser is started. Both get a private TMPDIR (and Firefox a private HOME) inside the test's temp
// dir, so that anything the browser writes goes when the test ends. (playwright makes the profile in this
// process's temp dir: main points that into the test's too.)
const CHROMIUM = process.env.YUN_CHROMIUM || '/usr/bin/chromium';
const FIREFOX = process.env.YUN_FIREFOX || '/usr/bin/firefox-esr';
const BROWSERS = {
  chromium: {
    path: CHROMIUM, pkg: 'chromium',
    shots: join(BUILD, 'screenshots'),
    // yund serves HTTPS with a certificate of its own CA: Chromium trusts exactly its key (the SPKI pin)
    launch: (home, spki) => chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        `--ignore-certificate-errors-spki-list=${spki}`],
      env: { ...process.env, TMPDIR: home },
    }),
  },
  firefox: {
    path: FIREFOX, pkg: 'firefox-esr',
    shots: join(BUILD, 'screenshots', 'firefox'),
    // playwright 1.64 speaks the BiDi of firefox-esr 153; 1.65 sends a command 153 does not know
    // (emulation.setMediaFeaturesOverride), hence the pin in package.json
    // Firefox has no pin flag: its contexts accept yund's certificate (contextOptions), over HTTPS all the same
    contextOptions: { ignoreHTTPSErrors: true },
    launch: home => firefox.launch({
      channel: 'moz-firefox', headless: true,
      executablePath: FIREFOX,
      firefoxUserPrefs: { 'app.update.enabled': false, 'browser.shell.checkDefaultBrowser': false,
        'datareporting.policy.dataSubmissionEnabled': false, 'toolkit.telemetry.enabled': false },
      env: { ...process.env, TMPDIR: home, HOME: home, MOZ_CRASHREPORTER_DISABLE: '1' },
    }),
  },
};

// yund serves HTTPS only, with a certificate of the CA it keeps in STATE/tls. Node's fetch cannot be told a CA,
// so the test's own requests go through this: the part of fetch the test uses, over node:https trusting that CA.
let CA_FILE = null;
const yfetch = (url, { method = 'GET', headers = {}, body } = {}) => new Promise((resolve, reject) => {
  if (body !== undefined) headers = { ...headers, 'Content-Length': Buffer.byteLength(body) };
  const req = httpsRequest(url, { method, headers, ca: readFileSync(CA_FILE) }, res => {
    const chunks = [];
    res.on('data', c => chunks.push(c));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString();
      resolve({ status: res.statusCode, ok: res.statusCode >= 200 && res.statusCode < 300,
        headers: { get: k => res.headers[k.toLowerCase()] ?? null }, text: async () => text });
    });
  });
  req.on('error', reject);
  if (body !== undefined) req.write(body);
  req.end();
});
// the base64 SHA-256 of a PEM certificate's SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list)
const spkiOf = pem => createHash('sha256')
  .update(new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');

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

// The fields of /proc/PID/stat after the command name: [state, ppid, pgrp, ...]; null when it is gone.
function stat(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ');
  } catch (e) { return null; }
}
const pids = () => readdirSync('/proc').filter(e => /^[0-9]+$/.test(e)).map(Number);
// This process's children: playwright does not tell which process is the browser, so the pids new after its
// launch are (yund and qemu-img were started before it).
const children = () => new Set(pids().filter(p => Number(stat(p)?.[1]) === process.pid));
// alive and not a zombie (a dead child not yet reaped still answers kill 0)
const alive = pid => { const st = stat(pid); return !!st && st[0] !== 'Z'; };
// The processes of the browser: playwright starts it as the leader of its own process group, and its content
// processes are in that group. The group's id cannot be given to another process while a member lives, so
// the members found by it are the browser's, even once the leader is gone.
const browserGroup = leader => pids().filter(p => Number(stat(p)?.[2]) === leader && alive(p));

const dir = mkdtempSync(join(process.env.TMPDIR || tmpdir(), 'yun-browser-'));
let yund = null, browser = null, browserPids = [];
const fakeAgents = []; // the clusters' hosts (tests/integration/fake_agent.py), killed at cleanup
// Closes the browser, then kills by pid each of its processes still there (whether close worked or not),
// stops yund, and removes the temp dir with the browser's profile.
async function cleanup() {
  if (browser) await Promise.race([browser.close().catch(() => {}), sleep(10000)]);
  const left = () => browserPids.flatMap(browserGroup);
  for (let i = 0; i < 100 && left().length; i++) {
    for (const pid of left()) {
      try { process.kill(pid, 'SIGKILL'); } catch (e) { /* gone meanwhile */ }
    }
    await sleep(50);
  }
  for (const a of fakeAgents) if (a.exitCode === null) a.kill('SIGKILL');
  if (yund && yund.exitCode === null) {
    yund.kill('SIGTERM');
    await Promise.race([new Promise(r => yund.once('exit', r)), sleep(5000)]);
    if (yund.exitCode === null) yund.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
}

async function main(which) {
  const SHOTS = BROWSERS[which].shots;
  mkdirSync(SHOTS, { recursive: true });
  if (!existsSync(join(ROOT, 'www/vendor/preact/preact.module.js'))) {
    execFileSync('bash', [join(ROOT, 'scripts/vendor.sh')], { stdio: 'inherit' });
  }
  const REAL = !!process.env.YUN_PORTAL_URL;
  const STATE = REAL ? process.env.YUN_PORTAL_STATE : join(dir, 'state');
  const IMAGE = process.env.YUN_PORTAL_IMAGE || 'tiny';
  // the user who registers and creates VMs: a second browser against the same yund registers another
  const ALICE = process.env.YUN_PORTAL_USER || 'alice';
  let URL = process.env.YUN_PORTAL_URL, log = '';
  if (!REAL) {
    const port = await freePort();
    URL = `https://127.0.0.1:${port}`;
    yund = spawn(YUND, ['--all-in-one', '--fake-hv', '--state-dir', STATE, '--listen', `127.0.0.1:${port}`,
      '--www-dir', join(ROOT, 'www')], { stdio: ['ignore', 'ignore', 'pipe'] });
    yund.stderr.on('data', d => { log += d; });
  }
  CA_FILE = join(STATE, 'tls', 'ca.pem');
  let up = false;
  for (let i = 0; i < 100 && !up; i++) {
    try { up = (await yfetch(URL + '/healthz')).ok; } catch (e) { await sleep(100); }
  }
  if (!ok(up, 'yund starts and answers /healthz', log)) return;
  const ADMIN = readFileSync(join(STATE, 'admin.token'), 'utf8').trim();
  const asAdmin = async (method, path, body) => {
    const r = await yfetch(URL + path, { method, headers: { Authorization: 'Bearer ' + ADMIN, 'Content-Type': 'application/json' },
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
  const idx = await yfetch(URL + '/');
  ok(idx.status === 200 && idx.headers.get('content-type').startsWith('text/html') &&
     /frame-ancestors 'none'/.test(idx.headers.get('content-security-policy') || ''),
     'yund serves the portal at / as text/html with a Content-Security-Policy');
  const js = await yfetch(URL + '/app.js');
  ok(js.headers.get('content-type').startsWith('text/javascript'), 'JavaScript is served as text/javascript');
  const trav = await yfetch(URL + '/vendor/%2e%2e/%2e%2e/package.json');
  ok(trav.status === 404, 'a path climbing out of www/ is 404');

  if (!existsSync(BROWSERS[which].path)) {
    ok(false, `${which} is installed`, `${BROWSERS[which].path} is missing: scripts/deps.sh installs Debian's ` +
      `${BROWSERS[which].pkg} (or set YUN_${which.toUpperCase()} to the browser's executable)`);
    return;
  }
  const home = join(dir, which);
  mkdirSync(home);
  // playwright makes the browser's profile and its artifacts dir in os.tmpdir() at launch and removes them at
  // close, which a test killed meanwhile never reaches: made in the test's temp dir, they go with it
  process.env.TMPDIR = home;
  const before = children();
  try {
    browser = await BROWSERS[which].launch(home, spkiOf(readFileSync(join(STATE, 'tls', 'cert.pem'), 'utf8')));
  } finally {
    browserPids = [...children()].filter(p => !before.has(p));
  }
  ok(browserPids.length === 1, `${which} ${browser.version()} starts (pid ${browserPids.join(', ')})`);
  const newPage = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 860 }, ...BROWSERS[which].contextOptions });
    const page = await ctx.newPage();
    page.setDefaultTimeout(15000);
    page.on('pageerror', e => console.log('# page error: ' + e.message));
    // script errors that are not exceptions (a CSP refusal, say); Chromium's line for every 4xx the tests
    // ask for on purpose is left out
    page.on('console', m => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) console.log('# console error: ' + m.text());
    });
    return page;
  };
  const shot = (page, name) => page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
  // A number field is typed into as a person does it: select what is there with the keyboard, then type.
  // playwright's fill() over BiDi leaves a number field's old value in Firefox and appends ('1' into '11'
  // gives '111').
  const typeNumber = async (field, value) => {
    await field.click();
    await field.press('ControlOrMeta+a');
    await field.pressSequentially(String(value));
  };

  // ---- register, log out, log in ----
  const alice = await newPage();
  await alice.goto(URL + '/');
  await alice.getByRole('heading', { name: 'Log in to yun' }).waitFor();
  await shot(alice, 'login');
  await alice.getByRole('link', { name: 'Create one' }).click();
  await alice.getByRole('heading', { name: 'Create an account' }).waitFor();
  await alice.getByLabel('User name').fill(ALICE);
  await alice.getByLabel('Password', { exact: true }).fill(ALICE + '-password');
  await alice.getByLabel('Password again').fill(ALICE + '-password');
  await shot(alice, 'register');
  await alice.getByRole('button', { name: 'Create account' }).click();
  ok(await alice.getByRole('heading', { name: 'My VMs' }).isVisible().catch(() => false) ||
     await alice.getByRole('heading', { name: 'My VMs' }).waitFor().then(() => true, () => false),
     'a new user registers and lands on My VMs');
  const cookies = await alice.context().cookies();
  const sc = cookies.find(c => c.name === 'yun_session');
  ok(sc && sc.httpOnly && sc.secure && sc.sameSite === 'Strict', 'the session cookie is Secure, HttpOnly and SameSite=Strict',
     JSON.stringify(sc));
  await alice.getByRole('button', { name: 'Log out' }).click();
  await alice.getByRole('heading', { name: 'Log in to yun' }).waitFor();
  const after = await alice.evaluate(async () => (await fetch('/v1/whoami')).status);
  ok(after === 401, 'after logging out the API answers 401', after);
  await alice.getByLabel('User name').fill(ALICE);
  await alice.getByLabel('Password').fill('wrong-password');
  await alice.getByRole('button', { name: 'Log in' }).click();
  ok(await alice.getByRole('alert').filter({ hasText: 'wrong user name or password' }).waitFor().then(() => true, () => false),
     'a wrong password is refused with a message');
  await alice.getByLabel('Password').fill(ALICE + '-password');
  await alice.getByRole('button', { name: 'Log in' }).click();
  ok(await alice.getByRole('heading', { name: 'My VMs' }).waitFor().then(() => true, () => false), 'the user logs in');

  // CSRF: a cookie-authenticated write without the portal's header is refused
  const csrf = await alice.evaluate(async () => (await fetch('/v1/vms', { method: 'POST', body: '{}' })).status);
  ok(csrf === 403, 'a write by cookie without X-Yun-Portal is refused (403)', csrf);

  // ---- SSH keys (docs/guests.md): added on their page, given to the VM below through its seed ----
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'alice@laptop', '-f', join(dir, 'alice_key')]);
  const pub = readFileSync(join(dir, 'alice_key.pub'), 'utf8').trim();
  const fp = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'alice_key.pub')], { encoding: 'utf8' }).split(' ')[1];
  await alice.getByRole('link', { name: 'SSH keys' }).click();
  await alice.getByRole('heading', { name: 'SSH keys' }).waitFor();
  await alice.getByLabel('Key name').fill('laptop');
  await alice.getByLabel('Public key').fill(readFileSync(join(dir, 'alice_key'), 'utf8'));
  await alice.getByRole('button', { name: 'Add key' }).click();
  ok(await alice.getByRole('alert').filter({ hasText: 'this is a private SSH key' }).waitFor().then(() => true, () => false),
     'a private key pasted as the public one is refused with the server\'s message');
  await alice.getByLabel('Public key').fill(pub);
  await alice.getByRole('button', { name: 'Add key' }).click();
  const keyRow = alice.locator('tr[data-key="laptop"] [data-fingerprint]');
  ok(await keyRow.waitFor().then(() => true, () => false) && (await keyRow.innerText()) === fp,
     'the key is listed with the fingerprint ssh-keygen gives', `${await keyRow.innerText().catch(() => '')} vs ${fp}`);
  await shot(alice, 'keys');

  // ---- create a VM, see it run ----
  await alice.getByRole('link', { name: 'Create VM' }).click();
  await alice.getByLabel('Name', { exact: true }).fill('web1');
  await alice.getByLabel('Image').selectOption(IMAGE);
  await alice.getByRole('checkbox', { name: 'laptop' }).check();
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
    // the guest's DHCP lease on its host's NAT network, learnt by the agent (docs/networking.md)
    const addr = await alice.locator('dl.facts dd', { hasText: /^10\.203\.\d+\.\d+$/ })
      .waitFor({ timeout: 120000 }).then(() => true, () => false);
    ok(addr, 'the VM\'s page shows the address its guest got',
      await alice.locator('dl.facts').innerText().catch(() => ''));
  }
  const vmId = (await alice.evaluate(() => location.hash)).split('/')[2];
  await shot(alice, 'vm');
  // the key chosen on the form is in the VM's cloud-init seed, which its host's agent wrote beside its disk
  if (!REAL) {
    const uuid = (await asAdmin('GET', `/v1/vms/${vmId}`)).body.uuid;
    const iso = join(STATE, 'vms', uuid + '.seed.iso');
    let ud = '';
    for (let i = 0; i < 100 && !ud; i++) {
      try {
        execFileSync('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/user-data', join(dir, 'user-data')], { stdio: 'ignore' });
        ud = readFileSync(join(dir, 'user-data'), 'utf8');
      } catch (e) { await sleep(100); }
    }
    ok(ud.includes(pub), 'the VM\'s seed carries the key chosen on the form', ud.slice(0, 300));
  }

  // the CPU chart draws the VM's samples as a line: its canvas gets pixels of the series' blue (uPlot's grid and
  // axes are grey and black). The fake hypervisor has nothing to sample, so there the test sends a minute of
  // samples as the host's agent would (docs/agent-protocol.md); in the real run the guest's own come.
  if (!REAL) {
    const vm = (await asAdmin('GET', `/v1/vms/${vmId}`)).body;
    // the all-in-one host's own credential, which yund keeps beside admin.token (docs/operations.md)
    const agent = readFileSync(join(STATE, 'host.credential'), 'utf8').trim();
    const now = Date.now();
    const samples = [0, 1, 2, 3, 4, 5, 6].map(i => ({ kind: 'vm', id: vm.uuid, ts_ms: now - (6 - i) * 10000, cpu_pct: 20 + 10 * i }));
    const r = await yfetch(`${URL}/v1/agent/hosts/${vm.host_id}/metrics`, { method: 'POST',
      headers: { Authorization: 'Bearer ' + agent, 'Content-Type': 'application/json' }, body: JSON.stringify({ samples }) });
    ok(r.status === 200, 'the host\'s agent sends CPU samples of the VM', `${r.status} ${await r.text()}`);
    // the latest probe failed, and the agent said why (docs/networking.md): the page says it under the chart
    const why = 'http://10.203.0.9:80/: Connection refused';
    const r2 = await yfetch(`${URL}/v1/agent/hosts/${vm.host_id}/metrics`, { method: 'POST',
      headers: { Authorization: 'Bearer ' + agent, 'Content-Type': 'application/json' },
      body: JSON.stringify({ samples: [{ kind: 'vm', id: vm.uuid, ts_ms: now + 1000, cpu_pct: 90, probe_ok: 0 }],
        probe_errors: { [vm.uuid]: why } }) });
    ok(r2.status === 200, 'the host\'s agent sends a failed probe with its reason', `${r2.status}`);
    const shown = await alice.locator('[data-probe-error]', { hasText: why })
      .waitFor({ timeout: 30000 }).then(() => true, () => false);
    ok(shown, 'the VM\'s page says why its probe fails');
  }
  const drawn = await alice.waitForFunction(() => {
    const c = document.querySelector('[data-chart="CPU"] canvas');
    if (!c || !c.width) return false;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 64 && d[i + 2] > 140 && d[i + 2] - d[i] > 80) return true;
    return false;
  }, null, { timeout: REAL ? 60000 : 30000 }).then(() => true, () => false);
  ok(drawn, 'the VM\'s CPU chart draws its samples as a line',
    await alice.evaluate(() => document.querySelector('[data-chart="CPU"]')?.getAttribute('aria-label')));
  await shot(alice, 'vm-chart');

  // the graphical console: only when yund has the console proxy
  const t = await alice.evaluate(async id => (await fetch(`/v1/vms/${id}/console`, { method: 'POST', headers: { 'X-Yun-Portal': '1' } })).status, vmId);
  if (!REAL) skip('the console canvas shows the guest\'s screen', 'the fake hypervisor has no screen (test_portal_libvirt.sh checks it)');
  else if (t !== 201) ok(false, 'a console ticket for alice\'s running VM', `status ${t}`);
  else {
    await alice.getByRole('button', { name: 'Open console' }).click();
    const painted = await alice.waitForFunction(() => {
      const c = document.querySelector('[data-console] canvas');
      // painted, and shown: noVNC scales the screen to its box, and a box of no height scales it to nothing
      if (!c || !c.width || c.clientWidth < 200 || c.clientHeight < 100) return false;
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 0; i < d.length; i += 4 * 97) if (d[i] || d[i + 1] || d[i + 2]) return true;
      return false;
    }, null, { timeout: 30000 }).then(() => true, () => false);
    ok(painted, 'the console canvas shows the guest\'s screen (not blank)');
    await shot(alice, 'vm-console');
  }

  // ---- stop, delete ----
  await alice.getByRole('link', { name: 'My VMs' }).click();
  const row = alice.locator('tr[data-vm="web1"]');
  await row.waitFor();
  await shot(alice, 'vms');
  await alice.getByRole('button', { name: 'Stop web1' }).click();
  ok(await row.locator('.state', { hasText: 'stopped' }).waitFor({ timeout: REAL ? 150000 : 30000 }).then(() => true, () => false),
     'Stop brings the VM to stopped');
  if (!REAL) {
    // ---- images from the stopped VM, with versions (docs/api.md, "Images from VMs"); the agent's real
    // qemu-img flattens the VM's real overlay file (only the domain is the fake hypervisor's) ----
    await alice.getByRole('link', { name: 'Images' }).click();
    await alice.getByRole('heading', { name: 'Images' }).waitFor();
    await alice.getByLabel('From the stopped VM').locator('option', { hasText: 'web1' }).waitFor({ state: 'attached' });
    await alice.getByLabel('Image name').fill('Bad Name');
    await alice.getByRole('button', { name: 'Make image' }).click();
    ok(await alice.getByRole('alert').filter({ hasText: 'image name "Bad Name" is not allowed' }).waitFor()
      .then(() => true, () => false), 'a bad image name is refused with the server\'s message');
    for (const [k, want] of [[1, 'tpl'], [2, 'tpl:2']]) {
      await alice.getByLabel('Image name').fill('tpl');
      await alice.getByRole('button', { name: 'Make image' }).click();
      const tr = alice.locator(`tr[data-image="${want}"]`);
      const listed = await tr.waitFor({ timeout: 30000 }).then(() => true, () => false);
      ok(listed && (await tr.locator('[data-version]').innerText()) === String(k),
        `making tpl from web1 ${k === 1 ? 'once' : 'again'} lists ${want}, version ${k}`,
        await alice.locator('main').innerText().catch(() => ''));
    }
    await shot(alice, 'images');
    await alice.getByRole('button', { name: 'Delete tpl:2' }).click();
    await alice.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    ok(await alice.locator('tr[data-image="tpl:2"]').waitFor({ state: 'detached', timeout: 30000 })
      .then(() => true, () => false) && await alice.locator('tr[data-image="tpl"]').isVisible(),
      'Delete, confirmed, removes version 2 and keeps version 1');
    await alice.getByRole('link', { name: 'My VMs' }).click();
    await row.waitFor();
  }
  await alice.getByRole('button', { name: 'Delete web1' }).click();
  await alice.getByRole('dialog').waitFor();
  await shot(alice, 'vms-delete');
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
  const arow = admin.locator(`tr[data-user="${ALICE}"]`);
  await typeNumber(arow.getByLabel('VMs'), 1);
  await arow.getByRole('button', { name: 'Save quota' }).click();
  ok(await arow.getByText('quota saved').waitFor().then(() => true, () => false), 'the admin sets alice\'s quota to one VM');
  await shot(admin, 'admin');
  // the dispatcher's section: its mode (advise by default) and, once a round ran, what it saw
  ok(await admin.locator('[data-dispatch-mode="advise"]').waitFor().then(() => true, () => false),
    'the Admin page shows the dispatcher in advise, with its policy');
  ok(await admin.getByRole('heading', { name: 'Estimated power' }).isVisible(), 'and the cloud\'s estimated power chart');
  ok(await admin.locator('[data-chart="Migrations"][data-points="60"]').waitFor().then(() => true, () => false),
    'and the dispatcher\'s migrations per minute over the last hour');

  const create = async (name, cpus) => {
    await alice.goto(URL + '/#/create');
    await alice.getByLabel('Name', { exact: true }).fill(name);
    await typeNumber(alice.getByLabel('CPUs'), cpus);
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
  await asAdmin('PATCH', '/v1/users/' + ALICE, { quota: { max_vms: 0 } });
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

  // ---- hosts are the operator's: no page a plain user can open names one (docs/api.md, "Who sees hosts") ----
  {
    const hostNames = (await asAdmin('GET', '/v1/hosts')).body.hosts.map(h => h.name);
    const mine = (await asAdmin('GET', '/v1/vms?owner=' + ALICE)).body.vms;
    ok(hostNames.length > 0 && mine.some(v => v.host && hostNames.includes(v.host)),
       'the admin sees the host of alice\'s VM', JSON.stringify({ hostNames, hosts: mine.map(v => v.host) }));
    const pages = ['#/vms', ...mine.map(v => '#/vm/' + v.id), '#/create', '#/resources', '#/admin'];
    const seen = [];
    for (const p of pages) {
      await alice.goto(URL + '/' + p);
      await alice.locator('main h1').first().waitFor().catch(() => {});
      await sleep(500); // the page's own fetches (lists, charts) answered and drawn
      const html = await alice.content();
      for (const h of hostNames) if (html.includes(h)) seen.push(`${p} shows ${h}`);
    }
    ok(seen.length === 0, `a plain user's pages (${pages.join(' ')}) name no host`, seen.join('; '));
    const codes = await alice.evaluate(async names => Promise.all(['/v1/hosts', `/v1/hosts/${names[0]}`,
      `/v1/hosts/${names[0]}/metrics`, '/metrics'].map(async u => (await fetch(u)).status)), hostNames);
    ok(codes.every(c => c === 403), 'and the host endpoints answer the plain user 403', codes);
    const vmsText = await alice.evaluate(async () => (await fetch('/v1/vms')).text());
    ok(!hostNames.some(h => vmsText.includes(h)) && !vmsText.includes('"host_id"'),
       'the plain user\'s VM list carries no host field', vmsText.slice(0, 300));
  }

  // ---- another user cannot open alice's VM page or console by URL ----
  const bob = await newPage();
  await bob.goto(URL + '/#/register');
  await bob.getByLabel('User name').fill('bob');
  await bob.getByLabel('Password', { exact: true }).fill('bob-password');
  await bob.getByLabel('Password again').fill('bob-password');
  await bob.getByRole('button', { name: 'Create account' }).click();
  await bob.getByRole('heading', { name: 'My VMs' }).waitFor();
  const aliceVm = (await asAdmin('GET', '/v1/vms?owner=' + ALICE)).body.vms.find(v => v.name === 'one');
  await bob.goto(`${URL}/#/vm/${aliceVm.id}`);
  const nf = await bob.getByRole('alert').waitFor().then(() => bob.getByRole('alert').textContent(), () => '');
  ok(/not found/.test(nf) && !(await bob.getByText(ALICE).count()), 'bob opening alice\'s VM page by URL sees "not found"', nf);
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

  // ---- clusters (docs/clusters.md) on two more hosts: agents that speak the protocol with no hypervisor behind
  // them (tests/integration/fake_agent.py), since a cluster's network would be real bridges and dnsmasq on the
  // all-in-one agent's host, which is this machine (the all-in-one host is disabled meanwhile) ----
  await asAdmin('PUT', '/v1/settings/net.pool', { value: '10.98.0.0/16' });
  await asAdmin('PUT', '/v1/settings/admission.threshold_pct', { value: '100' }); // the settings' test left 1
  await asAdmin('POST', `/v1/hosts/${hname}/disable`);
  for (const h of ['fa', 'fb']) {
    const tok = (await asAdmin('POST', '/v1/hosts', { name: h })).body.join_token;
    const cred = JSON.parse(await (await yfetch(URL + '/v1/agent/join', { method: 'POST',
      body: JSON.stringify({ token: tok }) })).text()).credential;
    const fa = spawn('python3', [join(ROOT, 'tests/integration/fake_agent.py'), URL, cred, h, '2', join(dir, 'mode')],
      { stdio: 'ignore', env: { ...process.env, SSL_CERT_FILE: CA_FILE } });
    fakeAgents.push(fa);
  }
  let hostsUp = false;
  for (let i = 0; i < 100 && !hostsUp; i++) {
    const hs = (await asAdmin('GET', '/v1/hosts')).body.hosts || [];
    hostsUp = hs.filter(x => (x.name === 'fa' || x.name === 'fb') && x.state === 'up').length === 2;
    if (!hostsUp) await sleep(200);
  }
  ok(hostsUp, 'two more hosts (fake agents) are up for the clusters');
  await alice.getByRole('link', { name: 'Clusters' }).click();
  await alice.getByRole('heading', { name: 'Clusters' }).waitFor();
  const form = alice.getByRole('form', { name: 'Create a cluster' });
  await form.getByLabel('Name').fill('big');
  await typeNumber(form.getByLabel('Nodes'), 8);
  await form.getByLabel('Image').selectOption('tiny');
  await form.getByLabel('Memory each').fill('64M');
  await form.getByRole('button', { name: 'Create cluster' }).click();
  const refused = await form.getByRole('alert').filter({ hasText: 'cluster big does not fit' }).waitFor()
    .then(async () => form.getByRole('alert').innerText(), () => '');
  const bigListed = await alice.locator('section[data-cluster="big"]').count();
  const vmsLeft = (await asAdmin('GET', '/v1/vms')).body.vms.filter(v => v.name.startsWith('big-')).length;
  ok(refused && !bigListed && vmsLeft === 0, 'a cluster larger than the hosts is refused saying why, and leaves no VM',
     refused || await alice.locator('main').innerText().catch(() => ''));
  await form.getByLabel('Name').fill('c');
  await typeNumber(form.getByLabel('Nodes'), 1);
  await form.getByRole('button', { name: 'Create cluster' }).click();
  const card = alice.locator('section[data-cluster="c"]');
  await card.locator('tr[data-member="c-0"]').waitFor();
  // where the members run is the admin's to see (alice's page has no Host column): asked as the admin
  const hostsOf = async () => ((await asAdmin('GET', `/v1/clusters/c?owner=${ALICE}`)).body.members || [])
    .map(m => m.host);
  ok(await card.locator('td[data-host]').count() === 0, 'alice\'s cluster page names no host');
  let hs = await hostsOf();
  ok(hs.length === 2 && new Set(hs).size === 2 && hs.every(x => x === 'fa' || x === 'fb'),
     'Create cluster makes c-head and c-0, one on each host', hs.join(' '));
  await shot(alice, 'clusters');
  await typeNumber(card.getByLabel('Nodes'), 3);
  await card.getByRole('button', { name: 'Scale c' }).click();
  await card.locator('tr[data-member="c-2"]').waitFor();
  hs = await hostsOf();
  ok(hs.length === 4 && hs.filter(x => x === 'fa').length === 2, 'Scale to 3 nodes adds c-1 and c-2, two members per host',
     hs.join(' '));
  await card.getByRole('button', { name: 'Delete c' }).click();
  await alice.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  ok(await card.waitFor({ state: 'detached', timeout: 30000 }).then(() => true, () => false) &&
     (await asAdmin('GET', '/v1/networks')).body.networks.every(x => x.name !== 'c'),
     'Delete, confirmed, removes the cluster and its network once the members are gone');
  await asAdmin('POST', `/v1/hosts/${hname}/enable`);
}

// Runs the whole test in one browser ('chromium' or 'firefox') and exits with its TAP result.
export async function runPortal(which) {
  process.on('SIGTERM', async () => { await cleanup(); process.exit(1); });
  try {
    await main(which);
  } catch (e) {
    ok(false, 'the browser test ran to its end', e.stack || e);
  } finally {
    await cleanup();
    if (browserPids.length) {
      ok(!browserPids.flatMap(browserGroup).length && !existsSync(dir),
        `${which} is gone (pid ${browserPids.join(', ')}) and its profile with the temp dir`);
    }
    console.log(`1..${n}`);
    process.exit(failed ? 1 : 0);
  }
}
