// The seed scenario (hero images for a todo app) with the official npm `openai` SDK against a live
// `darkroom serve`: the Node twin of tests/test_sdk_python.py. Every returned image is decoded and checked
// for format, width and height.
//
// Run by tests/test_sdk_node.py, which starts the server and sets:
//   DARKROOM_BASE_URL  the server's /v1 URL, e.g. http://127.0.0.1:8000/v1
//   DARKROOM_API_KEY   a key the server accepts

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';

import OpenAI from 'openai';

import { pngAlphaCounts, probe } from './decode.mjs';
import { refused } from './refused.mjs';

const BASE_URL = process.env.DARKROOM_BASE_URL;
const API_KEY = process.env.DARKROOM_API_KEY;
if (!BASE_URL || !API_KEY) {
  throw new Error('set DARKROOM_BASE_URL (the /v1 URL) and DARKROOM_API_KEY; tests/test_sdk_node.py does this');
}

const HERO = 'A cheerful hero image for a todo app: a checklist card, blue and orange, flat illustration';

const client = new OpenAI({ baseURL: BASE_URL, apiKey: API_KEY, maxRetries: 0 });
const out = mkdtempSync(join(tmpdir(), 'darkroom-node-'));
after(() => rmSync(out, { recursive: true, force: true }));

