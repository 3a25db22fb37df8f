// Darkroom as a gateway, with the official npm `openai` SDK: a live gateway whose models (engine = "upstream")
// are served by a live Darkroom upstream. Each request is made twice with the same `seed`, through the gateway
// and to the upstream directly, and the images must be the same bytes: the gateway passes the upstream's
// answer through (JSON body byte for byte, streams event by event). `.withResponse()` shows the gateway's headers.
//
// Run by tests/test_sdk_node_gateway.py, which starts both servers, writes the input images with Pillow and sets:
//   DARKROOM_GATEWAY_URL, DARKROOM_GATEWAY_KEY    the gateway's /v1 URL and a key it accepts
//   DARKROOM_UPSTREAM_URL, DARKROOM_UPSTREAM_KEY  the upstream's, to ask it directly
//   DARKROOM_FIXTURES                             the folder of input images (tests/test_sdk_node.py's)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import OpenAI, { toFile } from 'openai';

import { decodePng, probe } from './decode.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name}; tests/test_sdk_node_gateway.py does this`);
  return value;
};

const via = new OpenAI({ baseURL: env('DARKROOM_GATEWAY_URL'), apiKey: env('DARKROOM_GATEWAY_KEY'), maxRetries: 0 });
const direct = new OpenAI({ baseURL: env('DARKROOM_UPSTREAM_URL'), apiKey: env('DARKROOM_UPSTREAM_KEY'), maxRetries: 0 });
const FIXTURES = env('DARKROOM_FIXTURES');
const SCENE = join(FIXTURES, 'scene.png'); // 1024x1024 RGB
const MASK = join(FIXTURES, 'mask.png'); // 1024x1024 RGBA, alpha 0 inside MASKED
const SQUARE = join(FIXTURES, 'square.png'); // 256x256 RGB
const MASKED = { x0: 256, y0: 256, x1: 768, y1: 768 };

const HERO = 'A cheerful hero image for a todo app: a checklist card, blue and orange, flat illustration';

/** Decodes a data[].b64_json (or an event's) and checks format and size; returns the bytes. */
function checkImage(b64, format, width, height) {
  assert.match(b64, /^[A-Za-z0-9+/]*={0,2}$/, 'standard base64');
  const bytes = Buffer.from(b64, 'base64');
  const info = probe(bytes);
  assert.deepEqual([info.format, info.width, info.height], [format, width, height]);
  return bytes;
}

/** The gateway's own headers on a response it served from the upstream model `model`. */
function checkGatewayHeaders(response, model) {
  assert.equal(response.headers.get('x-darkroom-served-by'), model);
  const upstreamId = response.headers.get('x-darkroom-upstream-request-id') ?? '';
  assert.match(upstreamId, /^req_/, 'the upstream request id');
  assert.notEqual(response.headers.get('x-request-id'), upstreamId, 'the gateway has its own request id');
}

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

const files = async () => ({
  image: await toFile(readFileSync(SCENE), 'scene.png', { type: 'image/png' }),
  mask: await toFile(readFileSync(MASK), 'mask.png', { type: 'image/png' }),
});

