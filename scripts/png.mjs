// A minimal PNG writer (8-bit RGB) for the demo's pictures.
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Writes `rgb` (`width × height × 3` bytes) to `path` as a PNG. */
export function writePng(path, rgb, width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  // Every row with the "Up" filter (difference to the row above): flat areas deflate well.
  const stride = width * 3;
  const rows = Buffer.alloc((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    const at = y * (stride + 1);
    rows[at] = 2;
    for (let x = 0; x < stride; x++) {
      const above = y > 0 ? rgb[(y - 1) * stride + x] : 0;
      rows[at + 1 + x] = (rgb[y * stride + x] - above) & 0xff;
    }
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  writeFileSync(
    path,
    Buffer.concat([
      signature,
      chunk("IHDR", header),
      chunk("IDAT", deflateSync(rows, { level: 9 })),
      chunk("IEND", Buffer.alloc(0)),
    ]),
  );
}

/** Tiles equally sized RGB pictures into a grid of `columns`, with a `gap` of dark pixels. */
export function tile(pictures, width, height, columns, gap = 8) {
  const rows = Math.ceil(pictures.length / columns);
  const outWidth = columns * width + (columns + 1) * gap;
  const outHeight = rows * height + (rows + 1) * gap;
  const out = new Uint8Array(outWidth * outHeight * 3).fill(24);
  pictures.forEach((picture, index) => {
    const x0 = gap + (index % columns) * (width + gap);
    const y0 = gap + Math.floor(index / columns) * (height + gap);
    for (let y = 0; y < height; y++) {
      out.set(picture.subarray(y * width * 3, (y + 1) * width * 3), ((y0 + y) * outWidth + x0) * 3);
    }
  });
  return { pixels: out, width: outWidth, height: outHeight };
}
