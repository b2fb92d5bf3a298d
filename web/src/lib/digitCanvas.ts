// Turns a drawing (white ink on black) into what an MNIST-style model expects: the ink's
// bounding box scaled into a 20x20 box, centred in a 28x28 black square.
export async function canvasToDigitPng(src: HTMLCanvasElement, size = 28, box = 20): Promise<Blob> {
  const ctx = src.getContext('2d');
  if (!ctx) throw new Error('This browser cannot read the drawing; upload a PNG instead.');
  const { width, height } = src;
  const data = ctx.getImageData(0, 0, width, height).data;
  let minX = width, minY = height, maxX = -1, maxY = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4] > 40) {
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  const out = document.createElement('canvas');
  out.width = size;
  out.height = size;
  const o = out.getContext('2d')!;
  o.fillStyle = '#000';
  o.fillRect(0, 0, size, size);
  if (maxX >= 0) {
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    const scale = box / Math.max(w, h);
    const dw = w * scale;
    const dh = h * scale;
    o.imageSmoothingEnabled = true;
    o.imageSmoothingQuality = 'high';
    o.drawImage(src, minX, minY, w, h, (size - dw) / 2, (size - dh) / 2, dw, dh);
  }
  return new Promise((resolve, reject) =>
    out.toBlob((b) => (b ? resolve(b) : reject(new Error('Could not encode the drawing as PNG.'))), 'image/png'));
}
