// tfswa on-device separation worker: ONNX Runtime Web (WebAssembly) runs the exported spectrogram core; the
// STFT, the magnitudes x mixture phase (or masks x mixture), the iSTFT and the crossfaded overlap-add follow
// tfswa's Separator chunk by chunk, so memory stays bounded whatever the song's length.
// Messages in: {type: "start", ...} (see run). Out: status, progress, block, spectrogram, done, error.
"use strict";
importScripts("dsp.js");

const MAX_OUTPUT_PEAK = 1e6;  // tfswa.separator.MAX_OUTPUT_PEAK: beyond it the model failed numerically
const SPEC_FFT = 2048, SPEC_COLUMNS = 1200, SPEC_ROWS = 256, F_MIN = 30, F_MAX = 16000;  // tfswa/report.py

function post(message, transfer) { self.postMessage(message, transfer || []); }

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function loadSession(m, modelUrl, ortBase, threads) {
  post({ type: "status", text: "loading ONNX Runtime Web " + m.runtime.version });
  importScripts(ortBase + "ort.wasm.min.js");
  ort.env.wasm.wasmPaths = ortBase;
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  post({ type: "status", text: "loading the model (" + (m.size_bytes / 1e6).toFixed(1) + " MB)" });
  const response = await fetch(modelUrl);
  if (!response.ok) throw new Error("the model could not be loaded (" + response.status + " " + response.statusText + ")");
  const bytes = await response.arrayBuffer();
  if ((await sha256Hex(bytes)) !== m.sha256) throw new Error("the model file does not match its checksum (damaged or changed)");
  return ort.InferenceSession.create(bytes, { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
}

// spectrogram columns of one stem, computed as its samples become final (tfswa.report.spectrogram_db)
class Spectrogram {
  constructor(total, rate) {
    this.hop = Math.max(SPEC_FFT / 4, Math.ceil(Math.max(total - SPEC_FFT, 0) / (SPEC_COLUMNS - 1)));
    this.count = Math.floor(Math.max(total - SPEC_FFT, 0) / this.hop) + 1;
    this.total = total;
    this.window = TfswaDsp.hann(SPEC_FFT, false);  // numpy.hanning: symmetric
    this.fft = new TfswaDsp.FFT(SPEC_FFT);
    this.rows = new Int32Array(SPEC_ROWS);  // bin of each row, log-spaced from F_MIN to F_MAX
    for (let r = 0; r < SPEC_ROWS; r++) {
      const f = F_MIN * Math.pow(F_MAX / F_MIN, r / (SPEC_ROWS - 1));
      this.rows[r] = Math.min(SPEC_FFT / 2, Math.round((f * SPEC_FFT) / rate));
    }
    this.db = new Float32Array(this.count * SPEC_ROWS);
    this.next = 0;  // next column
    this.buf = new Float32Array(0); this.bufPos = 0;  // mono samples from bufPos
  }
  push(mono, end) {  // mono samples ending at position `end`
    const merged = new Float32Array(this.buf.length + mono.length);
    merged.set(this.buf); merged.set(mono, this.buf.length);
    this.buf = merged;
    const re = new Float64Array(SPEC_FFT), im = new Float64Array(SPEC_FFT);
    while (this.next < this.count) {
      const start = this.next * this.hop;
      if (start + SPEC_FFT > end && end < this.total) break;
      re.fill(0); im.fill(0);
      for (let j = 0; j < SPEC_FFT; j++) {
        const i = start + j - this.bufPos;
        if (i < this.buf.length) re[j] = this.buf[i] * this.window[j];
      }
      this.fft.run(re, im, -1);
      for (let r = 0; r < SPEC_ROWS; r++) {
        const k = this.rows[r];
        this.db[this.next * SPEC_ROWS + r] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
      }
      this.next++;
    }
    const keep = Math.min(this.next * this.hop, end) - this.bufPos;  // samples no later column needs
    if (keep > 0) { this.buf = this.buf.slice(keep); this.bufPos += keep; }
  }
}

async function run(job) {
  const { manifest: m, modelUrl, ortBase, threads, left, right, total, mono, pick } = job;
  const started = performance.now();
  const session = await loadSession(m, modelUrl, ortBase, threads);
  const loaded = performance.now();
  const seg = m.segment, S = m.sources.length;
  const stft = new TfswaDsp.Stft(m.n_fft, m.hop_length, seg, m.center);
  const T = stft.frames, F = stft.bins;
  const fade = TfswaDsp.crossfade(seg, m.overlap);
  const starts = TfswaDsp.chunkStarts(total, m.stride);
  const K = pick.length;  // output stems: each a list of model sources summed (a stem, or no_STEM)
  const acc = Array.from({ length: S * 2 }, () => new Float64Array(seg));
  const wacc = new Float64Array(seg);
  const specs = pick.map(() => new Spectrogram(total, m.sample_rate));
  let pos = 0, peak = 0, coreMs = 0;
  const input = session.inputNames[0];
  const re = new Float64Array(2 * T * F), im = new Float64Array(2 * T * F);  // one source's STFT, reused
  post({ type: "status", text: "separating with " + threads + " thread(s)" });
  for (let c = 0; c < starts.length; c++) {
    const start = starts[c];
    const a = new Float32Array(seg), b = new Float32Array(seg);
    const end = Math.min(start + seg, total);
    a.set(left.subarray(start, end)); b.set(right.subarray(start, end));
    const spec = stft.forward(a, b);  // (2, T, F)
    const mag = new Float32Array(2 * T * F);
    for (let i = 0; i < mag.length; i++) mag[i] = Math.sqrt(spec.re[i] * spec.re[i] + spec.im[i] * spec.im[i]);
    const t0 = performance.now();
    const result = await session.run({ [input]: new ort.Tensor("float32", mag, [1, 2, T, F]) });
    coreMs += performance.now() - t0;
    const out = result[session.outputNames[0]].data;  // (1, S, 2, T, F)
    for (const name of session.outputNames) result[name].dispose && result[name].dispose();
    for (let s = 0; s < S; s++) {
      re.fill(0); im.fill(0);
      for (let i = 0; i < 2 * T * F; i++) {
        const o = out[s * 2 * T * F + i], xr = spec.re[i], xi = spec.im[i];
        if (m.output === "mask") { re[i] = o * xr; im[i] = o * xi; }
        else { const r = Math.sqrt(xr * xr + xi * xi); if (r > 0) { re[i] = (o * xr) / r; im[i] = (o * xi) / r; } }
      }
      const ys = stft.inverse(re, im, 0, T * F);
      for (let ch = 0; ch < 2; ch++) {
        const y = ys[ch], target = acc[s * 2 + ch], off = start - pos;
        for (let i = 0; i < seg; i++) {
          const v = y[i];
          if (!(Math.abs(v) <= MAX_OUTPUT_PEAK)) throw new Error("the model produced NaN, infinite or absurdly loud samples");
          if (off + i < seg) target[off + i] += v * fade[i];
        }
      }
    }
    for (let i = 0; i < seg && start - pos + i < seg; i++) wacc[start - pos + i] += fade[i];
    // samples before the next chunk's start are final
    const done = Math.min(c + 1 < starts.length ? starts[c + 1] : total, total);
    const n = done - pos;
    const blocks = [];
    for (let k = 0; k < K; k++) {
      const width = mono ? 1 : 2, block = new Float32Array(n * width), spectro = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let l = 0, r = 0;
        for (const s of pick[k]) { l += acc[s * 2][i] / wacc[i]; r += acc[s * 2 + 1][i] / wacc[i]; }
        l = Math.fround(l); r = Math.fround(r);
        if (mono) { block[i] = Math.fround((l + r) / 2); peak = Math.max(peak, Math.abs(block[i])); }
        else { block[2 * i] = l; block[2 * i + 1] = r; peak = Math.max(peak, Math.abs(l), Math.abs(r)); }
        spectro[i] = mono ? block[i] : (l + r) / 2;
      }
      specs[k].push(spectro, done);
      blocks.push(block);
    }
    post({ type: "block", start: pos, frames: n, blocks }, blocks.map((x) => x.buffer));
    for (const arr of acc) { arr.copyWithin(0, n); arr.fill(0, seg - n); }
    wacc.copyWithin(0, n); wacc.fill(0, seg - n);
    pos = done;
    post({ type: "progress", done: c + 1, total: starts.length });
  }
  for (let k = 0; k < K; k++) {
    const sp = specs[k];
    post({ type: "spectrogram", stem: k, columns: sp.count, rows: SPEC_ROWS, db: sp.db }, [sp.db.buffer]);
  }
  const finished = performance.now();
  post({ type: "done", peak, chunks: starts.length,
         timings: { load_s: (loaded - started) / 1000, separation_s: (finished - loaded) / 1000, core_s: coreMs / 1000,
                    total_s: (finished - started) / 1000, threads } });
}

self.onmessage = (event) => {
  if (event.data.type !== "start") return;
  run(event.data).catch((error) => post({ type: "error", message: String((error && error.message) || error) }));
};
