// app.js: yun's portal. Preact + htm as plain ES modules (no build step); pages route by the URL fragment
// (#/vms, #/vm/7), so yund serves only files and the API. Every page reads the same /v1 API as the CLI.
import { h, render } from '/vendor/preact/preact.module.js';
import { useState, useEffect, useRef, useCallback } from '/vendor/preact/hooks.module.js';
import htm from '/vendor/htm/htm.module.js';
import { api, enc, mib, duration, metricColumns } from '/api.js';
import { Chart, Sparkline, RANGES } from '/charts.js';
import { VncConsole } from '/console.js';

const html = htm.bind(h);

// ---- small pieces ----
function useHash() {
  const [hash, setHash] = useState(location.hash || '#/vms');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/vms');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

// Calls fn now and every ms while mounted; fn gets an AbortSignal-like "alive" check.
function usePoll(fn, ms, deps) {
  useEffect(() => {
    let alive = true, timer;
    const tick = async () => {
      try { await fn(() => alive); } finally { if (alive) timer = setTimeout(tick, ms); }
    };
    tick();
    return () => { alive = false; clearTimeout(timer); };
  }, deps);
}

function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error-box" role="alert">${error.message || String(error)}</div>`;
}

function State({ s }) {
  return html`<span class=${'state ' + s}>${s}</span>`;
}

// A confirmation in a real <dialog>: modal, focus trapped by the browser, Escape cancels.
function Confirm({ text, confirmLabel, onConfirm, onCancel }) {
  const ref = useRef();
  useEffect(() => { ref.current.showModal(); ref.current.querySelector('button.secondary').focus(); }, []);
  return html`<dialog ref=${ref} onCancel=${onCancel} aria-labelledby="confirm-text">
    <p id="confirm-text">${text}</p>
    <div class="actions">
      <button class="danger" onClick=${onConfirm}>${confirmLabel}</button>
      <button class="secondary" onClick=${onCancel}>Cancel</button>
    </div></dialog>`;
}

// Start, stop, reboot, delete for one VM; delete asks first.
function VmActions({ vm, onDone }) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const [asking, setAsking] = useState(false);
  const ref = enc(vm.id);
  const act = async (method, path) => {
    setBusy(true); setErr(null);
    try { await api(method, path); onDone && onDone(); } catch (e) { setErr(e); } finally { setBusy(false); }
  };
  const wantRun = vm.want === 'running';
  return html`<div>
    <div class="actions">
      <button class="secondary" disabled=${busy || wantRun || vm.want === 'deleted'}
        onClick=${() => act('POST', `/v1/vms/${ref}/start`)} aria-label=${'Start ' + vm.name}>Start</button>
      <button class="secondary" disabled=${busy || !wantRun}
        onClick=${() => act('POST', `/v1/vms/${ref}/stop`)} aria-label=${'Stop ' + vm.name}>Stop</button>
      <button class="secondary" disabled=${busy || !wantRun}
        onClick=${() => act('POST', `/v1/vms/${ref}/reboot`)} aria-label=${'Reboot ' + vm.name}>Reboot</button>
      <button class="danger" disabled=${busy || vm.want === 'deleted'}
        onClick=${() => setAsking(true)} aria-label=${'Delete ' + vm.name}>Delete</button>
    </div>
    ${asking && html`<${Confirm} text=${`Delete ${vm.name}? Its disk is removed too; this cannot be undone.`}
      confirmLabel="Delete" onCancel=${() => setAsking(false)}
      onConfirm=${() => { setAsking(false); act('DELETE', `/v1/vms/${ref}`); }} />`}
    <${ErrorBox} error=${err} />
  </div>`;
}

// ---- images: the ones the user may boot, their versions, and new ones made from stopped VMs ----
function MakeImage({ onMade }) {
  const [vms, setVms] = useState([]);
  const [name, setName] = useState('');
  const [vm, setVm] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState('');
  usePoll(async alive => {
    try {
      const d = await api('GET', '/v1/vms');
      if (alive()) setVms(d.vms.filter(v => v.state === 'stopped' && v.want === 'stopped'));
    } catch (e) { if (alive()) setErr(e); }
  }, 5000, []);
  const make = async ev => {
    ev.preventDefault();
    setBusy(true); setErr(null); setMsg('');
    try {
      const d = await api('POST', '/v1/images/from-vm', { name, vm: vm || (vms[0] && vms[0].name) || '' });
      let job = d.template;
      setMsg(`Making ${job.name} from ${job.vm}…`);
      while (job.state === 'pending' || job.state === 'running') {
        await new Promise(r => setTimeout(r, 1000));
        job = (await api('GET', `/v1/jobs/${job.id}`)).job;
      }
      if (job.state === 'failed') throw new Error(`Making ${job.name} failed: ${job.error}`);
      setMsg(`Image ${job.name} is ready.`);
      onMade && onMade();
    } catch (e) { setErr(e); setMsg(''); } finally { setBusy(false); }
  };
  return html`<form class="card" onSubmit=${make} aria-label="Make an image">
    <h2>Make an image from a VM</h2>
    <p class="muted">The VM must be stopped. Making a name again makes its next version (tpl:2, tpl:3, …);
      VMs keep the version they were made from.</p>
    <label for="img-name">Image name</label>
    <input id="img-name" value=${name} onInput=${e => setName(e.target.value)} required />
    <label for="img-vm">From the stopped VM</label>
    <select id="img-vm" value=${vm} onChange=${e => setVm(e.target.value)}>
      ${vms.map(v => html`<option value=${v.name}>${v.name}</option>`)}
    </select>
    <div class="actions"><button disabled=${busy || !vms.length}>Make image</button></div>
    ${msg && html`<p role="status">${msg}</p>`}
    <${ErrorBox} error=${err} />
  </form>`;
}