describe('through the gateway, the upstream\'s own images', () => {
  test('seed scenario: hero images for a todo app (n=2, 1536x1024, high, webp 80)', async () => {
    const request = {
      model: 'gpt-image-1', prompt: HERO, n: 2, size: '1536x1024', quality: 'high', output_format: 'webp',
      output_compression: 80, seed: 4242,
    };
    const { data: ours, response } = await via.images.generate(request).withResponse();
    checkGatewayHeaders(response, 'gpt-image-1');
    assert.match(response.headers.get('x-darkroom-cost-usd') ?? '', /^\d+\.\d{6}$/);
    assert.equal(ours.data.length, 2);
    for (const image of ours.data) checkImage(image.b64_json, 'webp', 1536, 1024);
    assert.notEqual(ours.data[0].b64_json, ours.data[1].b64_json, 'the two images differ');
    assert.deepEqual([ours.size, ours.quality, ours.output_format], ['1536x1024', 'high', 'webp']);

    const theirs = await direct.images.generate(request);
    assert.deepEqual(ours.data.map((d) => d.b64_json), theirs.data.map((d) => d.b64_json));
    assert.deepEqual(ours.usage, theirs.usage, 'usage comes from the upstream');
  });

  test('an edit with a mask (multipart, toFile): the same bytes, unmasked pixels kept', async () => {
    const request = { model: 'gpt-image-1', prompt: 'Put a bright sun in the sky', size: '1024x1024', quality: 'low',
      seed: 5 };
    const { data: ours, response } = await via.images.edit({ ...request, ...(await files()) }).withResponse();
    checkGatewayHeaders(response, 'gpt-image-1');
    const theirs = await direct.images.edit({ ...request, ...(await files()) });
    assert.equal(ours.data[0].b64_json, theirs.data[0].b64_json);

    const output = decodePng(checkImage(ours.data[0].b64_json, 'png', 1024, 1024));
    const input = decodePng(readFileSync(SCENE));
    let keptWrong = 0;
    for (let y = 0; y < 1024; y += 4) {
      for (let x = 0; x < 1024; x += 4) {
        if (x >= MASKED.x0 && x < MASKED.x1 && y >= MASKED.y0 && y < MASKED.y1) continue;
        for (let c = 0; c < 3; c++) {
          if (output.pixels[(y * 1024 + x) * output.channels + c] !== input.pixels[(y * 1024 + x) * input.channels + c]) {
            keptWrong++;
          }
        }
      }
    }
    assert.equal(keptWrong, 0, 'outside the mask, every pixel keeps its input value');
    assert.ok(ours.usage.input_tokens_details.image_tokens > 0, 'the input image counts as input tokens');
  });

  test('a variation (dall-e-2 upstream model), b64_json: the same bytes', async () => {
    const request = { model: 'dall-e-2', size: '256x256', response_format: 'b64_json', seed: 3 };
    const { data: ours, response } = await via.images.createVariation({
      ...request, image: await toFile(readFileSync(SQUARE), 'square.png', { type: 'image/png' }),
    }).withResponse();
    checkGatewayHeaders(response, 'dall-e-2');
    const theirs = await direct.images.createVariation({
      ...request, image: await toFile(readFileSync(SQUARE), 'square.png', { type: 'image/png' }),
    });
    checkImage(ours.data[0].b64_json, 'png', 256, 256);
    assert.equal(ours.data[0].b64_json, theirs.data[0].b64_json);
    assert.equal(ours.usage, undefined, 'dall-e-2 reports no usage');
  });

  test('a variation as a url: the gateway\'s own link, the same image', async () => {
    const image = () => toFile(readFileSync(SQUARE), 'square.png', { type: 'image/png' });
    const ours = await via.images.createVariation({ model: 'dall-e-2', size: '256x256', seed: 3, image: await image() });
    const { url, b64_json } = ours.data[0];
    assert.equal(b64_json, undefined);
    assert.ok(url.startsWith(`${env('DARKROOM_GATEWAY_URL')}/images/files/`), url);
    assert.ok(!url.startsWith(env('DARKROOM_UPSTREAM_URL')), 'never the upstream\'s link');
    const download = await fetch(url); // no Authorization header: the signature is the credential
    assert.equal(download.status, 200);
    const theirs = await direct.images.createVariation({
      model: 'dall-e-2', size: '256x256', seed: 3, response_format: 'b64_json', image: await image(),
    });
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), Buffer.from(theirs.data[0].b64_json, 'base64'));
  });

  test('a stream with partial_images: 2: two partial events, one completed, relayed as they were', async () => {
    const request = { model: 'gpt-image-1', prompt: HERO, size: '1024x1024', quality: 'low', stream: true,
      partial_images: 2, seed: 11 };
    const { data: stream, response } = await via.images.generate(request).withResponse();
    checkGatewayHeaders(response, 'gpt-image-1');
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const ours = await collect(stream);
    const partials = ours.filter((e) => e.type === 'image_generation.partial_image');
    const completed = ours.filter((e) => e.type === 'image_generation.completed');
    assert.equal(partials.length, 2);
    assert.equal(completed.length, 1);
    assert.equal(ours.length, 3, 'nothing else in the stream');
    assert.equal(ours.at(-1).type, 'image_generation.completed', 'the completed event comes last');
    assert.deepEqual(partials.map((e) => e.partial_image_index), [0, 1]);
    for (const event of ours) checkImage(event.b64_json, 'png', 1024, 1024);
    assert.ok(completed[0].usage.output_tokens > 0);

    const theirs = await collect(await direct.images.generate(request));
    assert.deepEqual(ours.map((e) => [e.type, e.b64_json]), theirs.map((e) => [e.type, e.b64_json]));
    assert.deepEqual(completed[0].usage, theirs.at(-1).usage);
  });
});
