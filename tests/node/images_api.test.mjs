// Streaming, edits and variations with the official npm `openai` SDK against a live `darkroom serve`:
// what a Node user does with `stream: true`, `images.edit` and `images.createVariation`. Every image
// that comes back is decoded (decode.mjs) and checked for format and size; the masked edit is
// compared pixel by pixel with its input.
//
// Run by tests/test_sdk_node.py, which starts the server, writes the input images with Pillow and sets:
//   DARKROOM_BASE_URL  the server's /v1 URL, e.g. http://127.0.0.1:8000/v1
//   DARKROOM_API_KEY   a key the server accepts
//   DARKROOM_FIXTURES  a folder with the input images (see FIXTURES below)

import assert from 'node:assert/strict';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import OpenAI, { toFile } from 'openai';

import { decodePng, probe } from './decode.mjs';
import { refused } from './refused.mjs';

const BASE_URL = process.env.DARKROOM_BASE_URL;
const API_KEY = process.env.DARKROOM_API_KEY;
const FIXTURES = process.env.DARKROOM_FIXTURES;
if (!BASE_URL || !API_KEY || !FIXTURES) {
  throw new Error('set DARKROOM_BASE_URL, DARKROOM_API_KEY and DARKROOM_FIXTURES; tests/test_sdk_node.py does this');
}

// The files tests/test_sdk_node.py writes (Pillow), and what they are.
const SCENE = join(FIXTURES, 'scene.png'); // 1024x1024 RGB gradient
const MASK = join(FIXTURES, 'mask.png'); // 1024x1024 RGBA, alpha 0 inside MASKED, 255 elsewhere
const SMALL_MASK = join(FIXTURES, 'small-mask.png'); // 512x512 RGBA: the wrong size for SCENE
const PHOTO = join(FIXTURES, 'photo.jpg'); // 600x900 JPEG (2:3, so size auto picks 1024x1536)
const SQUARE = join(FIXTURES, 'square.png'); // 256x256 RGB
const WIDE = join(FIXTURES, 'wide.png'); // 512x256 RGB: not square
const MASKED = { x0: 256, y0: 256, x1: 768, y1: 768 }; // the transparent square of mask.png

const PROMPT = 'A cheerful hero image for a todo app: a checklist card, blue and orange, flat illustration';

// Every request is recorded (URL, Content-Type, what kind of body), so the tests can check what the
// SDK really sent: a streamed ReadStream upload is a chunked ReadableStream body, a Blob one is FormData.
const sent = [];
const client = new OpenAI({
  baseURL: BASE_URL,
  apiKey: API_KEY,
  maxRetries: 0,
  fetch: (url, init) => {
    const headers = new Headers(init?.headers);
    sent.push({ url: String(url), contentType: headers.get('content-type'), body: init?.body });
    return fetch(url, init);
  },
});

const SIZES = ['1024x1024', '1024x1536', '1536x1024', 'auto'];
const QUALITIES = ['low', 'medium', 'high', 'auto'];
const BACKGROUNDS = ['transparent', 'opaque', 'auto'];
const FORMATS = ['png', 'webp', 'jpeg'];

/** Decodes base64 the way OpenAI's Node examples do, and checks format and size. */
function checkImage(b64, { format = 'png', width, height }) {
  assert.equal(typeof b64, 'string');
  assert.match(b64, /^[A-Za-z0-9+/]*={0,2}$/, 'standard base64, no data: prefix, no line breaks');
  assert.equal(b64.length % 4, 0, 'base64 must be padded');
  const bytes = Buffer.from(b64, 'base64');
  const info = probe(bytes);
  assert.deepEqual([info.format, info.width, info.height], [format, width, height]);
  return bytes;
}