function Images({ me }) {
  const [imgs, setImgs] = useState(null);
  const [err, setErr] = useState(null);
  const [n, setN] = useState(0);
  const [asking, setAsking] = useState(null);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/images'); if (alive()) { setImgs(d.images); setErr(null); } }
    catch (e) { if (alive()) setErr(e); }
  }, 5000, [n]);
  const refresh = () => setN(n + 1);
  const del = async img => {
    setAsking(null);
    try { await api('DELETE', `/v1/images/${enc(img.name)}`); refresh(); } catch (e) { setErr(e); }
  };
  return html`<main><h1>Images</h1>
    <${ErrorBox} error=${err} />
    ${imgs && html`<table aria-label="Images">
      <thead><tr><th>Name</th><th>Version</th><th>Size</th><th>Owner</th><th>Public</th><th>VMs</th><th>Actions</th></tr></thead>
      <tbody>${imgs.map(img => html`<tr key=${img.id} data-image=${img.name}>
        <td>${img.name}</td><td data-version>${img.version}</td><td>${mib(img.size_mib)}</td><td>${img.owner}</td>
        <td>${img.public ? 'yes' : 'no'}</td><td>${img.vms}</td>
        <td>${(me.admin || img.owner === me.name) && html`<button class="danger" aria-label=${'Delete ' + img.name}
          onClick=${() => setAsking(img)}>Delete</button>`}</td>
      </tr>`)}</tbody></table>`}
    ${asking && html`<${Confirm} text=${`Delete image ${asking.name}? Its file is removed; VMs using it keep it from being deleted.`}
      confirmLabel="Delete" onCancel=${() => setAsking(null)} onConfirm=${() => del(asking)} />`}
    <${MakeImage} onMade=${refresh} />
  </main>`;
}

// ---- SSH keys (docs/guests.md): a VM created with some of them gets them in its cloud-init seed ----
function Keys() {
  const [keys, setKeys] = useState(null);
  const [name, setName] = useState('');
  const [pub, setPub] = useState('');
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState('');
  const [asking, setAsking] = useState(null);
  const [n, setN] = useState(0);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/keys'); if (alive()) { setKeys(d.keys); setErr(null); } }
    catch (e) { if (alive()) setErr(e); }
  }, 10000, [n]);
  const add = async ev => {
    ev.preventDefault();
    setErr(null); setMsg('');
    try {
      const d = await api('POST', '/v1/keys', { name, public_key: pub.trim() });
      setMsg(`Key ${d.key.name} added: ${d.key.fingerprint}`);
      setName(''); setPub(''); setN(n + 1);
    } catch (e) { setErr(e); }
  };
  const del = async k => {
    setAsking(null);
    try { await api('DELETE', `/v1/keys/${enc(k.name)}`); setN(n + 1); } catch (e) { setErr(e); }
  };
  return html`<main><h1>SSH keys</h1>
    <p class="muted">A VM you create with some of these keys gets them for its image's default user
      (<code>debian</code> on debian-12) at its first boot. Deleting a key leaves the VMs that have it alone.</p>
    ${keys && (keys.length ? html`<table aria-label="SSH keys">
      <thead><tr><th>Name</th><th>Type</th><th>Fingerprint</th><th>Actions</th></tr></thead>
      <tbody>${keys.map(k => html`<tr key=${k.name} data-key=${k.name}>
        <td>${k.name}</td><td>${k.type}</td><td><code data-fingerprint>${k.fingerprint}</code></td>
        <td><button class="danger" aria-label=${'Delete key ' + k.name} onClick=${() => setAsking(k)}>Delete</button></td>
      </tr>`)}</tbody></table>` : html`<div class="card">You have no SSH keys yet: add your public key below.</div>`)}
    ${asking && html`<${Confirm} text=${`Delete key ${asking.name}? VMs given it keep it.`}
      confirmLabel="Delete" onCancel=${() => setAsking(null)} onConfirm=${() => del(asking)} />`}
    <form class="card" onSubmit=${add} aria-label="Add an SSH key">
      <h2>Add a key</h2>
      <label for="key-name">Key name</label>
      <input id="key-name" required value=${name} onInput=${e => setName(e.target.value)} placeholder="laptop"
        pattern="[a-z0-9][a-z0-9\\-]{0,62}" title="lower-case letters, digits and -, up to 63" />
      <label for="key-pub">Public key</label>
      <textarea id="key-pub" required rows="3" value=${pub} onInput=${e => setPub(e.target.value)}
        placeholder="ssh-ed25519 AAAA… you@laptop (the one line of ~/.ssh/id_ed25519.pub)"></textarea>
      <div class="actions"><button>Add key</button></div>
      ${msg && html`<p role="status">${msg}</p>`}
      <${ErrorBox} error=${err} />
    </form>
  </main>`;
}

// ---- virtual clusters (docs/clusters.md): list, create, scale, delete ----
function ClusterRow({ c, onDone }) {
  const [nodes, setNodes] = useState(c.nodes);
  const [err, setErr] = useState(null);
  const [asking, setAsking] = useState(false);
  const scale = async ev => {
    ev.preventDefault();
    setErr(null);
    try { await api('POST', `/v1/clusters/${enc(c.name)}/scale`, { nodes: Number(nodes) }); onDone(); }
    catch (e) { setErr(e); }
  };
  const del = async () => {
    setAsking(false);
    try { await api('DELETE', `/v1/clusters/${enc(c.name)}`); onDone(); } catch (e) { setErr(e); }
  };
  const hosts = c.members.some(m => m.host !== undefined); // the admin's to see
  return html`<section class="card" data-cluster=${c.name} aria-label=${'Cluster ' + c.name}>
    <h2>${c.name} <${State} s=${c.state} /></h2>
    <p class="muted">${c.nodes} node${c.nodes === 1 ? '' : 's'} and a head · ${c.image} · ${c.cpus} cpu ·
      ${mib(c.memory_mib)} each · network ${c.network}</p>
    <table aria-label=${'Members of ' + c.name}>
      <thead><tr><th>Member</th><th>Role</th><th>State</th>${hosts && html`<th>Host</th>`}<th>Address</th></tr></thead>
      <tbody>${c.members.map(m => html`<tr key=${m.name} data-member=${m.name}>
        <td>${m.name}</td><td>${m.role}</td><td><${State} s=${m.state} /></td>${hosts && html`<td data-host>${m.host || '–'}</td>`}
        <td>${m.ip || '–'}</td></tr>`)}</tbody></table>
    ${c.state === 'active' && html`<form class="actions" onSubmit=${scale}>
      <label for=${'scale-' + c.name}>Nodes</label>
      <input id=${'scale-' + c.name} type="number" min="1" max="64" value=${nodes} onInput=${e => setNodes(e.target.value)} />
      <button aria-label=${'Scale ' + c.name}>Scale</button>
      <button type="button" class="danger" aria-label=${'Delete ' + c.name} onClick=${() => setAsking(true)}>Delete</button>
    </form>`}
    <${ErrorBox} error=${err} />
    ${asking && html`<${Confirm} text=${`Delete cluster ${c.name}? Every member goes, and the network made for it.`}
      confirmLabel="Delete" onCancel=${() => setAsking(false)} onConfirm=${del} />`}
  </section>`;
}

