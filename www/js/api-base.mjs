// Where the relay API is, seen from a page. The relay serves the pages at its root; inside
// ComfyUI the same pages come through the pack's same-origin proxy under `/rtc/api/`, and
// every API call then goes through that proxy as well.

const PACK_API = "/rtc/api/";

/**
 * API base URL for a page at `pageUrl`. A same-origin `?api=` parameter wins, so a host can
 * point a page elsewhere on its own origin; other origins are ignored.
 * @param {string|URL} pageUrl
 * @returns {string} absolute URL ending in "/"
 */
export function apiBaseForPage(pageUrl) {
  const page = new URL(pageUrl);
  const requested = page.searchParams.get("api");
  if (requested) {
    const candidate = new URL(requested, page);
    if (candidate.origin === page.origin) return withSlash(candidate);
  }
  const at = page.pathname.indexOf(PACK_API);
  if (at >= 0) return new URL(page.pathname.slice(0, at + PACK_API.length), page.origin).href;
  return new URL("/", page.origin).href;
}

function withSlash(url) {
  const copy = new URL(url);
  copy.search = "";
  copy.hash = "";
  if (!copy.pathname.endsWith("/")) copy.pathname += "/";
  return copy.href;
}
