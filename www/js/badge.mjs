// The status badge element.

import { h, setText } from "./dom.mjs";

export function createBadge() {
  const label = h("span", { className: "rtc-badge-label" }, "…");
  const element = h(
    "span",
    { className: "rtc-badge rtc-tone-idle", role: "status" },
    h("span", { className: "rtc-dot" }),
    label,
  );
  return {
    element,
    /** @param {{key: string, label: string, tone: string, pulse: boolean, detail: string}} badge */
    update(badge) {
      setText(label, badge.label);
      element.className = `rtc-badge rtc-tone-${badge.tone}${badge.pulse ? " rtc-pulse" : ""}`;
      element.dataset.state = badge.key;
      element.title = badge.detail;
    },
  };
}