function Clusters() {
  const [cls, setCls] = useState(null);
  const [images, setImages] = useState([]);
  const [f, setF] = useState({ name: '', nodes: 2, image: '', memory: '384M', cpus: 1 });
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [n, setN] = useState(0);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/clusters'); if (alive()) { setCls(d.clusters); } }
    catch (e) { if (alive()) setErr(e); }
  }, 3000, [n]);
  useEffect(() => {
    api('GET', '/v1/images').then(d => {
      setImages(d.images);
      if (d.images.length) setF(o => ({ ...o, image: o.image || d.images[0].name }));
    }).catch(setErr);
  }, []);
  const refresh = () => setN(n + 1);
  const set = k => e => setF({ ...f, [k]: e.target.value });
  const create = async ev => {
    ev.preventDefault();
    setErr(null); setBusy(true);
    try {
      await api('POST', '/v1/clusters', { name: f.name, nodes: Number(f.nodes), image: f.image, memory: f.memory,
        cpus: Number(f.cpus) });
      refresh();
    } catch (e) { setErr(e); } finally { setBusy(false); }
  };
  return html`<main><h1>Clusters</h1>
    <p class="muted">A head and N nodes on one network, spread over hosts; from any member, <code>ssh NAME-K</code>
      reaches any other without a password.</p>
    ${cls && cls.length === 0 && html`<div class="card">You have no clusters yet.</div>`}
    ${cls && cls.map(c => html`<${ClusterRow} key=${c.id + ':' + c.nodes} c=${c} onDone=${refresh} />`)}
    <form class="card" onSubmit=${create} aria-label="Create a cluster">
      <h2>Create a cluster</h2>
      <div class="row">
        <div><label for="cl-name">Name</label>
          <input id="cl-name" required value=${f.name} onInput=${set('name')} placeholder="c" /></div>
        <div><label for="cl-nodes">Nodes</label>
          <input id="cl-nodes" type="number" min="1" max="64" required value=${f.nodes} onInput=${set('nodes')} /></div>
        <div><label for="cl-image">Image</label>
          <select id="cl-image" value=${f.image} onChange=${set('image')} required>
            ${images.map(i => html`<option value=${i.name}>${i.name}</option>`)}</select></div>
        <div><label for="cl-cpus">CPUs each</label>
          <input id="cl-cpus" type="number" min="1" max="256" required value=${f.cpus} onInput=${set('cpus')} /></div>
        <div><label for="cl-memory">Memory each</label>
          <input id="cl-memory" required value=${f.memory} onInput=${set('memory')} /></div>
      </div>
      <div class="actions"><button disabled=${busy}>Create cluster</button></div>
      <${ErrorBox} error=${err} />
    </form>
  </main>`;
}

// ---- log in, register ----
function Login({ onLogin, register }) {
  const [name, setName] = useState('');
  const [pw, setPw] = useState('');
  const [pw2, setPw2] = useState('');
  const [err, setErr] = useState(null);
  const [open, setOpen] = useState(true);
  useEffect(() => { api('GET', '/v1/portal').then(d => setOpen(d.registration)).catch(() => {}); }, []);
  const submit = async ev => {
    ev.preventDefault();
    setErr(null);
    if (register && pw !== pw2) { setErr(new Error('the two passwords differ: type the same one twice')); return; }
    try {
      const d = await api('POST', register ? '/v1/register' : '/v1/session', { name, password: pw });
      onLogin(d.user);
      location.hash = '#/vms';
    } catch (e) { setErr(e); }
  };
  return html`<main><div class="card narrow">
    <h1>${register ? 'Create an account' : 'Log in to yun'}</h1>
    ${register && !open ? html`<p class="error-box" role="alert">Self-registration is turned off: ask the admin for an account.</p>` : html`
    <form onSubmit=${submit}>
      <label for="name">User name</label>
      <input id="name" name="name" autocomplete="username" required value=${name} onInput=${e => setName(e.target.value)}
        autofocus pattern="[a-z0-9][a-z0-9\\-]{0,62}" title="lower-case letters, digits and -" />
      <label for="password">Password</label>
      <input id="password" name="password" type="password" required minlength=${register ? 8 : 1}
        autocomplete=${register ? 'new-password' : 'current-password'} value=${pw} onInput=${e => setPw(e.target.value)} />
      ${register && html`<label for="password2">Password again</label>
      <input id="password2" name="password2" type="password" required autocomplete="new-password" value=${pw2}
        onInput=${e => setPw2(e.target.value)} />`}
      <${ErrorBox} error=${err} />
      <p><button type="submit">${register ? 'Create account' : 'Log in'}</button></p>
    </form>`}
    ${register ? html`<p><a href="#/login">I have an account: log in</a></p>`
      : open && html`<p class="muted">No account? <a href="#/register">Create one</a>.</p>`}
  </div></main>`;
}

