// snippets.js: "View code": the current request as curl, Python SDK and Node SDK code, ready to run.
// Built from the very fields the page sends (form.js `readRequest`), so the code is what the model accepts:
// no `quality` or `output_format` where the family refuses them, Darkroom's extensions in `extra_body`
// (Python) or in the params object (Node). The key is read from OPENAI_API_KEY, never written out.

const ENDPOINTS = { generate: "generations", edit: "edits", variation: "variations" };
const PY_METHODS = { generate: "generate", edit: "edit", variation: "create_variation" };
const NODE_METHODS = { generate: "generate", edit: "edit", variation: "createVariation" };

// request: {mode, fields, extensions, files: {image: "image.png", mask?: "mask.png"}}
export function snippet(lang, request, baseUrl) {
  return { curl, python, node }[lang](request, baseUrl);
}

const shell = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;
const pyValue = (value) => (value === true ? "True" : value === false ? "False" : JSON.stringify(value));
const outputName = (fields) => `image.${fields.output_format || "png"}`;
// dall-e models answer with a `url` unless asked for b64_json; GPT models always with b64_json.
const isUrl = (fields, dalle) => fields.response_format === "url" || (!fields.response_format && dalle);

function curl({ mode, fields, extensions, files, dalle }, baseUrl) {
  const url = `${baseUrl}/images/${ENDPOINTS[mode]}`;
  const lines = [`curl -s${fields.stream ? "N" : ""} ${url}`, `  -H "Authorization: Bearer $OPENAI_API_KEY"`];
  const all = { ...fields, ...extensions };
  if (mode === "generate") {
    lines.push(`  -H "Content-Type: application/json"`, `  -d ${shell(JSON.stringify(all))}`);
  } else {
    for (const [name, file] of Object.entries(files)) lines.push(`  -F ${name}=@${file}`);
    for (const [name, value] of Object.entries(all)) lines.push(`  -F ${shell(`${name}=${value}`)}`);
  }
  let tail;
  if (fields.stream) tail = "# server-sent events: partial images, then image_*.completed with the final b64_json";
  else if (isUrl(fields, dalle)) tail = "  | jq -r '.data[].url'";
  else tail = `  | jq -r '.data[0].b64_json' | base64 --decode > ${outputName(fields)}`;
  return `${lines.join(" \\\n")}${tail.startsWith("#") ? `\n${tail}` : ` \\\n${tail}`}\n`;
}

function python({ mode, fields, extensions, files, dalle }, baseUrl) {
  const args = [];
  for (const [name, file] of Object.entries(files)) args.push(`${name}=open(${JSON.stringify(file)}, "rb")`);
  for (const [name, value] of Object.entries(fields)) args.push(`${name}=${pyValue(value)}`);
  if (Object.keys(extensions).length) {
    const inner = Object.entries(extensions).map(([k, v]) => `${JSON.stringify(k)}: ${pyValue(v)}`).join(", ");
    args.push(`extra_body={${inner}},  # Darkroom extensions`);
  }
  const call = `client.images.${PY_METHODS[mode]}(\n${args.map((a) => `    ${a.endsWith(",  # Darkroom extensions") ? a : `${a},`}`).join("\n")}\n)`;
  const head = [
    "import base64",
    "",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${JSON.stringify(baseUrl)})  # the key: OPENAI_API_KEY`,
    "",
  ];
  if (fields.stream) {
    return [...head, `stream = ${call}`, "for event in stream:",
      '    if event.type.endswith("partial_image"):',
      '        print("partial", event.partial_image_index)',
      '    elif event.type.endswith("completed"):',
      `        open(f"image-{getattr(event, 'image_index', 0) or 0}.${fields.output_format || "png"}", "wb").write(base64.b64decode(event.b64_json))`,
      ""].join("\n");
  }
  const save = isUrl(fields, dalle)
    ? ["for image in result.data:", "    print(image.url)"]
    : ["for i, image in enumerate(result.data):",
       `    open(f"image-{i}.${fields.output_format || "png"}", "wb").write(base64.b64decode(image.b64_json))`];
  return [...head, `result = ${call}`, ...save, ""].join("\n");
}

function node({ mode, fields, extensions, files, dalle }, baseUrl) {
  const props = [];
  for (const [name, file] of Object.entries(files)) props.push(`${name}: fs.createReadStream(${JSON.stringify(file)}),`);
  for (const [name, value] of Object.entries(fields)) props.push(`${name}: ${JSON.stringify(value)},`);
  for (const [name, value] of Object.entries(extensions)) props.push(`${name}: ${JSON.stringify(value)}, // Darkroom extension`);
  const call = `await client.images.${NODE_METHODS[mode]}({\n${props.map((p) => `  ${p}`).join("\n")}\n})`;
  const head = [
    'import fs from "node:fs";',
    'import OpenAI from "openai";',
    "",
    `const client = new OpenAI({ baseURL: ${JSON.stringify(baseUrl)} }); // the key: OPENAI_API_KEY`,
    "",
  ];
  const ext = fields.output_format || "png";
  if (fields.stream) {
    return [...head, `const stream = ${call};`, "for await (const event of stream) {",
      '  if (event.type.endsWith("partial_image")) console.log("partial", event.partial_image_index);',
      `  else if (event.type.endsWith("completed")) fs.writeFileSync(\`image-\${event.image_index ?? 0}.${ext}\`, Buffer.from(event.b64_json, "base64"));`,
      "}", ""].join("\n");
  }
  const save = isUrl(fields, dalle)
    ? ["for (const image of result.data) console.log(image.url);"]
    : ["result.data.forEach((image, i) =>",
       `  fs.writeFileSync(\`image-\${i}.${ext}\`, Buffer.from(image.b64_json, "base64")));`];
  return [...head, `const result = ${call};`, ...save, ""].join("\n");
}
