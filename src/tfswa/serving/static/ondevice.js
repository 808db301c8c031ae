// tfswa page, on-device mode: decode the song with the browser's audio API (resampled to the model's rate),
// separate it in a Web Worker with ONNX Runtime Web, and show players, spectrograms and WAV downloads, as a
// server job does. Nothing is uploaded: the page only downloads the model and the runtime (once, then cached).
"use strict";
const TfswaOnDevice = (() => {
  let manifest = null;      // page-model.json once ready
  let running = null;       // {worker, box} of the separation in progress
  const F_MIN = 30, F_MAX = 16000, RANGE_DB = 80;  // tfswa/report.py

  function url(path) { return new URL(path, document.baseURI).href; }

  // the manifest: {state: ready|idle|preparing|unavailable, server: bool, ...}; `onChange` sees every answer;
  // `prepare` asks a server to export its model for the page (once) and polls until it is ready
  let polling = false;
  async function load(onChange, prepare, again) {
    if (polling && !again) return { state: "preparing" };  // a poll loop is already running
    let answer;
    try {
      const response = await fetch(url("page-model.json" + (prepare ? "?prepare=1" : "")), { cache: "no-store" });
      answer = await response.json();
    } catch (e) {
      answer = { state: "unavailable", server: true, detail: "this server does not offer on-device separation" };
    }
    if (answer.state === "ready") manifest = answer;
    onChange(answer);
    polling = answer.state === "preparing";
    if (polling) setTimeout(() => load(onChange, true, true), 2000);
    return answer;
  }

  function threads() {
    const asked = new URLSearchParams(location.search).get("threads");
    if (asked) return Math.max(1, parseInt(asked, 10) || 1);
    return self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  }

  // (n, C) AudioBuffer -> two channels, as tfswa.audio.to_stereo: mono duplicated, 5.1 and others downmixed
  function stereo(buffer) {
    const C = buffer.numberOfChannels, n = buffer.length, ch = (i) => buffer.getChannelData(i);
    if (C === 1) return [new Float32Array(ch(0)), new Float32Array(ch(0))];
    if (C === 2) return [new Float32Array(ch(0)), new Float32Array(ch(1))];
    const left = new Float32Array(n), right = new Float32Array(n);
    if (C === 6) {
      const k = Math.SQRT1_2, norm = 1 + 2 * k, d = [0, 1, 2, 4, 5].map(ch);
      for (let i = 0; i < n; i++) {
        left[i] = (d[0][i] + k * d[2][i] + k * d[3][i]) / norm;
        right[i] = (d[1][i] + k * d[2][i] + k * d[4][i]) / norm;
      }
      return [left, right];
    }
    for (let c = 0; c < C; c++) {
      const data = ch(c), target = c % 2 ? right : left, count = c % 2 ? Math.floor(C / 2) : Math.ceil(C / 2);
      for (let i = 0; i < n; i++) target[i] += data[i] / count;
    }
    return [left, right];
  }

  async function decode(file) {
    const bytes = await file.arrayBuffer();
    if (bytes.byteLength === 0) throw new Error(file.name + ": the file is empty");
    const context = new OfflineAudioContext(1, 1, manifest.sample_rate);
    try {
      return await context.decodeAudioData(bytes);
    } catch (e) {
      throw new Error(file.name + ": this browser cannot decode it as audio (" + ((e && e.message) || "unknown format")
        + "). Try WAV, FLAC, MP3 or Ogg Vorbis, or separate it on the server.");
    }
  }

  function wavHeader(frames, channels, rate) {
    const view = new DataView(new ArrayBuffer(44)), bytes = frames * channels * 2;
    const text = (o, s) => { for (let i = 0; i < s.length; i++) view.setUint8(o + i, s.charCodeAt(i)); };
    text(0, "RIFF"); view.setUint32(4, 36 + bytes, true); text(8, "WAVE"); text(12, "fmt ");
    view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, channels, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * channels * 2, true);
    view.setUint16(32, channels * 2, true); view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, bytes, true);
    return view.buffer;
  }

  const CRC_TABLE = (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();
  function crc32(crc, bytes) {  // chainable: crc32(crc32(0, a), b) is the CRC of a + b
    let c = ~crc;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return ~c >>> 0;
  }

  // float32 parts -> {blob: a 16-bit WAV, crc}, samples x scale clipped to [-1, 1] (tfswa's StemWriter, rescale)
  async function wav(parts, frames, channels, rate, scale) {
    const header = wavHeader(frames, channels, rate), out = [header];
    let crc = crc32(0, new Uint8Array(header));
    for (const part of parts) {
      const x = new Float32Array(await part.arrayBuffer()), pcm = new Int16Array(x.length);
      for (let i = 0; i < x.length; i++) pcm[i] = Math.round(Math.max(-1, Math.min(1, Math.fround(x[i] * scale))) * 32767);
      crc = crc32(crc, new Uint8Array(pcm.buffer));
      out.push(pcm.buffer);
    }
    return { blob: new Blob(out, { type: "audio/wav" }), crc };
  }

  // [{name, blob, crc}] -> a zip archive without compression (as the server's archive), built from Blobs
  function zip(entries) {
    const parts = [], central = [];
    let offset = 0;
    for (const e of entries) {
      const name = new TextEncoder().encode(e.name), size = e.blob.size;
      const local = new DataView(new ArrayBuffer(30));
      local.setUint32(0, 0x04034b50, true); local.setUint16(4, 20, true); local.setUint16(12, 0x21, true);
      local.setUint32(14, e.crc, true); local.setUint32(18, size, true); local.setUint32(22, size, true);
      local.setUint16(26, name.length, true);
      parts.push(local.buffer, name, e.blob);
      const entry = new DataView(new ArrayBuffer(46));
      entry.setUint32(0, 0x02014b50, true); entry.setUint16(4, 20, true); entry.setUint16(6, 20, true);
      entry.setUint16(14, 0x21, true); entry.setUint32(16, e.crc, true); entry.setUint32(20, size, true);
      entry.setUint32(24, size, true); entry.setUint16(28, name.length, true); entry.setUint32(42, offset, true);
      central.push(entry.buffer, name);
      offset += 30 + name.length + size;
    }
    const centralSize = central.reduce((n, x) => n + x.byteLength, 0), end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); end.setUint16(8, entries.length, true); end.setUint16(10, entries.length, true);
    end.setUint32(12, centralSize, true); end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
  }

  // magma-like colour map (5 stops) for spectrogram images
  const STOPS = [[0, 0, 4], [81, 18, 124], [183, 55, 121], [252, 137, 97], [252, 253, 191]];
  function colour(v) {
    const x = Math.max(0, Math.min(1, v)) * (STOPS.length - 1), i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    return STOPS[i].map((a, j) => Math.round(a + (STOPS[i + 1][j] - a) * f));
  }

  function spectrogramImage(spec) {
    const canvas = document.createElement("canvas");
    canvas.width = spec.columns; canvas.height = spec.rows;
    const ctx = canvas.getContext("2d"), image = ctx.createImageData(spec.columns, spec.rows);
    let vmax = -Infinity;
    for (const v of spec.db) vmax = Math.max(vmax, v);
    for (let c = 0; c < spec.columns; c++) {
      for (let r = 0; r < spec.rows; r++) {
        const [red, green, blue] = colour((spec.db[c * spec.rows + r] - (vmax - RANGE_DB)) / RANGE_DB);
        const o = ((spec.rows - 1 - r) * spec.columns + c) * 4;
        image.data[o] = red; image.data[o + 1] = green; image.data[o + 2] = blue; image.data[o + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    return canvas.toDataURL("image/png");
  }

  function box(file) {
    const div = document.createElement("div");
    div.className = "job device";
    div.innerHTML = "<h3></h3><progress max='1' value='0'></progress> <button type='button' class='cancel'>cancel</button>"
      + "<p class='state'></p><div class='stems'></div>";
    div.querySelector("h3").textContent = file.name + " (on this device)";
    document.getElementById("current").prepend(div);
    return div;
  }

  function state(div, text, error) {
    const p = div.querySelector(".state");
    p.textContent = text;
    p.className = "state" + (error ? " error" : "");
  }

  function cancel() {
    if (!running) return;
    running.worker.terminate();
    state(running.box, "cancelled", false);
    running.box.querySelector(".cancel").disabled = true;
    running.reject(new Error("cancelled"));
    running = null;
  }

  // separate one file; `twoStems` is a stem name or "" (all the model's stems)
  async function separate(file, twoStems) {
    if (!manifest) throw new Error("the model for on-device separation is not ready");
    const div = box(file);
    div.querySelector(".cancel").onclick = cancel;
    state(div, "decoding (in this browser)");
    let audio;
    try {
      audio = await decode(file);
    } catch (e) {
      state(div, e.message, true);
      div.querySelector(".cancel").disabled = true;
      throw e;
    }
    const total = audio.length, channels = audio.numberOfChannels, mono = channels === 1;
    if (total === 0) { state(div, file.name + ": no audio samples", true); throw new Error("no audio"); }
    const [left, right] = stereo(audio);
    audio = null;
    const sources = manifest.sources;
    let names, pick;
    if (twoStems) {
      const rule = manifest.two_stems[twoStems];
      names = [twoStems, "no_" + twoStems]; pick = [[rule.index], rule.others];
    } else {
      names = sources.slice(); pick = sources.map((_, i) => [i]);
    }
    const parts = names.map(() => []), spectrograms = [];
    const worker = new Worker(url("static/ondevice-worker.js"));
    const width = mono ? 1 : 2, rate = manifest.sample_rate;
    const track = file.name.replace(/\.[^.]*$/, "");
    return new Promise((resolve, reject) => {
      running = { worker, box: div, reject };
      worker.onerror = (e) => { state(div, "the worker failed: " + (e.message || "unknown error"), true); running = null; reject(e); };
      worker.onmessage = async (event) => {
        const msg = event.data;
        if (msg.type === "status") state(div, msg.text);
        else if (msg.type === "progress") {
          div.querySelector("progress").value = msg.done / msg.total;
          state(div, "separating: chunk " + msg.done + " of " + msg.total);
        } else if (msg.type === "block") msg.blocks.forEach((b, k) => parts[k].push(new Blob([b])));
        else if (msg.type === "spectrogram") spectrograms[msg.stem] = msg;
        else if (msg.type === "error") {
          worker.terminate(); running = null;
          state(div, file.name + ": " + msg.message, true);
          div.querySelector(".cancel").disabled = true;
          reject(new Error(msg.message));
        } else if (msg.type === "done") {
          worker.terminate(); running = null;
          div.querySelector(".cancel").disabled = true;
          const scale = msg.peak > 0.999 ? 0.999 / msg.peak : 1;
          const stems = div.querySelector(".stems"), files = [];
          for (let k = 0; k < names.length; k++) {
            const { blob, crc } = await wav(parts[k], total, width, rate, scale);
            parts[k] = null;
            files.push({ name: names[k] + ".wav", blob, crc });
            const href = URL.createObjectURL(blob);
            const item = document.createElement("div");
            item.className = "stem";
            item.innerHTML = "<strong></strong> <a download>download</a><audio controls preload='none'></audio><img alt=''>";
            item.querySelector("strong").textContent = names[k];
            item.querySelector("a").href = href;
            item.querySelector("a").download = track + "-" + names[k] + ".wav";
            item.querySelector("audio").src = href;
            item.querySelector("img").src = spectrogramImage(spectrograms[k]);
            item.querySelector("img").alt = "spectrogram of " + names[k];
            stems.appendChild(item);
          }
          const all = document.createElement("a");
          all.href = URL.createObjectURL(zip(files));
          all.download = track + ".zip";
          all.className = "archive";
          all.textContent = "download all stems (zip)";
          stems.appendChild(all);
          const t = msg.timings, seconds = total / rate;
          div.dataset.timings = JSON.stringify({ ...t, audio_s: seconds, chunks: msg.chunks });
          state(div, "done in " + t.separation_s.toFixed(1) + " s on this device (" + t.threads + " thread(s), "
            + (t.separation_s / seconds).toFixed(2) + " x real time)");
          div.querySelector("progress").value = 1;
          resolve(div);
        }
      };
      worker.postMessage({ type: "start", manifest, modelUrl: url(manifest.model_url), ortBase: url(manifest.runtime.base),
                           threads: threads(), left, right, total, mono, pick }, [left.buffer, right.buffer]);
    });
  }

  return { load, separate, cancel, manifest: () => manifest };
})();