// ---- My VMs ----
function VmList({ me }) {
  const [vms, setVms] = useState(null);
  const [err, setErr] = useState(null);
  const [n, setN] = useState(0);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/vms'); if (alive()) { setVms(d.vms); setErr(null); } }
    catch (e) { if (alive()) setErr(e); }
  }, 3000, [n]);
  const refresh = () => setN(n + 1);
  const now = Date.now();
  return html`<main>
    <div style="display:flex;align-items:center;gap:1rem"><h1 style="flex:1">My VMs</h1>
      <a class="button" href="#/create">New VM</a></div>
    <${ErrorBox} error=${err} />
    ${vms && vms.length === 0 && html`<div class="card">You have no VMs yet. <a href="#/create">Create one</a>.</div>`}
    ${vms && vms.length > 0 && html`<table aria-label="My VMs">
      <thead><tr><th>Name</th>${me.admin && html`<th>Owner</th>`}<th>State</th>${me.admin && html`<th>Host</th>`}<th>Address</th>
        <th>Uptime</th><th>CPU (10 min)</th><th>Actions</th></tr></thead>
      <tbody>${vms.map(vm => html`<tr key=${vm.id} data-vm=${vm.name}>
        <td><a href=${'#/vm/' + vm.id}>${vm.name}</a><div class="muted" style="font-size:.8rem">
          ${vm.cpus} cpu · ${mib(vm.memory_mib)} · ${mib(vm.disk_mib)}</div></td>
        ${me.admin && html`<td>${vm.owner}</td>`}
        <td><${State} s=${vm.state} />${vm.error && html`<div class="muted" style="font-size:.8rem">${vm.error}</div>`}</td>
        ${me.admin && html`<td>${vm.host || '–'}</td>`}
        <td>${vm.address || '–'}</td>
        <td>${vm.state === 'running' && vm.started_ms ? duration(now - vm.started_ms) : '–'}</td>
        <td><${Sparkline} path=${`/v1/vms/${vm.id}/metrics`} /></td>
        <td><${VmActions} vm=${vm} onDone=${refresh} /></td>
      </tr>`)}</tbody></table>`}
  </main>`;
}

// ---- create a VM ----
function QuotaLine({ label, used, max, unit, fmt }) {
  const f = fmt || (x => x + (unit || ''));
  if (!max) return html`<li>${label}: ${f(used)} used, no limit</li>`;
  return html`<li>${label}: ${f(Math.max(0, max - used))} left of ${f(max)}</li>`;
}

function CreateVm({ me }) {
  const [images, setImages] = useState([]);
  const [user, setUser] = useState(null);
  const [res, setRes] = useState(null);
  const [f, setF] = useState({ name: '', image: '', cpus: 1, memory: '128M', disk: '1G',
    cpu_shares: '', cpu_cap: '', min_mhz: '', max_mhz: '', utility: '' });
  const [keys, setKeys] = useState([]);
  const [chosen, setChosen] = useState({}); // key name -> given to the VM
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api('GET', '/v1/images').then(d => {
      setImages(d.images);
      if (d.images.length) setF(o => ({ ...o, image: o.image || d.images[0].name }));
    }).catch(setErr);
    api('GET', '/v1/users/' + enc(me.name)).then(setUser).catch(() => {});
    api('GET', '/v1/resources').then(setRes).catch(() => {});
    api('GET', '/v1/keys').then(d => setKeys(d.keys)).catch(() => {});
  }, []);
  const set = k => e => setF({ ...f, [k]: e.target.value });
  const submit = async ev => {
    ev.preventDefault();
    setErr(null); setBusy(true);
    const body = { name: f.name, image: f.image, cpus: Number(f.cpus), memory: f.memory, disk: f.disk };
    for (const k of ['cpu_shares', 'cpu_cap', 'min_mhz', 'max_mhz', 'utility']) if (f[k] !== '') body[k] = Number(f[k]);
    const given = keys.map(k => k.name).filter(k => chosen[k]);
    if (given.length) body.ssh_keys = given;
    try {
      const d = await api('POST', '/v1/vms', body);
      location.hash = '#/vm/' + d.vm.id;
    } catch (e) { setErr(e); } finally { setBusy(false); }
  };
  const q = user && user.quota, u = user && user.usage, lim = res && res.limits;
  return html`<main><h1>Create a VM</h1>
    <div class="row">
    <form class="card" style="flex:2 1 420px" onSubmit=${submit} aria-describedby="quota-left">
      <label for="vm-name">Name</label>
      <input id="vm-name" required value=${f.name} onInput=${set('name')} pattern="[a-z0-9][a-z0-9\\-]{0,62}"
        title="lower-case letters, digits and -, up to 63" placeholder="web1" autofocus />
      <label for="vm-image">Image</label>
      <select id="vm-image" value=${f.image} onChange=${set('image')} required>
        ${images.map(i => html`<option value=${i.name}>${i.name} (${mib(i.size_mib)})</option>`)}
      </select>
      <div class="row">
        <div><label for="vm-cpus">CPUs</label>
          <input id="vm-cpus" type="number" min="1" max="256" required value=${f.cpus} onInput=${set('cpus')} /></div>
        <div><label for="vm-memory">Memory</label>
          <input id="vm-memory" required value=${f.memory} onInput=${set('memory')} title="e.g. 128M, 1G" /></div>
        <div><label for="vm-disk">Disk</label>
          <input id="vm-disk" required value=${f.disk} onInput=${set('disk')} title="e.g. 1G, 20G" /></div>
      </div>
      <fieldset><legend>SSH keys for its first boot</legend>
        ${keys.length ? keys.map(k => html`<label class="check"><input type="checkbox" checked=${!!chosen[k.name]}
          onChange=${e => setChosen({ ...chosen, [k.name]: e.target.checked })} /> ${k.name}
          <span class="muted">${k.fingerprint}</span></label>`)
          : html`<p class="muted">None yet: <a href="#/keys">add one</a> (images with cloud-init, such as debian-12, take them).</p>`}
      </fieldset>
      <details><summary>CPU shares, cap, MHz and utility</summary>
        <div class="row">
          <div><label for="vm-shares">CPU shares (weight)</label>
            <input id="vm-shares" type="number" min="2" max="262144" placeholder="1024" value=${f.cpu_shares} onInput=${set('cpu_shares')} /></div>
          <div><label for="vm-cap">CPU cap (% of a core)</label>
            <input id="vm-cap" type="number" min="0" max="100" placeholder="0 = none" value=${f.cpu_cap} onInput=${set('cpu_cap')} /></div>
          <div><label for="vm-min">Min MHz</label>
            <input id="vm-min" type="number" min="0" placeholder="0" value=${f.min_mhz} onInput=${set('min_mhz')} /></div>
          <div><label for="vm-max">Max MHz</label>
            <input id="vm-max" type="number" min="0" placeholder="0" value=${f.max_mhz} onInput=${set('max_mhz')} /></div>
          <div><label for="vm-utility">Utility per MHz</label>
            <input id="vm-utility" type="number" min="1" max="1000" placeholder="1" value=${f.utility} onInput=${set('utility')} /></div>
        </div>
      </details>
      <${ErrorBox} error=${err} />
      <p><button type="submit" disabled=${busy}>${busy ? 'Creating…' : 'Create VM'}</button></p>
    </form>
    <aside class="card" style="flex:1 1 260px" id="quota-left">
      <h2 style="margin-top:0">What you have left</h2>
      ${q ? html`<ul>
        <${QuotaLine} label="VMs" used=${u.vms} max=${q.max_vms} />
        <${QuotaLine} label="CPUs" used=${u.cpus} max=${q.max_cpus} />
        <${QuotaLine} label="Memory" used=${u.memory_mib} max=${q.max_memory_mib} fmt=${mib} />
        <${QuotaLine} label="Disk" used=${u.disk_mib} max=${q.max_disk_mib} fmt=${mib} />
      </ul>` : html`<p class="muted">…</p>`}
      ${res && html`<p class="quota">${`Free in the cloud: ${res.free.cpus} ${res.items[0].unit === 'vCPU' ? 'vCPUs' : 'cores'}, ${mib(res.free.memory_mib)} memory, ${mib(res.free.disk_mib)} disk.`}</p>`}
      ${lim && (lim.max_cpus || lim.max_memory_mib || lim.max_disk_mib) ? html`<p class="quota">Largest VM allowed:
        ${lim.max_cpus ? lim.max_cpus + ' cpus' : 'any cpus'}, ${lim.max_memory_mib ? mib(lim.max_memory_mib) : 'any'} memory,
        ${lim.max_disk_mib ? mib(lim.max_disk_mib) : 'any'} disk.</p>` : null}
    </aside></div>
  </main>`;
}

