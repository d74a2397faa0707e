// Frame sources for the studio: an animated test pattern, the camera or a video file, drawn
// into a canvas at the stream's size.

const BARS = ["#c0c0c0", "#c0c000", "#00c0c0", "#00c000", "#c000c0", "#c00000", "#0000c0"];

/** Draws test pattern frame number `n` (moving bars, a sweeping disc, the frame number). */
export function drawTestPattern(ctx, width, height, n) {
  const barWidth = width / BARS.length;
  const shift = (n * 2) % width;
  for (const [i, colour] of BARS.entries()) {
    ctx.fillStyle = colour;
    const x = (i * barWidth + shift) % width;
    ctx.fillRect(x, 0, barWidth + 1, height);
    if (x + barWidth > width) ctx.fillRect(x - width, 0, barWidth + 1, height);
  }
  const angle = (n / 60) * Math.PI * 2;
  ctx.fillStyle = "#ffffff";
  ctx.beginPath();
  ctx.arc(
    width / 2 + Math.cos(angle) * width * 0.3,
    height / 2 + Math.sin(angle) * height * 0.3,
    Math.min(width, height) * 0.08,
    0,
    Math.PI * 2,
  );
  ctx.fill();
  ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
  ctx.fillRect(0, height - 32, width, 32);
  ctx.fillStyle = "#ffffff";
  ctx.font = "bold 20px monospace";
  ctx.fillText(`frame ${n}`, 10, height - 10);
}

/** Draws the current picture of `video` so that it covers the target, cropped to its aspect ratio. */
function drawCover(ctx, video, width, height) {
  const scale = Math.max(width / video.videoWidth, height / video.videoHeight);
  const w = width / scale;
  const h = height / scale;
  ctx.drawImage(video, (video.videoWidth - w) / 2, (video.videoHeight - h) / 2, w, h, 0, 0, width, height);
}

/** Plays `file` muted in a detached video element; a file the browser cannot play is refused. */
async function openFile(file, loop) {
  if (!file) throw new Error("Choose a video file first.");
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.loop = loop;
  video.src = url;
  try {
    await video.play();
  } catch (err) {
    URL.revokeObjectURL(url);
    throw new Error(`This browser cannot play ${file.name}: ${err.message}`);
  }
  return {
    draw: (ctx, width, height) => drawCover(ctx, video, width, height),
    ended: () => video.ended,
    stop() {
      video.pause();
      video.removeAttribute("src");
      URL.revokeObjectURL(url);
    },
  };
}

/**
 * @typedef {object} Source
 * @property {(ctx: CanvasRenderingContext2D, width: number, height: number, n: number) => void} draw
 * @property {() => boolean} ended whether a source that ends (a file played once) has ended
 * @property {() => void} stop
 */

/**
 * @param {"pattern"|"camera"|"file"} kind
 * @param {{file?: File | null, loop?: boolean}} [options] the video file and whether it loops
 * @returns {Promise<Source>}
 */
export async function openSource(kind, { file = null, loop = false } = {}) {
  if (kind === "pattern") return { draw: drawTestPattern, ended: () => false, stop() {} };
  if (kind === "file") return openFile(file, loop);
  if (!navigator.mediaDevices?.getUserMedia)
    throw new Error("This browser has no camera access here (it needs https or localhost).");
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play();
  return {
    draw: (ctx, width, height) => drawCover(ctx, video, width, height),
    ended: () => false,
    stop() {
      for (const track of stream.getTracks()) track.stop();
      video.srcObject = null;
    },
  };
}
