// form.js: the request controls, driven by the chosen model's `capabilities` (GET /v1/models, computed by
// the server from the rules it enforces). A control shows only the values that model takes for the current
// mode (generate, edit, variation) and hides itself where the field would be refused; `readRequest` turns
// the controls back into the request's fields, leaving out those at the API's own default, so that the
// request (and "View code") holds only what the user chose.

const $ = (id) => document.getElementById(id);

// What the API does with an absent field; a field at this value is left out of the request.
function defaults(model) {
  const gpt = model.family.startsWith("gpt-image");
  return {
    size: gpt || model.capabilities.sizes.includes("auto") ? "auto" : "1024x1024",
    quality: gpt ? "auto" : "standard",
    n: 1, response_format: "url", style: "vivid", output_format: "png", background: "auto",
    moderation: "auto", input_fidelity: "low",
  };
}

// The parts of `capabilities` that apply to one mode.
export function rulesFor(model, mode) {
  const caps = model.capabilities;
  if (mode === "variation") {
    const v = caps.variations;
    if (!v) return null;
    return { sizes: v.sizes, custom: v.custom_sizes, n: v.n, response_formats: v.response_formats,
             qualities: [], styles: [], output_formats: [], backgrounds: [], moderation: [], input_fidelity: [],
             stream: false, partial_images: 0, compression: null, transparent_formats: [],
             extensions: { seed: caps.extensions.seed }, prompt: false };
  }
  if (mode === "edit" && !caps.edits) return null;
  return {
    sizes: caps.sizes, custom: caps.custom_sizes, n: caps.n, response_formats: caps.response_formats,
    qualities: caps.qualities, styles: mode === "generate" ? caps.styles : [], output_formats: caps.output_formats,
    backgrounds: mode === "edit" ? caps.edits.backgrounds : caps.backgrounds,
    transparent_formats: caps.transparent_formats, moderation: caps.moderation,
    input_fidelity: mode === "edit" ? caps.edits.input_fidelity : [], stream: caps.stream,
    partial_images: caps.partial_images, compression: caps.output_compression, extensions: caps.extensions,
    prompt: true,
  };
}

function fillSelect(select, values, chosen, labels = {}) {
  const previous = chosen ?? select.value;
  select.replaceChildren(...values.map((value) => {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = labels[value] || value;
    return option;
  }));
  if (values.includes(previous)) select.value = previous;
  return select.value;
}

function show(selector, visible) {
  const box = document.querySelector(selector);
  if (box) box.hidden = !visible;
}

// Set every control for `model` in `mode`; keeps the user's choices where the model still takes them.
export function applyModel(model, mode) {
  const rules = rulesFor(model, mode);
  const fallback = defaults(model);
  const sizes = [...rules.sizes, ...(rules.custom ? ["custom"] : [])];
  fillSelect($("size"), sizes, sizes.includes($("size").value) ? $("size").value : fallback.size,
             { auto: "auto", custom: "custom…" });
  if (rules.custom) describeCustom(rules.custom);
  const set = (id, values, fallbackValue) => {
    show(`[data-cap="${id}"]`, values.length > 0);
    if (values.length) fillSelect($(id), values, values.includes($(id).value) ? $(id).value : fallbackValue);
  };
  set("quality", rules.qualities, fallback.quality);
  set("style", rules.styles, fallback.style);
  set("response_format", rules.response_formats, fallback.response_format);
  set("output_format", rules.output_formats, fallback.output_format);
  set("background", rules.backgrounds, fallback.background);
  set("moderation", rules.moderation, fallback.moderation);
  set("input_fidelity", rules.input_fidelity, fallback.input_fidelity);
  const n = $("n");
  n.min = rules.n.min;
  n.max = rules.n.max;
  n.disabled = rules.n.max === 1;
  n.value = Math.min(Math.max(Number(n.value) || 1, rules.n.min), rules.n.max);
  show('[data-cap="stream"]', rules.stream);
  const partials = Array.from({ length: rules.partial_images + 1 }, (_, i) => String(i));
  fillSelect($("partial_images"), partials, partials.includes($("partial_images").value) ? undefined : String(Math.min(2, rules.partial_images)));
  $("partial_images").disabled = !$("stream").checked || rules.partial_images === 0;
  for (const name of ["seed", "steps", "guidance_scale", "negative_prompt", "scheduler"]) {
    const rule = rules.extensions[name];
    show(`[data-ext="${name}"]`, Boolean(rule));
    if (!rule) continue;
    if ("min" in rule) { $(name).min = rule.min; $(name).max = rule.max; }
    if (name === "negative_prompt") $(name).maxLength = rule.max_length;
    if (name === "scheduler") fillSelect($(name), ["", ...rule.values], undefined, { "": "preset" });
  }
  $("prompt").maxLength = model.capabilities.prompt_max_length;
  $("prompt-max").textContent = model.capabilities.prompt_max_length.toLocaleString("en");
  document.querySelector(".field-prompt").hidden = !rules.prompt;
  $("prompt").hidden = !rules.prompt;
  refreshDependent(model, mode);
}