// ---- one VM ----
function ConsoleLog({ vm }) {
  const [text, setText] = useState('');
  const ref = useRef();
  usePoll(async alive => {
    try { const t = await api('GET', `/v1/vms/${vm.id}/console`); if (alive()) setText(t || ''); } catch (e) { /* kept */ }
  }, 4000, [vm.id]);
  useEffect(() => { if (ref.current) ref.current.scrollTop = ref.current.scrollHeight; }, [text]);
  return html`<pre class="console" ref=${ref} tabindex="0" aria-label="Serial console log">${text || '(nothing yet)'}</pre>`;
}

function VmPage({ id }) {
  const [vm, setVm] = useState(null);
  const [err, setErr] = useState(null);
  const [range, setRange] = useState('hour');
  const [n, setN] = useState(0);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/vms/' + enc(id)); if (alive()) { setVm(d); setErr(null); } }
    catch (e) { if (alive()) { setErr(e); if (e.status === 404) setVm(null); } }
  }, 3000, [id, n]);
  if (err && !vm) return html`<main><h1>VM ${id}</h1><${ErrorBox} error=${err} />
    <p><a href="#/vms">Back to my VMs</a></p></main>`;
  if (!vm) return html`<main><p>Loading…</p></main>`;
  const now = Date.now();
  return html`<main>
    <h1>${vm.name} <${State} s=${vm.state} /></h1>
    <${ErrorBox} error=${err} />
    <div class="row">
      <div class="card" style="flex:2 1 420px"><dl class="facts">
        <dt>Owner</dt><dd>${vm.owner}</dd>
        <dt>Image</dt><dd>${vm.image}</dd>
        <dt>Size</dt><dd>${vm.cpus} cpu, ${mib(vm.memory_mib)} memory (up to ${mib(vm.max_memory_mib)}), ${mib(vm.disk_mib)} disk</dd>
        <dt>CPU</dt><dd>shares ${vm.cpu_shares}, cap ${vm.cpu_cap ? vm.cpu_cap + '%' : 'none'}${vm.alloc_mhz ? html`, allocated ${vm.alloc_mhz} MHz` : ''}${vm.utility > 1 ? html`, utility ${vm.utility} per MHz` : ''}</dd>
        ${'host' in vm && html`<dt>Host</dt><dd>${vm.host || '–'}</dd>`}
        <dt>Address</dt><dd>${vm.address || '–'}</dd>
        <dt>Uptime</dt><dd>${vm.state === 'running' && vm.started_ms ? duration(now - vm.started_ms) : '–'}</dd>
        <dt>Wanted</dt><dd>${vm.want}</dd>
        ${vm.error && html`<dt>Error</dt><dd>${vm.error}</dd>`}
        ${vm.migrate_error && html`<dt>Migration</dt><dd>${vm.migrate_error}</dd>`}
        ${vm.migration_ms ? html`<dt>Last migration</dt><dd>${vm.migration_ms < 0 ? 'time unknown' : vm.migration_ms + ' ms'}, downtime ${vm.migration_downtime_ms < 0 ? 'unknown' : vm.migration_downtime_ms + ' ms'}</dd>` : ''}
      </dl></div>
      <div class="card" style="flex:1 1 260px"><h2 style="margin-top:0">Actions</h2>
        <${VmActions} vm=${vm} onDone=${() => setN(n + 1)} /></div>
    </div>
    <h2>Charts</h2>
    <div class="tabs" role="group" aria-label="Time range">
      ${Object.keys(RANGES).map(r => html`<button aria-pressed=${r === range ? 'true' : 'false'}
        onClick=${() => setRange(r)}>Last ${r}</button>`)}
    </div>
    <${Charts} vm=${vm} range=${range} />
    <h2>Console</h2>
    <${VncConsole} vm=${vm} />
    <h2>Serial console log</h2>
    <${ConsoleLog} vm=${vm} />
  </main>`;
}

const CHARTS = [
  { title: 'CPU', unit: '%', series: [['cpu_pct', 'CPU %']] },
  { title: 'Memory', unit: 'bytes', series: [['mem_rss', 'RSS'], ['mem_current', 'current'], ['mem_available', 'available']] },
  { title: 'Disk', unit: 'B/s', series: [['disk_rd_bps', 'read'], ['disk_wr_bps', 'write']] },
  { title: 'Network', unit: 'B/s', series: [['net_rx_bps', 'rx'], ['net_tx_bps', 'tx']] },
  { title: 'Probe response time', unit: 'ms', series: [['probe_ms', 'response ms']] },
];

