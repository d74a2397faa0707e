// Marked synthetic frames for latency runs. The markers (16 black/white blocks in the top band
// carrying a 16-bit frame number) are the wasm package's own drawMarker/readMarker, so every
// page here measures with exactly what the product uses.
import init, { drawMarker, readMarker } from "/pkg/rtc_client.js";

export const ready = init();
const BITS = 16;

/** Draws a frame: a moving gradient (so the encoder has real work) and the marker band. */
function drawFrame(ctx, width, height, id) {
  const t = id % 256;
  const gradient = ctx.createLinearGradient(0, 0, width, height);
  gradient.addColorStop(0, `rgb(${t}, 80, ${255 - t})`);
  gradient.addColorStop(1, `rgb(40, ${(t * 3) % 256}, 120)`);
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, width, height);
  const band = ctx.getImageData(0, 0, width, Math.floor(width / BITS));
  drawMarker(band.data, width, band.height, 4, id);
  ctx.putImageData(band, 0, 0);
}

/** Sink helper: decodes the marker of a received VideoFrame (drawn at the source size). */
export function markerReader(width, height) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  const side = Math.floor(width / BITS);
  return (frame) => {
    ctx.drawImage(frame, 0, 0, width, height);
    return readMarker(ctx.getImageData(0, 0, width, side).data, width, side, 4);
  };
}

/** Source helper: paced marked VideoFrames handed to `push`, which takes ownership. */
export function markedSource({ width, height, fps, push, onSend }) {
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  let id = 0;
  const timer = setInterval(() => {
    drawFrame(ctx, width, height, id & 0xffff);
    const now = performance.now();
    onSend(id & 0xffff, now);
    push(new VideoFrame(canvas, { timestamp: Math.round(now * 1000) }));
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
      out.frames_encoded = s.framesEncoded;
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
      out.frames_received = s.framesReceived;
      out.frames_decoded = s.framesDecoded;
      out.frames_dropped = s.framesDropped;
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
      if (id === undefined) return;
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
