/** Connection state of a broadcast or player (the same names as on the agent socket). */
export type MediaState = "idle" | "connecting" | "live" | "reconnecting" | "ended" | "failed";

/** Connection state of the agent socket. */
export type AgentState = "connecting" | "connected" | "reconnecting" | "closed";

/** Pixel layouts of raw frames: packed RGBA, packed RGB, planar I420. */
export type PixelFormatName = "rgba8" | "rgb8" | "i420";

/** Stable codes of `RtcClientError`. */
export type ErrorCode =
  | "NETWORK_ERROR"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "NOT_READY"
  | "REJECTED"
  | "SERVER_ERROR"
  | "BAD_SDP"
  /** ICE failed before the first connection: this browser cannot reach the media server. */
  | "MEDIA_UNREACHABLE"
  | "UNSUPPORTED"
  | "INVALID_FRAME"
  | "INVALID_OPTIONS"
  | "PROTOCOL_ERROR"
  | "CLOSED";

/** Every error this package throws or emits: an `Error` named `RtcClientError`. */
export interface RtcClientError extends Error {
  name: "RtcClientError";
  code: ErrorCode;
  /** HTTP status when a server answered. */
  status?: number;
}

/** Reconnection policy: exponential backoff from `baseDelayMs`, doubled per attempt. */
export interface ReconnectOptions {
  /** Default true. */
  enabled?: boolean;
  /** Attempts before giving up; 0 (default) retries forever. */
  maxAttempts?: number;
  /** First delay in ms. Default 500. */
  baseDelayMs?: number;
  /** Delay ceiling in ms. Default 10000. */
  maxDelayMs?: number;
}

/** Options of `createBroadcast`. */
export interface BroadcastOptions {
  /** WHIP endpoint URL. */
  whipUrl: string;
  /** Bearer token; no Authorization header when omitted. */
  token?: string;
  /** Frames per second sent; the last frame is repeated at this rate. Default 30. */
  frameRate?: number;
  /** Encoder bitrate ceiling in kbit/s. Default 2500. */
  maxBitrateKbps?: number;
  /** Preferred codec name. Default "h264". */
  codec?: string;
  reconnect?: ReconnectOptions;
  /** Upper bound on ICE gathering before the offer is sent, ms. Default 1000. */
  iceGatheringTimeoutMs?: number;
  /** Track source: MediaStreamTrackGenerator, canvas.captureStream, or auto (default). */
  source?: "auto" | "generator" | "canvas";
}

/** Live changes accepted by `Broadcast.setVideo`. */
export interface VideoSettings {
  frameRate?: number;
  maxBitrateKbps?: number;
}

/** Options of `createPlayer`. */
export interface PlayerOptions {
  /** Bearer token; no Authorization header when omitted. */
  token?: string;
  /** Reconnection policy; also governs retries of 409 "no publisher yet". */
  reconnect?: ReconnectOptions;
  /** Upper bound on ICE gathering before the offer is sent, ms. Default 1000. */
  iceGatheringTimeoutMs?: number;
}

/** Options of `createAgent`. */
export interface AgentOptions {
  /** Base URL of the relay API: "/" standalone (default), "/rtc/api/" through ComfyUI. */
  baseUrl?: string;
  /** Label shown in the relay's UI. Default: the user agent. */
  label?: string;
  /** Take publish leases. Default true. */
  publish?: boolean;
  /**
   * Take a lease only while no other publishing agent is connected, and hand it over when one
   * joins (a headless browser standing in for a tab). Default false.
   */
  fallback?: boolean;
  /** Socket reconnection policy. */
  reconnect?: ReconnectOptions;
  /** Stats report period in ms. Default 1000. */
  statsIntervalMs?: number;
  /** Track source of the publishers. */
  source?: "auto" | "generator" | "canvas";
  /**
   * How frames cross the agent socket. "auto" (default): the relay decides, raw pixels when
   * the browser is on its machine, JPEG when the pack's proxy says it is elsewhere. Always
   * "raw" without `jpeg`.
   */
  link?: "auto" | "raw" | "jpeg";
  /** The page's JPEG codec (`www/js/jpeg.mjs`), needed for a JPEG link. */
  jpeg?: JpegCodec;
}