function Charts({ vm, range }) {
  const [data, setData] = useState(null);
  const [why, setWhy] = useState(null); // why the latest probe failed, as the VM's agent saw it
  const [err, setErr] = useState(null);
  const r = RANGES[range];
  usePoll(async alive => {
    const to = Date.now(), from = to - r.span;
    try {
      const d = await api('GET', `/v1/vms/${vm.id}/metrics?from=${from}&to=${to}&step=${r.step}`);
      if (alive()) { setData(metricColumns(d)); setWhy(d.probe_error || null); setErr(null); }
    } catch (e) { if (alive()) setErr(e); }
  }, r.poll, [vm.id, range]);
  if (err) return html`<p class="muted" data-charts="unavailable">${err.status === 404
    ? 'No metrics for this VM yet (yund answers 404 for its metrics: the monitoring part may not be installed).'
    : err.message}</p>`;
  return html`<div class="charts">${CHARTS.map(c => {
    const probe = c.series[0][0] === 'probe_ms';
    return html`<div class="card chart">
    <h3>${c.title}${probe && vm.probe ? html` <span class="muted">${vm.probe}</span>` : ''}</h3>
    ${probe && !vm.probe
      ? html`<p class="muted" data-probe="none">No probe: create the VM with one (<code>yun vm create … --probe http://:80/</code>) to see its response time here.</p>`
      : html`<${Chart} data=${data} spec=${c} />`}
    ${probe && why && html`<p class="muted" data-probe-error>Failing: ${why}</p>`}</div>`;
  })}</div>`;
}

// ---- resources ----
function Resources() {
  const [d, setD] = useState(null);
  const [err, setErr] = useState(null);
  usePoll(async alive => {
    try { const r = await api('GET', '/v1/resources'); if (alive()) setD(r); } catch (e) { if (alive()) setErr(e); }
  }, 5000, []);
  return html`<main><h1>Resources</h1><${ErrorBox} error=${err} />
    ${d && html`
    <table aria-label="Resources and prices"><thead><tr><th>Item</th><th class="num">Remaining</th>
      <th class="num">Total</th><th>Unit</th><th class="num">Price per unit per ${d.price_period}</th></tr></thead>
      <tbody>${d.items.map(i => html`<tr data-item=${i.item}><td>${i.item}</td><td class="num">${i.remaining}</td>
        <td class="num">${i.total}</td><td>${i.unit}</td><td class="num">${i.price} ${d.currency}</td></tr>`)}</tbody></table>
    <div class="row" style="margin-top:1rem">
      <div class="card"><h2 style="margin-top:0">VMs</h2><p>${d.vms.total} in the cloud, ${d.vms.running} running.</p></div>
      <div class="card"><h2 style="margin-top:0">Hosts</h2><p>${d.hosts.up} of ${d.hosts.total} up.</p></div>
      <div class="card"><h2 style="margin-top:0">Admission</h2><p>${d.limits.admission_threshold_pct < 100
        ? `New VMs are refused while CPU or memory use is above ${d.limits.admission_threshold_pct}%.`
        : 'No admission threshold.'}</p></div>
    </div>`}
  </main>`;
}

// ---- admin ----
function HostsAdmin() {
  const [hosts, setHosts] = useState(null);
  const [err, setErr] = useState(null);
  const [n, setN] = useState(0);
  usePoll(async alive => {
    try { const d = await api('GET', '/v1/hosts'); if (alive()) setHosts(d.hosts); } catch (e) { if (alive()) setErr(e); }
  }, 5000, [n]);
  const [draining, setDraining] = useState(null); // the host whose drain is being confirmed
  const act = async (h, what) => {
    setErr(null);
    try { await api('POST', `/v1/hosts/${enc(h.name)}/${what}`); setN(n + 1); } catch (e) { setErr(e); }
  };
  const off = h => ['disabled', 'draining', 'drained'].includes(h.state);
  const progress = d => d && html`<div class="muted" style="font-size:.8rem">${
    `${d.vms_left} VM${d.vms_left === 1 ? '' : 's'} left, ${d.migrating} migrating`}${
    d.stuck ? html`, <strong>${d.stuck} cannot leave</strong> (see their VM page)` : ''}</div>`;
  return html`<section><h2>Hosts</h2><${ErrorBox} error=${err} />
    ${draining && html`<${Confirm} text=${`Drain ${draining.name}? It takes no new VMs, and its ${draining.vms} VM${draining.vms === 1 ? '' : 's'} migrate live to other hosts, a few at a time. Enable it again to end the drain.`}
      confirmLabel="Drain" onCancel=${() => setDraining(null)}
      onConfirm=${() => { const h = draining; setDraining(null); act(h, 'drain'); }} />`}
    ${hosts && html`<table aria-label="Hosts"><thead><tr><th>Name</th><th>State</th><th class="num">VMs</th>
      <th class="num">Cores free</th><th class="num">Memory free</th><th class="num">Disk free</th><th>Hypervisor</th>
      <th>CPU (10 min)</th><th>Actions</th></tr></thead>
      <tbody>${hosts.map(h => html`<tr data-host=${h.name}><td>${h.name}</td><td><${State} s=${h.state} />${progress(h.drain)}</td>
        <td class="num">${h.vms}</td><td class="num" title=${(h.vcpus ?? h.cores) > h.cores ? `${h.vcpus} vCPUs on ${h.cores} cores (placement.cpu_ratio)` : null}>${h.free.cpus} / ${h.vcpus ?? h.cores}</td>
        <td class="num">${mib(h.free.memory_mib)}</td><td class="num">${mib(h.free.disk_mib)}</td>
        <td>${h.hypervisor}/${h.accel}</td>
        <td><${Sparkline} path=${`/v1/hosts/${h.id}/metrics`} /></td>
        <td class="actions">${off(h)
          ? html`<button class="secondary" onClick=${() => act(h, 'enable')} aria-label=${'Enable ' + h.name}>Enable</button>`
          : html`<button class="secondary" onClick=${() => act(h, 'disable')} aria-label=${'Disable ' + h.name}>Disable</button>`}
          <button class="secondary" disabled=${h.state === 'draining' || h.state === 'drained'}
            onClick=${() => setDraining(h)} aria-label=${'Drain ' + h.name}
            title="take no new VMs and migrate every VM away">Drain</button>
        </td></tr>`)}</tbody></table>`}
  </section>`;
}

