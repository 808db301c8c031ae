// tfswa web page: upload, live progress (WebSocket, polling as fallback), players, spectrograms, downloads;
// or separation on this device (ondevice.js), the only mode of a static copy (tfswa page export).
"use strict";
const $ = (id) => document.getElementById(id);
let chosen = [];
let staticPage = false;  // a static copy: no server behind the page

function onDevice() { return $("device").checked; }

function key() { return $("key").value.trim(); }
function headers() { return key() ? { "X-API-Key": key() } : {}; }
function withKey(url) { return key() ? url + (url.includes("?") ? "&" : "?") + "key=" + encodeURIComponent(key()) : url; }
function say(text, error) { $("message").textContent = text; $("message").className = error ? "error" : ""; }

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: { ...headers(), ...(options.headers || {}) } });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    throw new Error(response.status + ": " + detail);
  }
  return response.status === 204 ? null : response.json();
}

function choose(files) {
  chosen = Array.from(files);
  $("chosen").textContent = chosen.map((f) => f.name).join(", ");
  updateButton();
}

function fillStems(sources) {
  const select = $("mode");
  select.length = 1;
  for (const stem of sources) {
    const option = document.createElement("option");
    option.value = stem;
    option.textContent = stem + " + no_" + stem;
    select.appendChild(option);
  }
}

// the on-device model's state: ready (sizes shown), preparing (the server exports it once) or unavailable
function deviceState(answer) {
  const note = $("device-note"), radio = $("device");
  if (answer.server === false && !staticPage) {
    staticPage = true;
    document.body.classList.add("static");
    radio.checked = true;
  }
  if (answer.state === "ready") {
    const runtime = Object.values(answer.runtime.files).reduce((a, b) => a + b, 0);
    note.textContent = "On this device: " + answer.name + " (" + answer.sources.join(", ") + "), model "
      + (answer.size_bytes / 1e6).toFixed(1) + " MB + ONNX Runtime Web " + answer.runtime.version + " "
      + (runtime / 1e6).toFixed(1) + " MB, downloaded once; the song never leaves this browser."
      + (self.crossOriginIsolated ? "" : " (single-threaded: the page is not cross-origin isolated)");
    if (staticPage) fillStems(answer.sources);
  } else if (answer.state === "idle") {
    note.textContent = "";
  } else if (answer.state === "preparing") {
    note.textContent = "On this device: " + (answer.detail || "preparing the model") + " ...";
  } else {
    note.textContent = "On this device: unavailable (" + (answer.detail || "unknown reason") + ")";
    note.className = staticPage ? "error" : "";
  }
  updateButton();
}

function updateButton() {
  const deviceReady = TfswaOnDevice.manifest() !== null;
  $("go").disabled = chosen.length === 0 || (onDevice() && !deviceReady);
  document.body.classList.toggle("device", onDevice());
  for (const id of ["format", "shifts", "wiener", "key"]) $(id).disabled = onDevice();
}

async function loadModel() {
  try {
    const [model] = await api("/v1/models");
    fillStems(model.sources);
    say("model: " + model.name + " (" + model.sources.join(", ") + ")");
  } catch (e) { say(e.message, true); }
}