/** JPEG decoding and encoding for a compressed agent link, done with the browser's codecs. */
export interface JpegCodec {
  /** Decodes `data` into a frame stamped `timestamp` (µs), which the agent then owns. */
  decode(data: Uint8Array, timestamp: number): Promise<VideoFrame>;
  /** Encodes `frame` (still the agent's) at `quality` (0–1). */
  encode(frame: VideoFrame, quality: number): Promise<Blob>;
}

/** Figures from getStats, as reported to the relay (snake_case, as on the socket). */
export interface StreamStats {
  frames?: number;
  frames_dropped?: number;
  /** Player: frames not sent back because the socket still held the previous one. */
  frames_skipped?: number;
  fps?: number;
  bitrate_kbps?: number;
  rtt_ms?: number;
  jitter_buffer_ms?: number;
  encode_ms?: number;
  decode_ms?: number;
  latency_p50_ms?: number;
  latency_p95_ms?: number;
  codec?: string;
  implementation?: string;
  width?: number;
  height?: number;
  quality_limitation?: string;
}

/** Frame counters of a broadcast. */
export interface FrameCounters {
  pushed: number;
  written: number;
  /** Repeats of the last frame while the source was slower than the frame rate. */
  repeated: number;
  /** Frames replaced by a newer one before they were sent. */
  dropped: number;
}

export interface StateChange<S> {
  state: S;
  previous: S;
}

export interface ReconnectEvent {
  attempt: number;
  delayMs: number;
  reason: RtcClientError;
}

/** Events of `Broadcast`. */
export interface BroadcastEvents {
  /** The state changed. */
  stateChange: StateChange<MediaState>;
  /** Something failed; the state tells whether it was fatal. */
  error: RtcClientError;
  /** A reconnect attempt is scheduled. */
  reconnect: ReconnectEvent;
}

/** Events of `Player`. */
export interface PlayerEvents extends BroadcastEvents {
  /**
   * A decoded frame, valid only during the call: the player closes it afterwards. Read with a
   * `MediaStreamTrackProcessor`, or where the browser has none (Firefox, Safari) from a hidden
   * `<video>` on `requestVideoFrameCallback`, which gives few frames while the tab is hidden.
   */
  frame: VideoFrame;
  /**
   * Something failed; the state tells whether it was fatal. Also emitted once, with the
   * connection still up, when frames cannot be read (`UNSUPPORTED`: neither frame API exists).
   */
  error: RtcClientError;
}

/** One stream served by an agent. */
export interface AgentStreamInfo {
  streamId: string;
  streamIndex: number;
  publisher: MediaState;
  player: MediaState | null;
  framesIn: number;
  framesOut: number;
  badFrames: number;
  usesGenerator: boolean;
  pacedByWorker: boolean;
}

/** Events of `Agent`. */
export interface AgentEvents {
  stateChange: StateChange<AgentState>;
  /** Something failed, including a player whose frames do not come back (also told to the relay). */
  error: RtcClientError;
  /** A publisher or player of a stream changed state. */
  stream: { streamId: string; role: "publisher" | "player"; state: MediaState };
  /** The relay revoked a lease or deleted a stream. */
  streamStopped: { streamId: string; reason: string };
  /** Once per period for each publisher and player. */
  stats: { streamId: string; role: "publisher" | "player"; stats: StreamStats };
}

export interface Broadcast {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof BroadcastEvents>(event: K, listener: (payload: BroadcastEvents[K]) => void): () => void;
}

export interface Player {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof PlayerEvents>(event: K, listener: (payload: PlayerEvents[K]) => void): () => void;
}

export interface Agent {
  /** Subscribes to an event; returns the unsubscribe function. */
  on<K extends keyof AgentEvents>(event: K, listener: (payload: AgentEvents[K]) => void): () => void;
}
