// Frame-number markers: 16 black/white blocks across the top of the frame carry a 16-bit id
// that survives H.264 at ordinary bitrates, so the receiver can tell which frame it got.
export const BITS = 16;

/** Draws a frame: a moving gradient (so the encoder has real work) and the marker row. */
export function drawFrame(ctx, width, height, id) {
  const t = id % 256;
  const gradient = ctx.createLinearGradient(0, 0, width, height);
  gradient.addColorStop(0, `rgb(${t}, 80, ${255 - t})`);
  gradient.addColorStop(1, `rgb(40, ${(t * 3) % 256}, 120)`);
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, width, height);
  const block = Math.floor(width / BITS);
  for (let bit = 0; bit < BITS; bit++) {
    ctx.fillStyle = (id >> bit) & 1 ? "#fff" : "#000";
    ctx.fillRect(bit * block, 0, block, block);
  }
}

/** Reads the id back from RGBA pixels of the top `block` rows (row stride = width * 4). */
export function readMarker(rgba, width) {
  const block = Math.floor(width / BITS);
  const y = Math.floor(block / 2);
  let id = 0;
  for (let bit = 0; bit < BITS; bit++) {
    const x = bit * block + Math.floor(block / 2);
    const i = (y * width + x) * 4;
    const luma = 0.299 * rgba[i] + 0.587 * rgba[i + 1] + 0.114 * rgba[i + 2];
    if (luma > 127) id |= 1 << bit;
  }
  return id;
}

/** Sink helper: decodes the marker of a received VideoFrame (drawn at the source size). */
export function markerReader(width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const block = Math.floor(width / BITS);
  return (frame) => {
    ctx.drawImage(frame, 0, 0, width, height);
    return readMarker(ctx.getImageData(0, 0, width, block).data, width);
  };
}

/** Source helper: a paced generator of marked VideoFrames written to a track writer. */
export function markedSource({ width, height, fps, writer, onSend }) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d");
  let id = 0;
  const timer = setInterval(() => {
    drawFrame(ctx, width, height, id & 0xffff);
    const now = performance.now();
    const frame = new VideoFrame(canvas, { timestamp: Math.round(now * 1000) });
    onSend(id & 0xffff, now);
    writer.write(frame).finally(() => frame.close());
    id++;
  }, 1000 / fps);
  return () => clearInterval(timer);
}

/** Reads the getStats fields that break glass-to-glass latency down, per frame, in ms. */
export async function latencyBreakdown(sender, receiver) {
  const out = {};
  for (const s of (await sender.getStats()).values()) {
    if (s.type === "outbound-rtp" && s.kind === "video" && s.framesEncoded) {
      out.encode_ms = (s.totalEncodeTime / s.framesEncoded) * 1000;
      out.pacer_ms = s.packetsSent ? (s.totalPacketSendDelay / s.packetsSent) * 1000 : undefined;
      out.encoder = s.encoderImplementation;
    }
  }
  for (const s of (await receiver.getStats()).values()) {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded) {
      out.jitter_buffer_ms = s.jitterBufferEmittedCount
        ? (s.jitterBufferDelay / s.jitterBufferEmittedCount) * 1000
        : undefined;
      out.decode_ms = (s.totalDecodeTime / s.framesDecoded) * 1000;
      out.processing_ms = (s.totalProcessingDelay / s.framesDecoded) * 1000;
      out.decoder = s.decoderImplementation;
    }
  }
  return out;
}

/** Latency collector: matches received ids against send times, ignoring a warm-up period. */
export function latencyCollector(warmupMs) {
  const sent = new Map();
  const latencies = [];
  let start = null;
  let received = 0;
  let counted = 0;
  return {
    onSend(id, t) {
      start ??= t;
      sent.set(id, t);
      if (t - start >= warmupMs) counted++;
    },
    onReceive(id, t) {
      const t0 = sent.get(id);
      if (t0 === undefined) return;
      sent.delete(id);
      received++;
      if (t0 - start >= warmupMs) latencies.push(t - t0);
    },
    result() {
      return { latencies, sent: counted, received: latencies.length, totalReceived: received };
    },
  };
}
