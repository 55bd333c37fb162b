// console.js: the VM's graphical console through noVNC. yund's console proxy hands out a one-time ticket
// (POST /v1/vms/{vm}/console, checked against the session) and relays the websocket to VNC, which
// listens only on the host's loopback or management address. noVNC is loaded only when asked for.
import { h } from '/vendor/preact/preact.module.js';
import { useEffect, useRef, useState } from '/vendor/preact/hooks.module.js';
import htm from '/vendor/htm/htm.module.js';
import { api, enc } from '/api.js';

const html = htm.bind(h);

export function VncConsole({ vm }) {
  const box = useRef();
  const rfb = useRef(null);
  const [status, setStatus] = useState('idle');
  const [msg, setMsg] = useState('');
  useEffect(() => () => { if (rfb.current) rfb.current.disconnect(); }, []);
  const connect = async () => {
    setStatus('connecting'); setMsg('');
    try {
      const t = await api('POST', `/v1/vms/${enc(vm.id)}/console`);
      const { default: RFB } = await import('/vendor/novnc/core/rfb.js');
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      const url = `${proto}//${location.host}${t.url}`;
      const r = new RFB(box.current, url);
      r.scaleViewport = true;
      r.focusOnClick = true;
      r.addEventListener('connect', () => { setStatus('connected'); r.focus(); });
      r.addEventListener('disconnect', e => { setStatus('idle'); setMsg(e.detail.clean ? 'disconnected' : 'the console connection was lost'); });
      rfb.current = r;
    } catch (e) {
      setStatus('idle');
      setMsg(e.status === 404 || e.status === 405
        ? 'The graphical console is not available from this yund (its console proxy is not installed yet); the serial log is below.'
        : e.message);
    }
  };
  const disconnect = () => { if (rfb.current) rfb.current.disconnect(); rfb.current = null; setStatus('idle'); };
  return html`<div>
    <div class="actions" style="margin-bottom:.5rem">
      ${status === 'connected'
        ? html`<button class="secondary" onClick=${disconnect}>Disconnect</button>
               <button class="secondary" onClick=${() => rfb.current && rfb.current.sendCtrlAltDel()}>Send Ctrl-Alt-Del</button>`
        : html`<button class="secondary" disabled=${status === 'connecting' || vm.state !== 'running'} onClick=${connect}>
            ${status === 'connecting' ? 'Connecting…' : 'Open console'}</button>`}
    </div>
    ${msg && html`<p class="muted" role="status" data-console-msg>${msg}</p>`}
    <div class="vnc" ref=${box} data-console=${status} aria-label="Graphical console" style=${status === 'idle' ? 'height:0' : ''}></div>
  </div>`;
}
