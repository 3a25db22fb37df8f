// api.js: the playground's only way to the server: Darkroom's public API (/v1/...), as any client sees it.
// The API key lives in this browser's localStorage; requests are JSON or multipart forms; `stream: true`
// answers are read as server-sent events from the response body (fetch + ReadableStream); every error is
// OpenAI's envelope {"error": {message, type, param, code}}, raised as an ApiError with the request id.

const KEY_STORAGE = "darkroom.playground.apiKey";

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

export const baseUrl = () => `${location.origin}/v1`;

export class ApiError extends Error {
  constructor(status, error, requestId) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.type = error.type ?? null;
    this.code = error.code ?? null;
    this.param = error.param ?? null;
    this.moderation = error.moderation_details ?? null;
    this.requestId = requestId;
  }
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

// One request to /v1; resolves to the Response when it is 2xx, else throws ApiError from its envelope.
export async function call(path, { method = "GET", json, form, signal } = {}) {
  const init = { method, signal, headers: headers() };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form !== undefined) {
    init.body = form; // the browser writes the multipart boundary
  }
  const response = await fetch(`${baseUrl()}${path}`, init);
  if (!response.ok) throw await errorOf(response);
  return response;
}

async function errorOf(response) {
  const requestId = response.headers.get("x-request-id");
  let error = { message: `HTTP ${response.status} ${response.statusText}` };
  try {
    const body = await response.json();
    if (body && body.error) error = body.error;
  } catch {
    // not JSON: a proxy's page; keep the status line
  }
  return new ApiError(response.status, error, requestId);
}

// Server-sent events of a streaming response: yields {event, data} with data parsed from JSON.
// Lines end with LF (a CR before it is dropped); a blank line dispatches; `:` lines are comments.
export async function* events(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let scanned = 0; // where the search for the next line end resumes: an image event is megabytes long
  let name = null;
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let start = 0;
      let end;
      while ((end = buffer.indexOf("\n", Math.max(start, scanned))) >= 0) {
        const line = buffer.slice(start, end).replace(/\r$/, "");
        start = end + 1;
        if (line === "") {
          if (data.length) yield { event: name, data: JSON.parse(data.join("\n")) };
          name = null;
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = text;
          else if (field === "data") data.push(text);
        }
      }
      buffer = buffer.slice(start);
      scanned = buffer.length;
    }
  } finally {
    reader.releaseLock();
  }
}

// The Darkroom response headers a result shows: the seed of its first image and the model that served it.
export function served(response) {
  const seed = response.headers.get("x-darkroom-seed");
  return {
    requestId: response.headers.get("x-request-id"),
    seed: seed === null ? null : Number(seed),
    servedBy: response.headers.get("x-darkroom-served-by"),
    cost: response.headers.get("x-darkroom-cost-usd"),
  };
}

export const MIME = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp" };

export async function b64ToBlob(b64, format) {
  const response = await fetch(`data:${MIME[format] || "image/png"};base64,${b64}`);
  return response.blob();
}
