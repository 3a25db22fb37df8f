// app.js: the playground page: models, modes (generate, edit, variation), running a request (streamed or
// not) and showing its partial and final images, errors, "View code", the gallery, and the keyboard.
// It talks only to the public API (api.js), so it works in front of any Darkroom.

import { ApiError, apiKey, b64ToBlob, baseUrl, call, events, MIME, served, setApiKey } from "./api.js";
import { applyModel, readRequest, refreshDependent, rulesFor } from "./form.js";
import * as gallery from "./gallery.js";
import { MaskPainter } from "./mask.js";
import { resultsView, seconds } from "./results.js";
import { snippet } from "./snippets.js";

const $ = (id) => document.getElementById(id);
const PREFS = "darkroom.playground.prefs";
const state = { models: [], model: null, mode: "generate", running: null, galleryView: "local", galleryUrls: [],
                codeLang: "curl" };
const painter = new MaskPainter($("source-canvas"), $("mask-canvas"), $("brush"));

// ---- models and modes --------------------------------------------------------------------------

async function loadModels() {
  clearError();
  $("server").textContent = "Connecting…";
  try {
    const healthy = fetch("/health").then((r) => r.json()).catch(() => null); // open: only the version
    const body = await (await call("/models")).json();
    state.models = body.data.filter((model) => model.capabilities);
    const health = await healthy;
    $("server").textContent = `${health ? `Darkroom ${health.version} · ` : ""}${state.models.length} models`;
    fillModels();
    await drawGallery();
  } catch (error) {
    state.models = [];
    fillModels();
    $("server").textContent = "Cannot list the models";
    showError(error);
  }
}

function fillModels() {
  const select = $("model");
  const wanted = select.value || prefs().model;
  select.replaceChildren(...state.models.map((model) => {
    const option = document.createElement("option");
    option.value = model.id;
    const can = rulesFor(model, state.mode) !== null;
    option.disabled = !can;
    option.textContent = `${model.id} · ${model.engine}${can ? "" : ` (no ${state.mode}s)`}`;
    return option;
  }));
  const usable = state.models.filter((model) => rulesFor(model, state.mode));
  const pick = usable.find((model) => model.id === wanted) || usable.find((model) => model.id === "gpt-image-1.5")
    || usable[0];
  if (pick) select.value = pick.id;
  selectModel();
}

function selectModel() {
  state.model = state.models.find((model) => model.id === $("model").value) || null;
  $("generate").disabled = !state.model;
  if (!state.model) return;
  applyModel(state.model, state.mode);
  $("model-note").textContent = state.model.description || "";
  savePrefs({ model: state.model.id });
  updateSourceNote();
}