function jobBox(job) {
  let box = document.getElementById("job-" + job.id);
  if (!box) {
    box = document.createElement("div");
    box.className = "job";
    box.id = "job-" + job.id;
    box.innerHTML = "<h3></h3><progress max='1' value='0'></progress><p class='state'></p><div class='stems'></div>";
    $("current").prepend(box);
  }
  box.querySelector("h3").textContent = job.filename;
  box.querySelector("progress").value = job.progress;
  box.querySelector(".state").textContent = job.state + (job.error ? ": " + job.error : "")
    + (job.timings && job.timings.separation_s ? " in " + job.timings.separation_s.toFixed(1) + " s" : "");
  box.querySelector(".state").className = "state" + (job.state === "failed" ? " error" : "");
  if (job.state === "done" && !box.dataset.shown) {
    box.dataset.shown = "1";
    const stems = box.querySelector(".stems");
    for (const stem of job.stems) {
      const url = "/v1/jobs/" + job.id + "/stems/" + stem;
      const div = document.createElement("div");
      div.className = "stem";
      div.innerHTML = "<strong></strong> <a download>download</a><audio controls preload='none'></audio><img alt=''>";
      div.querySelector("strong").textContent = stem;
      div.querySelector("a").href = withKey(url);
      div.querySelector("audio").src = withKey(url);
      div.querySelector("img").src = withKey(url + "/spectrogram.png");
      div.querySelector("img").alt = "spectrogram of " + stem;
      stems.appendChild(div);
    }
    const all = document.createElement("a");
    all.href = withKey("/v1/jobs/" + job.id + "/archive");
    all.textContent = "download all stems (zip)";
    stems.appendChild(all);
  }
  return box;
}

function follow(job) {
  jobBox(job);
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  let socket;
  try { socket = new WebSocket(withKey(scheme + location.host + "/v1/jobs/" + job.id + "/events")); }
  catch (e) { return poll(job.id); }
  let closedCleanly = false;
  socket.onmessage = (event) => {
    const update = JSON.parse(event.data);
    if (update.state === "deleted") return;
    jobBox(update);
    if (["done", "failed", "cancelled"].includes(update.state)) { closedCleanly = true; listPast(); }
  };
  socket.onclose = () => { if (!closedCleanly) poll(job.id); };
}

async function poll(id) {
  try {
    const job = await api("/v1/jobs/" + id);
    jobBox(job);
    if (!["done", "failed", "cancelled"].includes(job.state)) setTimeout(() => poll(id), 1000);
    else listPast();
  } catch (e) { say(e.message, true); }
}

async function separateHere() {
  for (const file of chosen) {
    try {
      say("");
      await TfswaOnDevice.separate(file, $("mode").value);
    } catch (e) {
      if (e.message !== "cancelled") say(e.message, true);
    }
  }
}

async function submit(event) {
  event.preventDefault();
  $("go").disabled = true;
  if (onDevice()) {
    await separateHere();
    updateButton();
    return;
  }
  for (const file of chosen) {
    const form = new FormData();
    form.append("file", file, file.name);
    if ($("mode").value) form.append("two_stems", $("mode").value);
    form.append("format", $("format").value);
    form.append("shifts", $("shifts").value);
    form.append("wiener_iters", $("wiener").value);
    try {
      say("uploading " + file.name + " ...");
      follow(await api("/v1/jobs", { method: "POST", body: form }));
      say("");
    } catch (e) { say(file.name + ": " + e.message, true); }
  }
  updateButton();
}

async function listPast() {
  try {
    const jobs = await api("/v1/jobs");
    const list = $("past");
    list.innerHTML = "";
    for (const job of jobs) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = "#";
      link.textContent = job.filename + " — " + job.state;
      link.onclick = (e) => { e.preventDefault(); job.state === "done" || job.state === "failed" ? jobBox(job) : follow(job); };
      item.appendChild(link);
      list.appendChild(item);
    }
  } catch (e) { /* a key may be needed first */ }
}

$("files").addEventListener("change", (e) => choose(e.target.files));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files); });
$("options").addEventListener("submit", submit);
$("refresh").addEventListener("click", listPast);
$("key").addEventListener("change", () => { loadModel(); listPast(); });
for (const radio of document.querySelectorAll("input[name=where]")) {
  radio.addEventListener("change", () => {
    updateButton();
    if (onDevice() && TfswaOnDevice.manifest() === null) TfswaOnDevice.load(deviceState, true);
  });
}

// a static copy (tfswa page export) answers page-model.json with server: false; a server says whether its
// on-device model is ready, and exports it (once) only when on-device mode is chosen (?prepare=1)
TfswaOnDevice.load(deviceState).then((answer) => {
  if (answer.server !== false) { loadModel(); listPast(); }
});
