// The browser's own JPEG codecs for the agent's compressed frame link (createAgent's `jpeg`
// option, `JpegCodec` in the package's types). Plain JavaScript: the same calls made from the
// wasm package cost more of its size budget than they cost here.

/** @type {OffscreenCanvas | null} */
let canvas = null;

export const jpegCodec = {
  /**
   * Decodes a JPEG (WebCodecs ImageDecoder) into a VideoFrame stamped `timestamp` (µs).
   * @param {Uint8Array} data
   * @param {number} timestamp
   * @returns {Promise<VideoFrame>}
   */
  async decode(data, timestamp) {
    const decoder = new ImageDecoder({ type: "image/jpeg", data });
    try {
      const { image } = await decoder.decode();
      try {
        return new VideoFrame(image, { timestamp });
      } finally {
        image.close();
      }
    } finally {
      decoder.close();
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
