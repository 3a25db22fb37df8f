// results.js: the cards of the running request: one per image, showing its partial images as they
// arrive, then the final image with what the API said about it (seed, the model that served it, size,
// quality, format, time, usage) and the entry's buttons; cards of a request that ended early go, or
// keep their last partial, marked unfinished.

import { MIME } from "./api.js";

let shown = []; // object URLs of the final images on the page, revoked when the next request starts

export const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;

export function resultsView(box, n, partials, size, buttons) {
  const [width, height] = /^\d+x\d+$/.test(size || "") ? size.split("x").map(Number) : [1, 1];
  const cards = Array.from({ length: n }, (_, index) => {
    const figure = document.createElement("figure");
    figure.className = "card pending";
    figure.dataset.index = index;
    const frame = document.createElement("div");
    frame.className = "frame";
    frame.style.aspectRatio = `${width} / ${height}`;
    const caption = document.createElement("figcaption");
    caption.textContent = partials ? "Waiting for the first partial…" : "Working…";
    figure.append(frame, caption);
    return { figure, frame, caption };
  });
  for (const url of shown) URL.revokeObjectURL(url);
  shown = [];
  box.replaceChildren(...cards.map((card) => card.figure));
  return {
    partial(index, data) {
      const card = cards[index];
      let img = card.frame.querySelector('img[data-testid="partial"]');
      if (!img) {
        img = document.createElement("img");
        img.dataset.testid = "partial";
        card.frame.replaceChildren(img);
      }
      img.alt = `Partial image ${data.partial_image_index + 1} of ${partials}`;
      img.src = `data:${MIME[data.output_format]};base64,${data.b64_json}`;
      card.caption.textContent = `Partial ${data.partial_image_index + 1} of ${partials}…`;
    },
    final(index, record, extra) {
      const card = cards[index];
      const img = document.createElement("img");
      img.dataset.testid = "result";
      img.alt = record.prompt || "Variation";
      img.src = record.blob ? URL.createObjectURL(record.blob) : record.url;
      if (record.blob) shown.push(img.src);
      card.frame.replaceChildren(img);
      card.figure.classList.remove("pending");
      const actions = document.createElement("span");
      actions.className = "card-actions";
      actions.append(...buttons(record, img.src));
      card.caption.replaceChildren(...describe(record, extra), actions);
    },
    // The request ended early (cancelled, or an error): cards with nothing to show go; a card that
    // got partials keeps the last one, marked unfinished.
    abandon(why) {
      for (const card of cards) {
        if (!card.figure.classList.contains("pending")) continue;
        if (!card.frame.querySelector("img")) card.figure.remove();
        else {
          card.figure.classList.add("abandoned");
          card.caption.textContent = why;
        }
      }
    },
  };
}

function describe(record, { requestUsage, revised }) {
  const lines = [];
  const line = (text, testid) => {
    const span = document.createElement("span");
    span.textContent = text;
    if (testid) span.dataset.testid = testid;
    lines.push(span);
  };
  line(`seed ${record.seed ?? "?"} · ${record.servedBy || record.model}${record.servedBy && record.servedBy !== record.model ? ` (via ${record.model})` : ""}`, "meta");
  line([record.size, record.quality, record.format].filter(Boolean).join(" · ") + ` · ${seconds(record.ms)}`);
  const usage = record.usage || requestUsage;
  if (usage) {
    line(`${usage.total_tokens.toLocaleString("en")} tokens (in ${usage.input_tokens}, out ${usage.output_tokens})${record.usage ? "" : " for the request"}`, "usage");
  }
  if (revised) line(`revised prompt: ${revised}`);
  return lines;
}
