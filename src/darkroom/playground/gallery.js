// gallery.js: the history of this browser's results, kept in IndexedDB (images are too big for
// localStorage), newest first and at most MAX_KEPT of them; and, on servers with `store_all`, the images
// the server keeps for this API key (GET /v1/images/stored). Each entry offers download, reuse of its
// prompt and seed, and "edit this image".

import { call } from "./api.js";

const DB_NAME = "darkroom-playground";
const STORE = "results";
const MAX_KEPT = 200;

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function done(transaction) {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

// record: {id, created, blob, format, prompt, model, servedBy, seed, size, quality, usage, ms, operation}
export async function save(record) {
  const db = await open();
  const transaction = db.transaction(STORE, "readwrite");
  transaction.objectStore(STORE).put(record);
  await done(transaction);
  const all = await list();
  if (all.length > MAX_KEPT) {
    const trim = db.transaction(STORE, "readwrite");
    for (const old of all.slice(MAX_KEPT)) trim.objectStore(STORE).delete(old.id);
    await done(trim);
  }
  db.close();
}

export async function list() {
  const db = await open();
  const request = db.transaction(STORE).objectStore(STORE).getAll();
  const records = await new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return records.sort((a, b) => b.created - a.created);
}

export async function clear() {
  const db = await open();
  const transaction = db.transaction(STORE, "readwrite");
  transaction.objectStore(STORE).clear();
  await done(transaction);
  db.close();
}

// The key's kept images, as gallery entries; {kept: false, message} when the server keeps none.
export async function kept() {
  try {
    const response = await call("/images/stored?limit=60");
    const body = await response.json();
    return {
      kept: true,
      entries: body.data.map((image) => ({
        id: image.id, created: image.created_at * 1000, url: image.url, format: image.output_format,
        prompt: image.prompt, model: image.model, seed: image.seed, size: image.size, operation: image.operation,
      })),
    };
  } catch (error) {
    if (error.status === 404) return { kept: false, message: error.message };
    throw error;
  }
}

// Draw `entries` as thumbnails into `box`; `actions(entry)` gives the buttons of each.
export function render(box, entries, actions) {
  const urls = [];
  box.replaceChildren(...entries.map((entry) => {
    const figure = document.createElement("figure");
    figure.className = "thumb";
    figure.dataset.testid = "gallery-item";
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = entry.prompt || "(variation)";
    img.src = entry.blob ? URL.createObjectURL(entry.blob) : entry.url;
    if (entry.blob) urls.push(img.src);
    const caption = document.createElement("figcaption");
    const title = document.createElement("span");
    title.className = "thumb-prompt";
    title.textContent = entry.prompt || "(variation)";
    title.title = entry.prompt || "";
    const meta = document.createElement("span");
    meta.className = "hint";
    meta.textContent = `${entry.model} · seed ${entry.seed}`;
    meta.title = `${entry.size || ""} · ${new Date(entry.created).toLocaleString()}`;
    const buttons = document.createElement("span");
    buttons.className = "thumb-actions";
    buttons.append(...actions(entry, img.src));
    caption.append(title, meta, buttons);
    figure.append(img, caption);
    return figure;
  }));
  return urls; // object URLs to revoke when the gallery is drawn again
}
