// Just enough image decoding for the Node tests, with no dependency beyond node:zlib.
//
// `probe(bytes)` reads format, width, height and whether the image can carry alpha from the headers of
// PNG (IHDR), JPEG (SOF markers) and WebP (VP8 / VP8L / VP8X). `pngAlphaCounts(bytes)` fully decodes an
// 8-bit, non-interlaced PNG (RGBA, RGB, grey or grey+alpha) and counts the pixels whose alpha is 0 and 255.

import { inflateSync } from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** @returns {{format: 'png'|'jpeg'|'webp', width: number, height: number, alpha: boolean}} */
export function probe(bytes) {
  const buf = Buffer.from(bytes);
  if (buf.subarray(0, 8).equals(PNG_SIGNATURE)) return probePng(buf);
  if (buf[0] === 0xff && buf[1] === 0xd8) return probeJpeg(buf);
  if (buf.toString('latin1', 0, 4) === 'RIFF' && buf.toString('latin1', 8, 12) === 'WEBP') return probeWebp(buf);
  throw new Error(`not a PNG, JPEG or WebP image (first bytes ${buf.subarray(0, 12).toString('hex')})`);
}

// ---------------------------------------------------------------------------------------------- PNG

/** Splits a PNG into its chunks: [{type, data}], checking the signature and that IHDR comes first. */
function pngChunks(buf) {
  if (!buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG');
  const chunks = [];
  let pos = 8;
  while (pos + 8 <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (pos + 12 + length > buf.length) throw new Error(`PNG chunk ${type} runs past the end of the file`);
    chunks.push({ type, data: buf.subarray(pos + 8, pos + 8 + length) });
    pos += 12 + length; // length + type + data + CRC
    if (type === 'IEND') break;
  }
  if (chunks[0]?.type !== 'IHDR') throw new Error('PNG does not start with IHDR');
  if (chunks.at(-1).type !== 'IEND') throw new Error('PNG has no IEND chunk');
  return chunks;
}

function readIhdr(data) {
  return {
    width: data.readUInt32BE(0),
    height: data.readUInt32BE(4),
    bitDepth: data[8],
    colourType: data[9], // 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA
    interlace: data[12],
  };
}

function probePng(buf) {
  const chunks = pngChunks(buf);
  const ihdr = readIhdr(chunks[0].data);
  const hasTrns = chunks.some((c) => c.type === 'tRNS');
  return {
    format: 'png',
    width: ihdr.width,
    height: ihdr.height,
    alpha: ihdr.colourType === 4 || ihdr.colourType === 6 || hasTrns,
    colourType: ihdr.colourType,
  };
}

const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };

/** Decodes the pixels of an 8-bit PNG and returns {width, height, channels, pixels} (unfiltered rows). */
export function decodePng(bytes) {
  const chunks = pngChunks(Buffer.from(bytes));
  const { width, height, bitDepth, colourType, interlace } = readIhdr(chunks[0].data);
  const channels = CHANNELS[colourType];
  if (bitDepth !== 8 || !channels) throw new Error(`unsupported PNG: bit depth ${bitDepth}, colour type ${colourType}`);
  if (interlace !== 0) throw new Error('unsupported PNG: interlaced');
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) {
    throw new Error(`PNG data is ${raw.length} bytes, expected ${height * (stride + 1)}`);
  }
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels] : 0; // left
      const b = prev ? prev[x] : 0; // up
      const c = prev && x >= channels ? prev[x - channels] : 0; // up-left
      let predictor;
      switch (filter) {
        case 0: predictor = 0; break;
        case 1: predictor = a; break;
        case 2: predictor = b; break;
        case 3: predictor = (a + b) >> 1; break;
        case 4: predictor = paeth(a, b, c); break;
        default: throw new Error(`PNG row ${y} has unknown filter type ${filter}`);
      }
      out[x] = (line[x] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/** Counts the fully transparent (alpha 0) and fully opaque (alpha 255) pixels of an 8-bit PNG. */
export function pngAlphaCounts(bytes) {
  const { width, height, channels, pixels } = decodePng(bytes);
  if (channels !== 2 && channels !== 4) return { transparent: 0, opaque: width * height }; // no alpha channel
  let transparent = 0;
  let opaque = 0;
  for (let i = channels - 1; i < pixels.length; i += channels) {
    if (pixels[i] === 0) transparent++;
    else if (pixels[i] === 255) opaque++;
  }
  return { transparent, opaque };
}

// --------------------------------------------------------------------------------------------- JPEG

function probeJpeg(buf) {
  let pos = 2;
  while (pos + 4 <= buf.length) {
    if (buf[pos] !== 0xff) throw new Error(`JPEG: expected a marker at byte ${pos}`);
    const marker = buf[pos + 1];
    if (marker === 0xff) { pos++; continue; } // fill byte
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; }
    if (marker === 0xd9 || marker === 0xda) break; // end of image / start of scan before any frame header
    const length = buf.readUInt16BE(pos + 2);
    // SOF0 baseline, SOF1 extended, SOF2 progressive (the ones any encoder here would write).
    if (marker === 0xc0 || marker === 0xc1 || marker === 0xc2) {
      return {
        format: 'jpeg',
        height: buf.readUInt16BE(pos + 5),
        width: buf.readUInt16BE(pos + 7),
        alpha: false,
        components: buf[pos + 9],
      };
    }
    pos += 2 + length;
  }
  throw new Error('JPEG has no SOF0/SOF1/SOF2 frame header');
}

// --------------------------------------------------------------------------------------------- WebP

function probeWebp(buf) {
  const chunk = buf.toString('latin1', 12, 16);
  const data = buf.subarray(20);
  if (chunk === 'VP8 ') { // lossy: 3-byte frame tag, start code 9d 01 2a, then 14-bit width and height
    if (data[3] !== 0x9d || data[4] !== 0x01 || data[5] !== 0x2a) throw new Error('WebP VP8: bad start code');
    return {
      format: 'webp', lossless: false, alpha: false,
      width: data.readUInt16LE(6) & 0x3fff,
      height: data.readUInt16LE(8) & 0x3fff,
    };
  }
  if (chunk === 'VP8L') { // lossless: signature 0x2f, then 14 bits width-1, 14 bits height-1, 1 bit alpha
    if (data[0] !== 0x2f) throw new Error('WebP VP8L: bad signature');
    const bits = data.readUInt32LE(1);
    return {
      format: 'webp', lossless: true,
      width: (bits & 0x3fff) + 1,
      height: ((bits >>> 14) & 0x3fff) + 1,
      alpha: Boolean((bits >>> 28) & 1),
    };
  }
  if (chunk === 'VP8X') { // extended: flags, 3 reserved bytes, 24-bit canvas width-1 and height-1
    return {
      format: 'webp', lossless: undefined,
      alpha: Boolean(data[0] & 0x10),
      width: data.readUIntLE(4, 3) + 1,
      height: data.readUIntLE(7, 3) + 1,
    };
  }
  throw new Error(`WebP: unknown first chunk ${JSON.stringify(chunk)}`);
}
