// Hero images for a todo app, generated with the official npm `openai` SDK against Darkroom.
//
//   npm install --prefix examples
//   darkroom serve                       # in another terminal
//   node examples/hero_images.mjs [OUTPUT_DIR]
//
// The only Darkroom-specific thing here is the base URL: the same code runs against OpenAI's API.
// OPENAI_BASE_URL (default http://127.0.0.1:8000/v1) and OPENAI_API_KEY (default "darkroom") choose
// the server; images are written to OUTPUT_DIR (default ./hero-images).

import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import OpenAI from 'openai';

const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL ?? 'http://127.0.0.1:8000/v1',
  apiKey: process.env.OPENAI_API_KEY ?? 'darkroom',
});

const HERO =
  'A cheerful hero image for a todo app: a checklist card with ticked boxes, blue and orange, flat illustration';
const ICON = 'A todo app icon: a single white check mark on an orange rounded square, flat, centred';

// One entry per picture we want: a name for the files, and the Image API parameters for it.
const SHOTS = {
  // Two candidates for the desktop landing page, in the best quality.
  'hero-desktop': { prompt: HERO, size: '1536x1024', quality: 'high', n: 2 },
  // A portrait version for phones, as a JPEG at 85% to keep the page light.
  'hero-mobile': { prompt: HERO, size: '1024x1536', quality: 'medium', output_format: 'jpeg', output_compression: 85 },
  // A quick, small WebP preview for the README.
  'hero-preview': { prompt: HERO, quality: 'low', output_format: 'webp', output_compression: 50 },
  // The app icon, cut out on a transparent background (PNG or WebP keep the alpha channel),
  // with the less restrictive moderation level.
  'app-icon': { prompt: ICON, size: '1024x1024', background: 'transparent', output_format: 'png', moderation: 'low' },
};

const out = process.argv[2] ?? 'hero-images';
mkdirSync(out, { recursive: true });

for (const [name, params] of Object.entries(SHOTS)) {
  const result = await client.images.generate({ model: 'gpt-image-1.5', ...params });

  // GPT image models always answer with base64 data, one entry per image (n).
  for (const [i, image] of result.data.entries()) {
    const path = join(out, `${name}-${i + 1}.${result.output_format}`);
    writeFileSync(path, Buffer.from(image.b64_json, 'base64'));
    const bytes = statSync(path).size.toLocaleString('en-US');
    console.log(`saved ${path} (${result.size}, ${result.quality} quality, ` +
      `${result.background} background, ${bytes} bytes)`);
  }

  if (result.usage) console.log(`  usage: ${result.usage.total_tokens} tokens`); // what the call would cost on OpenAI
}