/** Decodes a data[].b64_json the way OpenAI's Node examples do, and checks format and size. */
function checkImage(b64, { format, width, height }) {
  assert.equal(typeof b64, 'string');
  assert.match(b64, /^[A-Za-z0-9+/]*={0,2}$/, 'standard base64, no data: prefix, no line breaks');
  assert.equal(b64.length % 4, 0, 'base64 must be padded');
  const bytes = Buffer.from(b64, 'base64');
  const info = probe(bytes);
  assert.deepEqual([info.format, info.width, info.height], [format, width, height]);
  return { bytes, info };
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

// name, request, expected image, how many, expected echo fields in the response
const CASES = [
  ['plain', { model: 'gpt-image-1.5', prompt: HERO }, ['png', 1024, 1024], 1,
    { size: '1024x1024', quality: 'medium', background: 'opaque', output_format: 'png' }],
  ['n2', { model: 'gpt-image-1.5', prompt: HERO, n: 2 }, ['png', 1024, 1024], 2, {}],
  ['portrait', { model: 'gpt-image-1.5', prompt: HERO, size: '1024x1536' }, ['png', 1024, 1536], 1,
    { size: '1024x1536' }],
  ['low', { model: 'gpt-image-1.5', prompt: HERO, quality: 'low' }, ['png', 1024, 1024], 1, { quality: 'low' }],
  ['high', { model: 'gpt-image-1.5', prompt: HERO, quality: 'high' }, ['png', 1024, 1024], 1, { quality: 'high' }],
  ['jpeg', { model: 'gpt-image-1.5', prompt: HERO, output_format: 'jpeg' }, ['jpeg', 1024, 1024], 1,
    { output_format: 'jpeg' }],
  ['webp50', { model: 'gpt-image-1.5', prompt: HERO, output_format: 'webp', output_compression: 50 },
    ['webp', 1024, 1024], 1, { output_format: 'webp' }],
  ['transparent', { model: 'gpt-image-1.5', prompt: HERO, background: 'transparent', output_format: 'png' },
    ['png', 1024, 1024], 1, { background: 'transparent' }],
  ['gpt2-custom', { model: 'gpt-image-2', prompt: HERO, size: '1536x864' }, ['png', 1536, 864], 1,
    { size: '1536x864' }],
  ['dalle3', { model: 'dall-e-3', prompt: HERO, response_format: 'b64_json' }, ['png', 1024, 1024], 1, {}],
];

describe('seed scenario: hero images for a todo app', () => {
  for (const [name, request, [format, width, height], count, echo] of CASES) {
    test(name, async () => {
      const response = await client.images.generate(request);
      assert.ok(Number.isInteger(response.created), 'created is integer Unix seconds');
      assert.equal(response.data.length, count);
      for (const [key, value] of Object.entries(echo)) assert.equal(response[key], value, key);
      assert.match(response._request_id ?? '', /^req_/, 'x-request-id on success');

      const saved = [];
      for (const [i, image] of response.data.entries()) { // save each data[].b64_json, as the seed scenario does
        assert.equal(image.url, undefined);
        const { bytes, info } = checkImage(image.b64_json, { format, width, height });
        const path = join(out, `${name}-${i}.${format}`);
        writeFileSync(path, bytes);
        saved.push(readFileSync(path));
        if (request.background === 'transparent') {
          assert.ok(info.alpha, 'a transparent PNG needs an alpha channel');
          const { transparent, opaque } = pngAlphaCounts(bytes);
          assert.ok(transparent > 0, 'some pixels must be fully transparent');
          assert.ok(opaque > 0, 'some pixels must be fully opaque');
        } else if (format === 'png') {
          assert.equal(info.alpha, false, 'opaque images carry no alpha channel');
        }
      }
      assert.equal(new Set(saved.map(sha256)).size, count, 'the n images must differ');
    });
  }

  test('hero.png: the plain call, saved the way the docs show', async () => {
    const result = await client.images.generate({ model: 'gpt-image-1.5', prompt: HERO });
    const path = join(out, 'hero.png');
    writeFileSync(path, Buffer.from(result.data[0].b64_json, 'base64'));
    const info = probe(readFileSync(path));
    assert.deepEqual([info.format, info.width, info.height], ['png', 1024, 1024]);
  });

  test('dall-e-2 by default returns a url that downloads without the API key', async () => {
    const response = await client.images.generate({ prompt: HERO }); // no model: dall-e-2, url
    assert.equal(response.usage, undefined);
    assert.equal(response.size, undefined);
    const { url, b64_json } = response.data[0];
    assert.equal(b64_json, undefined);
    assert.ok(url.startsWith(`${BASE_URL}/images/files/`), url);
    const download = await fetch(url); // global fetch, no Authorization header: the signature is the credential
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'image/png');
    const info = probe(Buffer.from(await download.arrayBuffer()));
    assert.deepEqual([info.format, info.width, info.height], ['png', 1024, 1024]);
  });

  test('dall-e-3 revises the prompt and reports no usage', async () => {
    const response = await client.images.generate({
      model: 'dall-e-3', prompt: HERO, size: '1792x1024', response_format: 'b64_json',
    });
    assert.equal(response.data[0].revised_prompt, HERO);
    assert.equal(response.usage, undefined);
    checkImage(response.data[0].b64_json, { format: 'png', width: 1792, height: 1024 });
  });

  test('usage follows the published token table', async () => {
    const response = await client.images.generate({ model: 'gpt-image-1', prompt: 'a todo app', quality: 'high', n: 2 });
    assert.equal(response.usage.output_tokens, 2 * 4160); // 1024x1024 high = 4160 tokens per image
    assert.equal(response.usage.total_tokens, response.usage.input_tokens + response.usage.output_tokens);
    assert.equal(response.usage.input_tokens_details.image_tokens, 0);
    for (const image of response.data) checkImage(image.b64_json, { format: 'png', width: 1024, height: 1024 });
  });

  test('seed extension: unknown keys go in the body as-is, same seed gives identical bytes', async () => {
    // The Node SDK has no extra_body: it JSON-encodes the params object unchanged, so extra keys just travel.
    const first = await client.images.generate({ model: 'gpt-image-1', prompt: HERO, seed: 7 });
    const second = await client.images.generate({ model: 'gpt-image-1', prompt: HERO, seed: 7 });
    const other = await client.images.generate({ model: 'gpt-image-1', prompt: HERO, seed: 8 });
    for (const r of [first, second, other]) checkImage(r.data[0].b64_json, { format: 'png', width: 1024, height: 1024 });
    assert.equal(first.data[0].b64_json, second.data[0].b64_json);
    assert.notEqual(first.data[0].b64_json, other.data[0].b64_json);
  });

  test('a model configured with transparency accepts background=transparent', async () => {
    const response = await client.images.generate({
      model: 'gpt-image-2-alpha', prompt: HERO, background: 'transparent', size: '1536x864',
    });
    const { bytes } = checkImage(response.data[0].b64_json, { format: 'png', width: 1536, height: 864 });
    const { transparent, opaque } = pngAlphaCounts(bytes);
    assert.ok(transparent > 0 && opaque > 0);
  });

  test('models list and retrieve', async () => {
    const ids = [];
    for await (const model of client.models.list()) ids.push(model.id);
    for (const id of ['dall-e-2', 'dall-e-3', 'gpt-image-1', 'gpt-image-1.5', 'gpt-image-2', 'gpt-image-2-alpha']) {
      assert.ok(ids.includes(id), id);
    }
    assert.equal((await client.models.retrieve('gpt-image-2')).id, 'gpt-image-2');
    await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
  });
});