function setMode(mode) {
  state.mode = mode;
  for (const tab of document.querySelectorAll(".modes [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
  }
  $("source").hidden = mode === "generate";
  $("mask-area").hidden = mode !== "edit";
  $("generate").textContent = { generate: "Generate", edit: "Send edit", variation: "Make variations" }[mode];
  fillModels();
}

function updateSourceNote() {
  const edits = state.model?.capabilities.edits;
  const note = state.mode === "variation" ? "A square PNG (dall-e-2 rules)."
    : edits ? `${edits.image_formats.join(", ").toUpperCase()}${edits.square_only ? ", square" : ""}.` : "";
  $("source-note").textContent = painter.source ? `${painter.source.width}×${painter.source.height}. ${note}` : note;
}

// ---- running a request --------------------------------------------------------------------------

async function run() {
  if (state.running || !state.model) return;
  clearError();
  const model = state.model;
  const mode = state.mode;
  const { fields, extensions } = readRequest(model, mode);
  if (mode !== "generate" && !painter.source) {
    showError(new Error("Choose an image to edit first: upload one, or use “Edit” on a result."));
    return;
  }
  const controller = new AbortController();
  state.running = controller;
  setBusy(true);
  const started = performance.now();
  const view = resultsView($("results"), fields.n || 1, fields.partial_images || 0, fields.size, entryButtons);
  status(`Running on ${model.id}…`);
  try {
    const response = mode === "generate"
      ? await call("/images/generations", { method: "POST", json: { ...fields, ...extensions }, signal: controller.signal })
      : await call(`/images/${mode === "edit" ? "edits" : "variations"}`,
                   { method: "POST", form: await formOf(model, mode, fields, extensions), signal: controller.signal });
    const meta = { ...served(response), mode, model, fields, started };
    if (fields.stream) await readStream(response, meta, view);
    else await readJson(response, meta, view);
    status(`Done in ${seconds(performance.now() - started)} · request ${meta.requestId}`);
  } catch (error) {
    view.abandon(error.name === "AbortError" ? "Cancelled before it was finished." : "Not finished.");
    if (error.name === "AbortError") status("Cancelled: the server stopped the work.");
    else { status(""); showError(error); }
  } finally {
    state.running = null;
    setBusy(false);
  }
}

async function formOf(model, mode, fields, extensions) {
  const form = new FormData();
  const pngOnly = mode === "variation" || !model.capabilities.edits?.image_formats.includes(
    Object.keys(MIME).find((format) => MIME[format] === painter.source.type));
  const image = pngOnly ? await painter.pngBlob() : painter.source.blob;
  form.append("image", image, `image.${pngOnly ? "png" : painter.source.type.split("/")[1]}`);
  const mask = mode === "edit" ? await painter.maskBlob() : null;
  if (mask) form.append("mask", mask, "mask.png");
  for (const [name, value] of Object.entries({ ...fields, ...extensions })) form.append(name, String(value));
  return form;
}

async function readStream(response, meta, view) {
  for await (const { event, data } of events(response)) {
    if (event === "error" || data.type === "error") throw new ApiError(response.status, data.error || {}, meta.requestId);
    const index = data.image_index ?? 0;
    if (data.type.endsWith(".partial_image")) view.partial(index, data);
    else if (data.type.endsWith(".completed")) {
      await finish(view, index, await b64ToBlob(data.b64_json, data.output_format), data, data.usage, meta);
    }
  }
}

async function readJson(response, meta, view) {
  const body = await response.json();
  for (const [index, item] of body.data.entries()) {
    const info = { size: body.size || meta.fields.size || "1024x1024", quality: body.quality,
                   output_format: body.output_format || "png", revised_prompt: item.revised_prompt };
    let blob = null;
    if (item.b64_json) blob = await b64ToBlob(item.b64_json, info.output_format);
    else blob = await fetch(item.url).then((r) => r.blob()).catch(() => null);
    await finish(view, index, blob, { ...info, url: item.url }, index === 0 ? body.usage : null, meta, body.usage);
  }
}

async function finish(view, index, blob, info, usage, meta, requestUsage = null) {
  const seed = meta.seed === null ? null : (meta.seed + index) % 2 ** 32;
  const record = {
    id: `${meta.requestId}-${index}`, created: Date.now(), blob, url: blob ? null : info.url,
    format: info.output_format, prompt: meta.fields.prompt || "", model: meta.model.id, servedBy: meta.servedBy,
    seed, size: info.size, quality: info.quality, usage, ms: performance.now() - meta.started, operation: meta.mode,
  };
  view.final(index, record, { requestUsage, revised: info.revised_prompt });
  if (blob) gallery.save(record).then(() => state.galleryView === "local" && drawGallery()).catch(() => {});
}

function cancel() {
  if (state.running) state.running.abort();
}

function setBusy(busy) {
  $("generate").disabled = busy || !state.model;
  $("cancel").disabled = !busy;
  document.body.classList.toggle("busy", busy);
}

// ---- entries: what a result or a history entry offers ----------------------------------------------

function entryButtons(entry, src) {
  const download = document.createElement("a");
  download.href = src;
  download.download = `darkroom-${entry.seed ?? "image"}.${entry.format || "png"}`;
  download.textContent = "Download";
  download.className = "button ghost";
  const buttons = [download, button("Reuse", "Reuse the prompt and seed", () => reuse(entry)),
                   button("Edit", "Edit this image", () => editEntry(entry, "edit"))];
  if (state.models.some((model) => model.capabilities.variations)) {
    buttons.push(button("Vary", "Variations of this image", () => editEntry(entry, "variation")));
  }
  return buttons;
}

function button(text, title, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.className = "ghost";
  element.textContent = text;
  element.title = title;
  element.addEventListener("click", onClick);
  return element;
}

function reuse(entry) {
  setMode("generate");
  if (state.models.some((model) => model.id === entry.model)) {
    $("model").value = entry.model;
    selectModel();
  }
  $("prompt").value = entry.prompt || "";
  $("seed").value = entry.seed ?? "";
  countPrompt();
  $("prompt").focus();
}

async function editEntry(entry, mode) {
  const blob = entry.blob || await fetch(entry.url).then((r) => r.blob());
  setMode(mode);
  await painter.load(blob);
  if (entry.prompt && mode === "edit") $("prompt").value = entry.prompt;
  updateSourceNote();
  countPrompt();
  $("source").scrollIntoView({ block: "nearest" });
}

// ---- errors and status --------------------------------------------------------------------------

function showError(error) {
  const box = $("error");
  const title = document.createElement("strong");
  title.textContent = error.message || String(error);
  const facts = document.createElement("dl");
  const add = (name, value) => {
    if (value === null || value === undefined || value === "") return;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.field = name;
    facts.append(dt, dd);
  };
  if (error instanceof ApiError) {
    add("status", error.status);
    add("type", error.type);
    add("code", error.code);
    add("param", error.param);
    if (error.moderation) {
      add("categories", (error.moderation.categories || []).join(", "));
      add("stage", error.moderation.moderation_stage);
    }
    add("request id", error.requestId);
  }
  box.replaceChildren(title, facts);
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

function status(text) {
  $("status").textContent = text;
}


// ---- the gallery --------------------------------------------------------------------------------

// Draws may overlap (a result saved while the last one is drawn): only the newest one is shown, and the
// object URLs of the thumbnails it replaces are revoked once they are off the page.
let drawing = 0;

async function drawGallery() {
  const ticket = ++drawing;
  const note = $("gallery-note");
  $("gallery-clear").hidden = state.galleryView !== "local";
  try {
    let entries = [];
    let text;
    if (state.galleryView === "local") {
      entries = await gallery.list();
      text = entries.length ? `${entries.length} result${entries.length === 1 ? "" : "s"} kept in this browser.`
        : "Nothing yet: results appear here and stay after a reload.";
    } else {
      const found = await gallery.kept();
      entries = found.kept ? found.entries : [];
      text = found.kept ? `${entries.length} images kept on the server for this key.` : found.message;
    }
    if (ticket !== drawing) return;
    note.textContent = text;
    const old = state.galleryUrls;
    state.galleryUrls = gallery.render($("gallery"), entries, entryButtons);
    for (const url of old) URL.revokeObjectURL(url);
  } catch (error) {
    if (ticket === drawing) note.textContent = `The gallery could not be read: ${error.message}`;
  }
}

function setGalleryView(view) {
  state.galleryView = view;
  $("gallery-local").setAttribute("aria-selected", String(view === "local"));
  $("gallery-kept").setAttribute("aria-selected", String(view === "kept"));
  drawGallery();
}

// ---- View code ----------------------------------------------------------------------------------

function currentCode() {
  if (!state.model) return "";
  const { fields, extensions } = readRequest(state.model, state.mode);
  const files = state.mode === "generate" ? {} : { image: "image.png" };
  if (state.mode === "edit" && painter.painted) files.mask = "mask.png";
  return snippet(state.codeLang, { mode: state.mode, fields, extensions, files,
                                   dalle: state.model.family.startsWith("dall-e") }, baseUrl());
}

function showCode(lang = state.codeLang) {
  state.codeLang = lang;
  for (const tab of document.querySelectorAll("#code [role=tab]")) {
    tab.setAttribute("aria-selected", String(tab.dataset.lang === lang));
  }
  $("code-text").textContent = currentCode();
  $("code-copied").textContent = "";
  if (!$("code").open) $("code").showModal();
}

async function copyCode() {
  const text = $("code-text").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("code-text"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("code-copied").textContent = "Copied.";
}

// ---- preferences, wiring ------------------------------------------------------------------------

function prefs() {
  try { return JSON.parse(localStorage.getItem(PREFS)) || {}; } catch { return {}; }
}

function savePrefs(change) {
  localStorage.setItem(PREFS, JSON.stringify({ ...prefs(), ...change }));
}

function countPrompt() {
  $("prompt-count").textContent = $("prompt").value.length.toLocaleString("en");
}

function wire() {
  const key = $("api-key");
  key.value = apiKey();
  key.addEventListener("change", () => { setApiKey(key.value.trim()); loadModels(); });
  $("key-show").addEventListener("click", () => {
    const shown = key.type === "text";
    key.type = shown ? "password" : "text";
    $("key-show").textContent = shown ? "Show" : "Hide";
    $("key-show").setAttribute("aria-pressed", String(!shown));
  });
  for (const tab of document.querySelectorAll(".modes [role=tab]")) {
    tab.addEventListener("click", () => setMode(tab.dataset.mode));
  }
  $("model").addEventListener("change", selectModel);
  for (const id of ["size", "output_format", "stream", "output_compression", "background"]) {
    $(id).addEventListener("input", () => state.model && refreshDependent(state.model, state.mode));
  }
  $("prompt").addEventListener("input", countPrompt);
  $("seed-random").addEventListener("click", () => { $("seed").value = ""; });
  $("controls").addEventListener("submit", (event) => { event.preventDefault(); run(); });
  $("cancel").addEventListener("click", cancel);
  $("source-file").addEventListener("change", async () => {
    const file = $("source-file").files[0];
    if (file) { await painter.load(file); updateSourceNote(); }
  });
  $("brush").addEventListener("input", () => { $("brush-out").textContent = $("brush").value; });
  const tool = (erasing) => {
    painter.erasing = erasing;
    $("mask-paint").setAttribute("aria-pressed", String(!erasing));
    $("mask-erase").setAttribute("aria-pressed", String(erasing));
  };
  $("mask-paint").addEventListener("click", () => tool(false));
  $("mask-erase").addEventListener("click", () => tool(true));
  $("mask-clear").addEventListener("click", () => painter.clear());
  $("gallery-local").addEventListener("click", () => setGalleryView("local"));
  $("gallery-kept").addEventListener("click", () => setGalleryView("kept"));
  $("gallery-clear").addEventListener("click", async () => { await gallery.clear(); drawGallery(); });
  $("view-code").addEventListener("click", () => showCode());
  for (const tab of document.querySelectorAll("#code [role=tab]")) {
    tab.addEventListener("click", () => showCode(tab.dataset.lang));
  }
  $("code-close").addEventListener("click", () => $("code").close());
  $("code-copy").addEventListener("click", copyCode);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      if ($("code").open) $("code").close();
      run();
    } else if (event.key === "Escape" && state.running) {
      event.preventDefault();
      cancel();
    }
  });
}

wire();
loadModels();