// Controls whose choices depend on other controls: custom size inputs, compression (jpeg/webp only),
// transparency (png/webp only), partial images (stream only).
export function refreshDependent(model, mode) {
  const rules = rulesFor(model, mode);
  if (!rules) return;
  show('[data-cap="custom"]', $("size").value === "custom");
  const format = rules.output_formats.length ? $("output_format").value : "png";
  const lossy = Boolean(rules.compression) && rules.compression.formats.includes(format);
  show('[data-cap="output_compression"]', lossy);
  const background = $("background");
  for (const option of background.options) {
    option.disabled = option.value === "transparent" && !rules.transparent_formats.includes(format);
  }
  if (background.selectedOptions[0]?.disabled) background.value = "auto";
  $("partial_images").disabled = !$("stream").checked || rules.partial_images === 0;
  $("compression-out").textContent = $("output_compression").value;
}

function describeCustom(rule) {
  const width = $("width");
  const height = $("height");
  for (const input of [width, height]) {
    input.step = rule.multiple;
    input.min = rule.multiple;
    if (rule.max_edge) input.max = rule.max_edge;
  }
  if (!width.value || Number(width.value) % rule.multiple) width.value = rule.min_pixels > 262144 ? 1280 : 512;
  if (!height.value || Number(height.value) % rule.multiple) height.value = rule.min_pixels > 262144 ? 720 : 512;
  const parts = [`multiples of ${rule.multiple}`,
    `${rule.min_pixels.toLocaleString("en")}–${rule.max_pixels.toLocaleString("en")} pixels`];
  if (rule.max_edge) parts.push(`edges ≤ ${rule.max_edge}`);
  if (rule.max_ratio) parts.push(`long side ≤ ${rule.max_ratio}× the short`);
  $("custom-hint").textContent = parts.join(", ");
}

// The request's fields from the controls (files are added by the caller for edits and variations).
export function readRequest(model, mode) {
  const rules = rulesFor(model, mode);
  const fallback = defaults(model);
  const fields = {};
  if (rules.prompt) fields.prompt = $("prompt").value;
  fields.model = model.id;
  const size = $("size").value === "custom" ? `${$("width").value}x${$("height").value}` : $("size").value;
  if (size !== fallback.size) fields.size = size;
  const pick = (name, values) => {
    if (values.length && !$(name).closest(".field").hidden && $(name).value !== fallback[name]) fields[name] = $(name).value;
  };
  pick("quality", rules.qualities);
  const n = Number($("n").value);
  if (n !== 1) fields.n = n;
  pick("style", rules.styles);
  pick("response_format", rules.response_formats);
  pick("output_format", rules.output_formats);
  const compression = Number($("output_compression").value);
  if (!$("output_compression").closest(".field").hidden && compression !== 100) fields.output_compression = compression;
  pick("background", rules.backgrounds);
  pick("moderation", rules.moderation);
  pick("input_fidelity", rules.input_fidelity);
  if (rules.stream && $("stream").checked) {
    fields.stream = true;
    if (rules.partial_images) fields.partial_images = Number($("partial_images").value);
  }
  const extensions = {};
  for (const name of ["seed", "steps", "guidance_scale", "negative_prompt", "scheduler"]) {
    if (!rules.extensions[name]) continue;
    const value = $(name).value.trim();
    if (value === "") continue;
    extensions[name] = ["seed", "steps"].includes(name) ? Number(value)
      : name === "guidance_scale" ? Number(value) : value;
  }
  return { fields, extensions };
}
