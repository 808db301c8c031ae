// tfswa on-device DSP: the same STFT, iSTFT, crossfade and chunk grid as tfswa's Python Separator
// (torch.stft/istft with a periodic Hann window, center=True, reflect padding; tfswa/overlap_add.py).
// Axis legend: C channels (2), S sources, T frames, F one-sided bins (n_fft / 2 + 1), L samples.
// A classic script: loaded by the page and by the worker (importScripts); defines self.TfswaDsp.
"use strict";
(function (root) {
  // Python's round(): halves to even (the Separator's segment and ramp lengths use it)
  function pyRound(x) {
    const f = Math.floor(x), d = x - f;
    if (d > 0.5) return f + 1;
    if (d < 0.5) return f;
    return f % 2 === 0 ? f : f + 1;
  }

  function hann(n, periodic) {
    const w = new Float64Array(n), m = periodic ? n : n - 1;
    for (let k = 0; k < n; k++) w[k] = 0.5 - 0.5 * Math.cos((2 * Math.PI * k) / m);
    return w;
  }

  // in-place radix-2 complex FFT of size n (a power of two); sign -1 forward, +1 inverse (unscaled)
  class FFT {
    constructor(n) {
      if (n & (n - 1)) throw new Error("FFT size must be a power of two, got " + n);
      this.n = n;
      this.rev = new Uint32Array(n);
      for (let i = 0, bits = Math.log2(n); i < n; i++) {
        let r = 0;
        for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
        this.rev[i] = r;
      }
      this.cos = new Float64Array(n / 2);
      this.sin = new Float64Array(n / 2);
      for (let k = 0; k < n / 2; k++) { this.cos[k] = Math.cos((2 * Math.PI * k) / n); this.sin[k] = Math.sin((2 * Math.PI * k) / n); }
    }
    run(re, im, sign) {
      const n = this.n, rev = this.rev;
      for (let i = 0; i < n; i++) {
        const j = rev[i];
        if (j > i) { let t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
      }
      for (let size = 2; size <= n; size <<= 1) {
        const half = size >> 1, step = n / size;
        for (let start = 0; start < n; start += size) {
          for (let k = 0, t = 0; k < half; k++, t += step) {
            const c = this.cos[t], s = sign * this.sin[t];
            const a = start + k, b = a + half;
            const xr = re[b] * c - im[b] * s, xi = re[b] * s + im[b] * c;
            re[b] = re[a] - xr; im[b] = im[a] - xi;
            re[a] += xr; im[a] += xi;
          }
        }
      }
    }
  }

  // STFT and iSTFT of one configuration (n_fft, hop, center) for chunks of a fixed length
  class Stft {
    constructor(nFft, hop, length, center) {
      if (!center) throw new Error("only center=True STFTs are supported in the browser");
      this.n = nFft; this.hop = hop; this.length = length; this.pad = nFft >> 1;
      this.frames = Math.floor(length / hop) + 1;
      this.bins = (nFft >> 1) + 1;
      this.window = hann(nFft, true);
      this.fft = new FFT(nFft);
      this.re = new Float64Array(nFft); this.im = new Float64Array(nFft);
      // torch.istft divides the overlap-added frames by the overlap-added squared window
      const total = nFft + hop * (this.frames - 1);
      this.envelope = new Float64Array(total);
      for (let t = 0; t < this.frames; t++) for (let j = 0; j < nFft; j++) this.envelope[t * hop + j] += this.window[j] ** 2;
    }
    // x reflect-padded by n_fft / 2 on both sides (torch's "reflect": the edge sample is not repeated)
    padded(x, out) {
      const L = x.length, p = this.pad;
      for (let i = 0; i < out.length; i++) {
        let k = i - p;
        if (k < 0) k = -k;
        if (k >= L) k = 2 * (L - 1) - k;
        out[i] = x[k];
      }
      return out;
    }
    // two real signals (a, b) of `length` samples -> spectra {re, im} of shape (2, T, F), one FFT per frame pair
    forward(a, b) {
      const { n, hop, frames: T, bins: F, window: w, re, im } = this;
      if (!this.padA) { this.padA = new Float64Array(this.length + n); this.padB = new Float64Array(this.length + n); }
      const pa = this.padded(a, this.padA), pb = this.padded(b, this.padB);
      const outRe = new Float64Array(2 * T * F), outIm = new Float64Array(2 * T * F);
      for (let t = 0; t < T; t++) {
        const base = t * hop;
        for (let j = 0; j < n; j++) { re[j] = w[j] * pa[base + j]; im[j] = w[j] * pb[base + j]; }
        this.fft.run(re, im, -1);
        const oa = t * F, ob = (T + t) * F;
        for (let k = 0; k < F; k++) {
          const m = (n - k) % n, zr = re[k], zi = im[k], yr = re[m], yi = im[m];
          outRe[oa + k] = 0.5 * (zr + yr); outIm[oa + k] = 0.5 * (zi - yi);
          outRe[ob + k] = 0.5 * (zi + yi); outIm[ob + k] = 0.5 * (yr - zr);
        }
      }
      return { re: outRe, im: outIm };
    }
    // two one-sided spectra (offsets oa, ob into re/im, each (T, F)) -> two real signals of `length` samples
    inverse(sRe, sIm, oa, ob) {
      const { n, hop, frames: T, bins: F, re, im, pad, length } = this;
      if (!this.accA) {
        this.accA = new Float64Array(n + hop * (T - 1)); this.accB = new Float64Array(this.accA.length);
        this.scaled = this.window.map((v) => v / n);  // the window and irfft's 1 / n at once
      }
      const accA = this.accA.fill(0), accB = this.accB.fill(0), w = this.scaled;
      for (let t = 0; t < T; t++) {
        for (let k = 0; k < F; k++) {
          const edge = k === 0 || k === F - 1;  // irfft ignores the imaginary parts at DC and Nyquist
          const ar = sRe[oa + t * F + k], ai = edge ? 0 : sIm[oa + t * F + k];
          const br = sRe[ob + t * F + k], bi = edge ? 0 : sIm[ob + t * F + k];
          re[k] = ar - bi; im[k] = ai + br;
          if (!edge) { re[n - k] = ar + bi; im[n - k] = br - ai; }
        }
        this.fft.run(re, im, 1);
        const base = t * hop;
        for (let j = 0; j < n; j++) { accA[base + j] += re[j] * w[j]; accB[base + j] += im[j] * w[j]; }
      }
      const ya = new Float32Array(length), yb = new Float32Array(length);
      const env = this.envelope;
      for (let i = 0; i < length && pad + i < accA.length; i++) {
        const e = env[pad + i];
        if (e > 1e-11) { ya[i] = accA[pad + i] / e; yb[i] = accB[pad + i] / e; }
      }
      return [ya, yb];
    }
  }

  // the Separator's crossfade weights: linear ramps of round(overlap * length) samples, flat in between
  function crossfade(length, overlap) {
    const ramp = Math.max(1, pyRound(length * overlap)), w = new Float64Array(length);
    for (let p = 0; p < length; p++) w[p] = Math.min((p + 1) / (ramp + 1), (length - p) / (ramp + 1), 1);
    return w;
  }

  // chunk starts covering [0, total): 0, stride, 2 stride, ... (shifts 0)
  function chunkStarts(total, stride) {
    const starts = [];
    for (let s = 0; s < total; s += stride) starts.push(s);
    return starts;
  }

  root.TfswaDsp = { pyRound, hann, FFT, Stft, crossfade, chunkStarts };
})(typeof self !== "undefined" ? self : globalThis);
