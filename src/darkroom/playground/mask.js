// mask.js: the image to edit and the mask painted over it.
// Two canvases at the image's own size, stacked and scaled together by CSS: the image, and the strokes
// (opaque where painted, shown translucent). The mask sent with an edit follows OpenAI's meaning: a PNG
// of the image's size whose transparent pixels mark the area to edit, opaque everywhere else.

export class MaskPainter {
  constructor(imageCanvas, maskCanvas, brush) {
    this.imageCanvas = imageCanvas;
    this.maskCanvas = maskCanvas;
    this.brush = brush;
    this.erasing = false;
    this.painted = false;
    this.last = null;
    this.source = null; // {blob, width, height, type}
    maskCanvas.addEventListener("pointerdown", (e) => this.#down(e));
    maskCanvas.addEventListener("pointermove", (e) => this.#move(e));
    for (const name of ["pointerup", "pointercancel", "pointerleave"]) {
      maskCanvas.addEventListener(name, () => this.#up());
    }
  }

  // Show `blob` (an image file) to be edited; the mask starts empty.
  async load(blob) {
    const bitmap = await createImageBitmap(blob);
    for (const canvas of [this.imageCanvas, this.maskCanvas]) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    this.imageCanvas.getContext("2d").drawImage(bitmap, 0, 0);
    this.source = { blob, width: bitmap.width, height: bitmap.height, type: blob.type };
    bitmap.close();
    this.clear();
  }

  clear() {
    this.maskCanvas.getContext("2d").clearRect(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    this.painted = false;
  }

  // The mask as a PNG with alpha (opaque: keep; transparent: edit), or null when nothing is painted.
  async maskBlob() {
    if (!this.painted) return null;
    const out = document.createElement("canvas");
    out.width = this.maskCanvas.width;
    out.height = this.maskCanvas.height;
    const context = out.getContext("2d");
    context.fillStyle = "#000";
    context.fillRect(0, 0, out.width, out.height);
    context.globalCompositeOperation = "destination-out"; // painted strokes cut holes
    context.drawImage(this.maskCanvas, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }

  // The image re-encoded as PNG (dall-e-2 edits and variations take PNG only).
  async pngBlob() {
    if (this.source.type === "image/png") return this.source.blob;
    return new Promise((resolve) => this.imageCanvas.toBlob(resolve, "image/png"));
  }

  #point(event) {
    const rect = this.maskCanvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) / rect.width) * this.maskCanvas.width,
      y: ((event.clientY - rect.top) / rect.height) * this.maskCanvas.height,
    };
  }

  #down(event) {
    if (!this.source) return;
    event.preventDefault();
    this.maskCanvas.setPointerCapture?.(event.pointerId);
    this.last = this.#point(event);
    this.#stroke(this.last, this.last);
  }

  #move(event) {
    if (!this.last || !(event.buttons & 1)) return;
    const point = this.#point(event);
    this.#stroke(this.last, point);
    this.last = point;
  }

  #stroke(from, to) {
    const context = this.maskCanvas.getContext("2d");
    context.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
    context.strokeStyle = "#ff3b6b";
    context.lineCap = "round";
    context.lineJoin = "round";
    context.lineWidth = Number(this.brush.value);
    context.beginPath();
    context.moveTo(from.x, from.y);
    context.lineTo(to.x + 0.01, to.y); // a dot when from == to
    context.stroke();
    if (!this.erasing) this.painted = true;
  }

  #up() {
    if (this.last && this.erasing) this.painted = this.#anyPaint(); // erased everything?
    this.last = null;
  }

  #anyPaint() {
    const { data } = this.maskCanvas.getContext("2d").getImageData(0, 0, this.maskCanvas.width, this.maskCanvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i]) return true;
    return false;
  }
}