/** The fields spec section 4 requires of every stream event, with their types and enums. */
function checkEventFields(event, kind) {
  assert.equal(event.error, undefined, 'a normal event must not carry an error key');
  assert.ok(event.type.startsWith(`${kind}.`), event.type);
  assert.equal(typeof event.b64_json, 'string');
  assert.ok(Number.isInteger(event.created_at), 'created_at is integer Unix seconds');
  assert.ok(Math.abs(event.created_at - Date.now() / 1000) < 600, `created_at ${event.created_at} is not now`);
  assert.ok(SIZES.includes(event.size), `size ${event.size}`);
  assert.ok(QUALITIES.includes(event.quality), `quality ${event.quality}`);
  assert.ok(BACKGROUNDS.includes(event.background), `background ${event.background}`);
  assert.ok(FORMATS.includes(event.output_format), `output_format ${event.output_format}`);
  if (event.type.endsWith('.partial_image')) {
    assert.ok(Number.isInteger(event.partial_image_index), 'partial_image_index is an integer');
  } else {
    assert.equal(event.type, `${kind}.completed`);
    const { usage } = event;
    for (const key of ['total_tokens', 'input_tokens', 'output_tokens']) {
      assert.ok(Number.isInteger(usage[key]) && usage[key] >= 0, `usage.${key}`);
    }
    assert.equal(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert.ok(Number.isInteger(usage.input_tokens_details.text_tokens), 'usage.input_tokens_details.text_tokens');
    assert.ok(Number.isInteger(usage.input_tokens_details.image_tokens), 'usage.input_tokens_details.image_tokens');
    assert.ok(usage.output_tokens > 0);
  }
}

/** Reads a whole SDK stream (`for await`, as the docs show) into a list of events. */
async function collect(stream) {
  assert.equal(typeof stream[Symbol.asyncIterator], 'function', 'stream: true returns a Stream');
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** RGB of the pixel at (x, y) of a decoded PNG. */
const rgb = ({ width, channels, pixels }, x, y) => {
  const i = (y * width + x) * channels;
  return channels >= 3 ? [pixels[i], pixels[i + 1], pixels[i + 2]] : [pixels[i], pixels[i], pixels[i]];
};

describe('streaming generations', () => {
  test('partial_images=2: two partial events (0, 1), then one completed', async () => {
    const stream = await client.images.generate({
      model: 'gpt-image-1', prompt: PROMPT, stream: true, partial_images: 2, size: '1024x1024', quality: 'low',
    });
    const events = await collect(stream);
    assert.deepEqual(events.map((e) => e.type), [
      'image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed',
    ]);
    assert.deepEqual(events.slice(0, 2).map((e) => e.partial_image_index), [0, 1]);
    for (const event of events) {
      checkEventFields(event, 'image_generation');
      assert.deepEqual([event.size, event.quality, event.output_format], ['1024x1024', 'low', 'png']);
      assert.equal(event.image_index, undefined, 'image_index only when n > 1');
      checkImage(event.b64_json, { width: 1024, height: 1024 });
    }
    assert.notEqual(events[0].b64_json, events[2].b64_json, 'a partial image is not the final one');
  });

  test('partial_images=0: exactly one completed event', async () => {
    const events = await collect(await client.images.generate({
      model: 'gpt-image-1', prompt: PROMPT, stream: true, partial_images: 0, size: '1024x1024', quality: 'low',
    }));
    assert.deepEqual(events.map((e) => e.type), ['image_generation.completed']);
    checkEventFields(events[0], 'image_generation');
    checkImage(events[0].b64_json, { width: 1024, height: 1024 });
  });

  test('n=2: one completed event per image, with image_index 0 and 1', async () => {
    const events = await collect(await client.images.generate({
      model: 'gpt-image-1', prompt: PROMPT, stream: true, n: 2, size: '1024x1024', quality: 'low',
    }));
    const completed = events.filter((e) => e.type === 'image_generation.completed');
    assert.equal(completed.length, 2);
    assert.deepEqual(completed.map((e) => e.image_index).sort(), [0, 1]);
    for (const event of completed) {
      checkEventFields(event, 'image_generation');
      checkImage(event.b64_json, { width: 1024, height: 1024 });
    }
    assert.notEqual(completed[0].b64_json, completed[1].b64_json, 'the two images differ');
  });

  test('an output format other than PNG is streamed in that format', async () => {
    const events = await collect(await client.images.generate({
      model: 'gpt-image-1', prompt: PROMPT, stream: true, partial_images: 1, size: '1536x1024', quality: 'low',
      output_format: 'jpeg',
    }));
    assert.deepEqual(events.map((e) => e.type), ['image_generation.partial_image', 'image_generation.completed']);
    for (const event of events) {
      assert.equal(event.output_format, 'jpeg');
      checkImage(event.b64_json, { format: 'jpeg', width: 1536, height: 1024 });
    }
  });
});

describe('edits', () => {
  test('fs.createReadStream: a chunked body with an application/octet-stream part', async () => {
    const before = sent.length;
    const response = await client.images.edit({
      model: 'gpt-image-1.5', image: createReadStream(SCENE), prompt: PROMPT, quality: 'low',
    });
    const request = sent.slice(before).find((r) => r.url.endsWith('/images/edits'));
    assert.match(request.contentType, /^multipart\/form-data; boundary=openai-/, 'the SDK streams its own form');
    assert.ok(typeof request.body?.getReader === 'function', 'a ReadableStream body, sent chunked');
    assert.equal(response.data.length, 1);
    assert.deepEqual([response.size, response.quality, response.output_format], ['1024x1024', 'low', 'png']);
    assert.ok(response.usage.input_tokens_details.image_tokens > 0, 'the input image counts as input tokens');
    checkImage(response.data[0].b64_json, { width: 1024, height: 1024 });
  });

  test('toFile(buffer, "x.png")', async () => {
    const image = await toFile(readFileSync(SQUARE), 'x.png');
    const response = await client.images.edit({ model: 'gpt-image-1', image, prompt: PROMPT, size: '1024x1024' });
    checkImage(response.data[0].b64_json, { width: 1024, height: 1024 });
  });

  test('an array of two images (image[])', async () => {
    const response = await client.images.edit({
      model: 'gpt-image-1.5', image: [createReadStream(SCENE), await toFile(readFileSync(SQUARE), 'b.png')],
      prompt: PROMPT, n: 2,
    });
    assert.equal(response.data.length, 2);
    for (const image of response.data) checkImage(image.b64_json, { width: 1024, height: 1024 });
  });

  test('with a mask: unmasked pixels are the input, the masked square is repainted', async () => {
    const response = await client.images.edit({
      model: 'gpt-image-1.5', image: createReadStream(SCENE), mask: createReadStream(MASK), prompt: PROMPT,
      size: '1024x1024', quality: 'low',
    });
    const output = decodePng(checkImage(response.data[0].b64_json, { width: 1024, height: 1024 }));
    const input = decodePng(readFileSync(SCENE));
    let keptWrong = 0;
    let changed = 0;
    let inside = 0;
    for (let y = 0; y < 1024; y += 3) {
      for (let x = 0; x < 1024; x += 3) {
        const same = rgb(input, x, y).every((v, i) => v === rgb(output, x, y)[i]);
        if (x >= MASKED.x0 && x < MASKED.x1 && y >= MASKED.y0 && y < MASKED.y1) {
          inside++;
          if (!same) changed++;
        } else if (!same) {
          keptWrong++;
        }
      }
    }
    assert.equal(keptWrong, 0, 'every pixel outside the mask keeps its input value');
    assert.ok(changed > inside / 2, `the masked area should be repainted: ${changed} of ${inside} pixels changed`);
  });

  test('stream: true, partial_images: 1 -> image_edit.partial_image then image_edit.completed', async () => {
    const events = await collect(await client.images.edit({
      model: 'gpt-image-1.5', image: createReadStream(SCENE), prompt: PROMPT, stream: true, partial_images: 1,
      quality: 'low',
    }));
    assert.deepEqual(events.map((e) => e.type), ['image_edit.partial_image', 'image_edit.completed']);
    assert.equal(events[0].partial_image_index, 0);
    for (const event of events) {
      checkEventFields(event, 'image_edit');
      checkImage(event.b64_json, { width: 1024, height: 1024 });
    }
    assert.ok(events[1].usage.input_tokens_details.image_tokens > 0);
  });

  test('a JPEG sent as application/octet-stream is sniffed from its bytes', async () => {
    const image = await toFile(readFileSync(PHOTO), 'upload', { type: 'application/octet-stream' });
    const response = await client.images.edit({ model: 'gpt-image-1', image, prompt: PROMPT, output_format: 'webp' });
    assert.equal(response.size, '1024x1536', 'size auto follows the 2:3 input');
    checkImage(response.data[0].b64_json, { format: 'webp', width: 1024, height: 1536 });
  });

  test('a mask of the wrong size is a BadRequestError on param "mask"', async () => {
    await refused(() => client.images.edit({
      model: 'gpt-image-1.5', image: createReadStream(SCENE), mask: createReadStream(SMALL_MASK), prompt: PROMPT,
    }), OpenAI.BadRequestError, { status: 400, param: 'mask' });
  });
});

describe('variations', () => {
  test('dall-e-2, n=2, 256x256, b64_json', async () => {
    const response = await client.images.createVariation({
      image: createReadStream(SQUARE), model: 'dall-e-2', n: 2, size: '256x256', response_format: 'b64_json',
    });
    assert.ok(Number.isInteger(response.created));
    assert.equal(response.data.length, 2);
    assert.equal(response.usage, undefined, 'dall-e-2 reports no usage');
    for (const image of response.data) {
      assert.equal(image.url, undefined);
      checkImage(image.b64_json, { width: 256, height: 256 });
    }
    assert.notEqual(response.data[0].b64_json, response.data[1].b64_json, 'the two variations differ');
  });

  test('default response_format: urls that download and decode', async () => {
    const response = await client.images.createVariation({ image: createReadStream(SQUARE), size: '512x512' });
    assert.equal(response.data.length, 1);
    const { url, b64_json } = response.data[0];
    assert.equal(b64_json, undefined);
    assert.ok(url.startsWith(`${BASE_URL}/images/files/`), url);
    const download = await fetch(url); // no Authorization header: the signature is the credential
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('content-type'), 'image/png');
    const info = probe(Buffer.from(await download.arrayBuffer()));
    assert.deepEqual([info.format, info.width, info.height], ['png', 512, 512]);
  });

  test('a non-square image is a BadRequestError', async () => {
    await refused(() => client.images.createVariation({ image: createReadStream(WIDE), model: 'dall-e-2' }),
      OpenAI.BadRequestError, { status: 400, param: 'image' });
  });
});

describe('moderation', () => {
  // A blocked prompt: the SDK raises BadRequestError with OpenAI's code, and the extra
  // `moderation_details` reach the user through `error.error`.
  for (const moderation of ['auto', 'low']) {
    test(`moderation=${moderation}: a clearly violent prompt is moderation_blocked`, async () => {
      let error;
      try {
        await client.images.generate({ model: 'gpt-image-1', prompt: 'a decapitated body, gore everywhere', moderation });
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${error}`);
      assert.equal(error.code, 'moderation_blocked');
      assert.equal(error.type, 'image_generation_user_error');
      assert.ok(error.message.includes(error.requestID), 'the message names the request id');
      assert.deepEqual(error.error.moderation_details, { moderation_stage: 'input', categories: ['violence/graphic'] });
    });
  }

  test('a prompt blocked only at auto passes at low', async () => {
    const prompt = 'a gory zombie movie poster';
    await assert.rejects(client.images.generate({ model: 'gpt-image-1', prompt, moderation: 'auto' }),
      (e) => e instanceof OpenAI.BadRequestError && e.code === 'moderation_blocked');
    const response = await client.images.generate({ model: 'gpt-image-1', prompt, moderation: 'low', quality: 'low',
      size: '1024x1024' });
    checkImage(response.data[0].b64_json, { width: 1024, height: 1024 });
  });
});