// name, request, error class, status, code, param
const REFUSALS = [
  ['gpt2-transparent', { model: 'gpt-image-2', prompt: HERO, background: 'transparent' },
    OpenAI.BadRequestError, 400, 'invalid_value', 'background'],
  ['gpt2-1000', { model: 'gpt-image-2', prompt: HERO, size: '1000x1000' },
    OpenAI.BadRequestError, 400, 'invalid_value', 'size'],
  ['gpt2-4000', { model: 'gpt-image-2', prompt: HERO, size: '4000x1000' },
    OpenAI.BadRequestError, 400, 'invalid_value', 'size'],
  ['dalle3-n2', { model: 'dall-e-3', prompt: HERO, n: 2 }, OpenAI.BadRequestError, 400, 'invalid_value', 'n'],
  ['unknown-model', { model: 'gpt-image-9', prompt: HERO }, OpenAI.BadRequestError, 400, 'invalid_value', 'model'],
  ['jpeg-transparent', { model: 'gpt-image-1', prompt: HERO, background: 'transparent', output_format: 'jpeg' },
    OpenAI.BadRequestError, 400, 'invalid_value', 'background'],
  ['stream-dalle2', { model: 'dall-e-2', prompt: HERO, stream: true },
    OpenAI.BadRequestError, 400, 'unsupported_parameter', 'stream'],
];

describe('refusals', () => {
  for (const [name, request, errorClass, status, code, param] of REFUSALS) {
    test(name, async () => {
      await refused(() => client.images.generate(request), errorClass, { status, code, param });
    });
  }

  test('the error body is wrapped in {"error": {...}} with all four keys', async () => {
    // openai-node 7.57 also accepts an unwrapped error object, so the SDK cannot tell; older 7.x releases
    // read only body.error. Check the raw wire format with fetch.
    const response = await fetch(`${BASE_URL}/images/generations`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-2', prompt: HERO, size: '1000x1000' }),
    });
    assert.equal(response.status, 400);
    assert.match(response.headers.get('content-type'), /^application\/json/);
    assert.match(response.headers.get('x-request-id') ?? '', /^req_/);
    const body = await response.json();
    assert.deepEqual(Object.keys(body), ['error']);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
    assert.deepEqual([body.error.type, body.error.code, body.error.param], ['invalid_request_error', 'invalid_value', 'size']);
  });

  test('wrong API key is an AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL: BASE_URL, apiKey: 'sk-wrong-key-123456', maxRetries: 0 });
    const error = await refused(() => wrong.images.generate({ model: 'gpt-image-1', prompt: HERO }),
      OpenAI.AuthenticationError, { status: 401, code: 'invalid_api_key', param: null });
    assert.doesNotMatch(error.message, /sk-wrong-key-123456/, 'the key must not be echoed back');
  });
});
