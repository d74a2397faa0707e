// What the ComfyUI entry module (comfy_extension/web/main.js) loads lazily, in one import.

export { apiBaseForPage } from "./api-base.mjs";
export { createCredentialsPanel } from "./credentials-panel.mjs";
export { createLiveState } from "./live.mjs";
export { loadPackage, startAgent } from "./media.mjs";
export { createRelayClient } from "./relay-client.mjs";
export { describeRelayStatus, isNewRelayStatus, mountRelayStatus } from "./relay-status.mjs";
export { mountSidebar } from "./sidebar.mjs";
export { describeStream } from "./status.mjs";
export { selectStream } from "./stream-store.mjs";
export { streamToasts, toastFromServerEvent } from "./toasts.mjs";
