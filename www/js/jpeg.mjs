// The browser's own JPEG codecs for the agent's compressed frame link (createAgent's `jpeg`
// option, `JpegCodec` in the package's types). Plain JavaScript: the same calls made from the
// wasm package cost more of its size budget than they cost here.

/** @type {OffscreenCanvas | null} */
let canvas = null;

/**
 * @param {Uint8Array} data
 * @returns {Promise<VideoFrame | ImageBitmap>}
 */
async function decodeImage(data) {
  if (typeof ImageDecoder === "undefined") {
    return createImageBitmap(new Blob([data], { type: "image/jpeg" }));
  }
  const decoder = new ImageDecoder({ type: "image/jpeg", data });
  try {
    return (await decoder.decode()).image;
  } finally {
    decoder.close();
  }
}

export const jpegCodec = {
  /**
   * Decodes a JPEG into a VideoFrame stamped `timestamp` (µs): with WebCodecs' ImageDecoder,
   * or, where the page is not a secure context (ComfyUI opened over plain http from another
   * machine) and it is missing, with createImageBitmap.
   * @param {Uint8Array} data
   * @param {number} timestamp
   * @returns {Promise<VideoFrame>}
   */
  async decode(data, timestamp) {
    const image = await decodeImage(data);
    try {
      return new VideoFrame(image, { timestamp });
    } finally {
      image.close();
    }
  },

  /**
   * Encodes `frame` as a JPEG of `quality` (0–1). The frame stays the caller's.
   * @param {VideoFrame} frame
   * @param {number} quality
   * @returns {Promise<Blob>}
   */
  encode(frame, quality) {
    canvas ??= new OffscreenCanvas(1, 1);
    const { displayWidth: width, displayHeight: height } = frame;
    // Resizing clears the canvas and its context: only when the size changes.
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    /** @type {OffscreenCanvasRenderingContext2D} */ (canvas.getContext("2d")).drawImage(frame, 0, 0);
    // The bitmap is taken when this is called, so one canvas serves every stream.
    return canvas.convertToBlob({ type: "image/jpeg", quality });
  },
};