function UserRow({ u, onChange, me }) {
  const [q, setQ] = useState({ max_vms: u.quota.max_vms, max_cpus: u.quota.max_cpus,
    max_memory: u.quota.max_memory_mib, max_disk: u.quota.max_disk_mib });
  const [pw, setPw] = useState('');
  const [msg, setMsg] = useState(null);
  const [err, setErr] = useState(null);
  const run = async (fn, ok) => {
    setErr(null); setMsg(null);
    try { await fn(); setMsg(ok); onChange(); } catch (e) { setErr(e); }
  };
  const num = k => e => setQ({ ...q, [k]: e.target.value });
  const id = 'u-' + u.name;
  return html`<tr data-user=${u.name}>
    <td>${u.name}</td>
    <td><input type="checkbox" aria-label=${'admin: ' + u.name} checked=${u.admin} disabled=${u.name === me.name}
      onChange=${e => run(() => api('PATCH', '/v1/users/' + enc(u.name), { admin: e.target.checked }), 'saved')} /></td>
    <td class="num">${u.usage.vms}</td>
    <td><form class="row" onSubmit=${ev => { ev.preventDefault(); run(() => api('PATCH', '/v1/users/' + enc(u.name), { quota: {
        max_vms: Number(q.max_vms), max_cpus: Number(q.max_cpus), max_memory: Number(q.max_memory), max_disk: Number(q.max_disk) } }), 'quota saved'); }}>
      <div><label for=${id + '-vms'}>VMs</label><input id=${id + '-vms'} type="number" min="0" value=${q.max_vms} onInput=${num('max_vms')} /></div>
      <div><label for=${id + '-cpus'}>CPUs</label><input id=${id + '-cpus'} type="number" min="0" value=${q.max_cpus} onInput=${num('max_cpus')} /></div>
      <div><label for=${id + '-mem'}>Memory MiB</label><input id=${id + '-mem'} type="number" min="0" value=${q.max_memory} onInput=${num('max_memory')} /></div>
      <div><label for=${id + '-disk'}>Disk MiB</label><input id=${id + '-disk'} type="number" min="0" value=${q.max_disk} onInput=${num('max_disk')} /></div>
      <div style="align-self:end"><button type="submit">Save quota</button></div>
    </form><div class="muted" style="font-size:.8rem">0 = unlimited</div></td>
    <td><form onSubmit=${ev => { ev.preventDefault(); run(() => api('PUT', `/v1/users/${enc(u.name)}/password`, { password: pw }), 'password set'); setPw(''); }}>
      <label for=${id + '-pw'}>New password</label>
      <input id=${id + '-pw'} type="password" autocomplete="new-password" minlength="8" value=${pw} onInput=${e => setPw(e.target.value)} />
      <button type="submit" class="secondary">Reset</button></form>
      ${msg && html`<div class="ok-box" role="status">${msg}</div>`}<${ErrorBox} error=${err} /></td>
  </tr>`;
}

function UsersAdmin({ me }) {
  const [users, setUsers] = useState(null);
  const [err, setErr] = useState(null);
  const load = useCallback(() => api('GET', '/v1/users').then(d => setUsers(d.users)).catch(setErr), []);
  useEffect(() => { load(); }, []);
  return html`<section><h2>Users</h2><${ErrorBox} error=${err} />
    ${users && html`<table aria-label="Users"><thead><tr><th>Name</th><th>Admin</th><th class="num">VMs</th>
      <th>Quota</th><th>Password</th></tr></thead>
      <tbody>${users.map(u => html`<${UserRow} key=${u.id} u=${u} me=${me} onChange=${load} />`)}</tbody></table>`}
  </section>`;
}

function SettingsAdmin() {
  const [s, setS] = useState(null);
  const [about, setAbout] = useState({}); // each setting's one-line doc, from yund's registry (ctl/settings.h)
  const [edit, setEdit] = useState({});
  const [err, setErr] = useState(null);
  const [msg, setMsg] = useState(null);
  useEffect(() => { api('GET', '/v1/settings').then(d => { setS(d.settings); setAbout(d.about || {}); }).catch(setErr); }, []);
  const save = async ev => {
    ev.preventDefault();
    setErr(null); setMsg(null);
    try {
      for (const [k, v] of Object.entries(edit)) if (v !== s[k]) await api('PUT', '/v1/settings/' + enc(k), { value: v });
      const d = await api('GET', '/v1/settings');
      setS(d.settings); setEdit({}); setMsg('settings saved');
    } catch (e) { setErr(e); }
  };
  return html`<section><h2>Settings</h2>
    ${s && html`<form class="card" onSubmit=${save}>
      ${Object.keys(s).map(k => html`<div class="row" style="align-items:center">
        <div><label for=${'set-' + k}>${k}</label><div class="muted" style="font-size:.85rem">${about[k]?.doc || ''}</div></div>
        <div><input id=${'set-' + k} value=${edit[k] ?? s[k]} onInput=${e => setEdit({ ...edit, [k]: e.target.value })} /></div>
      </div>`)}
      <${ErrorBox} error=${err} />${msg && html`<div class="ok-box" role="status">${msg}</div>`}
      <p><button type="submit">Save settings</button></p>
    </form>`}</section>`;
}

// ---- the live dispatcher (docs/placement.md): its mode, last round, plan, decisions, and the cloud's hosts on
// and estimated watts over the last hour (yund's cloud series) ----
const DISPATCH_CHARTS = [
  { title: 'Hosts up', unit: 'hosts', series: [['hosts_up', 'up']] },
  { title: 'Estimated power', unit: 'W', series: [['power_w', 'watts']] },
];
const MIGRATION_CHART = { title: 'Migrations', unit: 'per min', series: [['migrations', 'started']] };

// The live migrations the dispatcher started in each minute of the hour before `to` (ms), from its decisions.
function migrationColumns(decisions, to) {
  const t = [], n = [];
  for (let m = 59; m >= 0; m--) { t.push((to - m * 60e3) / 1e3); n.push(0); }
  for (const d of decisions) {
    const i = 59 - Math.floor((to - d.at_ms) / 60e3);
    if (d.vm && d.outcome === 'started' && i >= 0 && i < 60) n[i]++;
  }
  return { t, cols: { migrations: n } };
}

function Moves({ rows, label }) {
  return html`<table aria-label=${label}><thead><tr><th>When</th><th>VM</th><th>From</th><th>To</th><th>Kind</th>
    <th>Outcome</th><th>Reason</th></tr></thead><tbody>${rows.map(m => html`<tr data-kind=${m.kind}>
      <td>${new Date(m.at_ms).toLocaleTimeString()}</td><td>${m.vm || '–'}</td><td>${m.from}</td><td>${m.to || '–'}</td>
      <td>${m.kind}</td><td>${m.outcome}</td><td class="muted" style="font-size:.85rem">${m.reason}</td></tr>`)}</tbody></table>`;
}

function DispatchAdmin() {
  const [st, setSt] = useState(null);
  const [log, setLog] = useState(null);
  const [data, setData] = useState(null);
  const [moves, setMoves] = useState(null);
  const [err, setErr] = useState(null);
  usePoll(async alive => {
    try {
      const to = Date.now();
      const [s, l, m] = await Promise.all([api('GET', '/v1/dispatch'), api('GET', '/v1/dispatch/log?limit=500'),
        api('GET', `/v1/metrics?from=${to - 3600e3}&to=${to}&step=1m`).catch(() => null)]);
      if (alive()) {
        setSt(s); setLog(l.decisions.slice(0, 50)); setData(m && metricColumns(m));
        setMoves(migrationColumns(l.decisions, to)); setErr(null);
      }
    } catch (e) { if (alive()) setErr(e); }
  }, 10e3, []);
  return html`<section><h2>Dispatcher</h2><${ErrorBox} error=${err} />
    ${st && html`<p data-dispatch-mode=${st.mode}>Mode <b>${st.mode}</b> (setting dispatch.mode), policy <b>${st.policy}</b>,
      a round every ${st.interval_ms / 1000} s. ${st.last_round_ms
        ? `Last round at ${new Date(st.last_round_ms).toLocaleTimeString()}: ${st.hosts} host${st.hosts === 1 ? '' : 's'} up, `
          + `${st.vms} VM${st.vms === 1 ? '' : 's'} running, ${st.watts_now} W now (hosts with VMs), `
          + `${st.watts_planned} W with its plan done.`
        : 'No round yet.'}
      ${st.skipped && html` <span class="muted" data-dispatch-held>Held: ${st.skipped}</span>`}</p>
      <h3>The last round's plan</h3>${st.plan.length ? html`<${Moves} rows=${st.plan} label="Dispatcher plan" />`
        : html`<p class="muted" data-dispatch-plan="empty">Nothing to move.</p>`}`}
    <div class="charts">${DISPATCH_CHARTS.map(c => html`<div class="card chart"><h3>${c.title}</h3>
      <${Chart} data=${data} spec=${c} /></div>`)}<div class="card chart"><h3>${MIGRATION_CHART.title}</h3>
      <${Chart} data=${moves} spec=${MIGRATION_CHART} /></div></div>
    ${log && html`<h3>What it did (auto)</h3>${log.length ? html`<${Moves} rows=${log} label="Dispatcher decisions" />`
      : html`<p class="muted">Nothing yet: in advise the plan above is only shown.</p>`}`}
  </section>`;
}

function Admin({ me }) {
  if (!me.admin) return html`<main><h1>Admin</h1><p class="error-box" role="alert">Only an admin may open this page.</p></main>`;
  return html`<main><h1>Admin</h1><${HostsAdmin} /><${DispatchAdmin} /><${UsersAdmin} me=${me} /><${SettingsAdmin} /></main>`;
}

// ---- the frame ----
function Nav({ me, hash, onLogout }) {
  const link = (to, label) => html`<a href=${to} aria-current=${hash.startsWith(to) ? 'page' : null}>${label}</a>`;
  return html`<header class="top"><a class="brand" href="#/vms">yun</a>
    <nav aria-label="Main">${link('#/vms', 'My VMs')}${link('#/create', 'Create VM')}${link('#/images', 'Images')}${link('#/keys', 'SSH keys')}${link('#/clusters', 'Clusters')}${link('#/resources', 'Resources')}
      ${me.admin && link('#/admin', 'Admin')}</nav>
    <span class="who">${me.name}${me.admin ? ' (admin)' : ''}</span>
    <button class="secondary" onClick=${onLogout}>Log out</button></header>`;
}

function App() {
  const hash = useHash();
  const [me, setMe] = useState(undefined);
  useEffect(() => { api('GET', '/v1/whoami').then(setMe).catch(() => setMe(null)); }, []);
  const logout = async () => {
    try { await api('DELETE', '/v1/session'); } catch (e) { /* gone either way */ }
    setMe(null);
    location.hash = '#/login';
  };
  if (me === undefined) return html`<p class="boot">Loading yun…</p>`;
  if (!me) return html`<${Login} register=${hash === '#/register'} onLogin=${setMe} />`;
  const [, page, arg] = hash.split('/');
  let body;
  switch (page) {
    case 'create': body = html`<${CreateVm} me=${me} />`; break;
    case 'vm': body = html`<${VmPage} key=${arg} id=${decodeURIComponent(arg || '')} />`; break;
    case 'images': body = html`<${Images} me=${me} />`; break;
    case 'keys': body = html`<${Keys} />`; break;
    case 'clusters': body = html`<${Clusters} />`; break;
    case 'resources': body = html`<${Resources} />`; break;
    case 'admin': body = html`<${Admin} me=${me} />`; break;
    default: body = html`<${VmList} me=${me} />`;
  }
  return html`<${Nav} me=${me} hash=${hash} onLogout=${logout} />${body}`;
}

render(html`<${App} />`, document.getElementById('app'));
