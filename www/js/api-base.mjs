// Where the relay API is, seen from a page. The relay serves the pages at its root, next to its
// API. Inside ComfyUI the pack serves the same pages itself under `/rtc/ui/` and every API call
// goes through its same-origin proxy `/rtc/api/`, beside it under the same (possibly
// prefixed) root.

const PACK_API = "/rtc/api/";
const PACK_PAGES = [PACK_API, "/rtc/ui/"];

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
  for (const prefix of PACK_PAGES) {
    const at = page.pathname.indexOf(prefix);
    if (at >= 0) return new URL(page.pathname.slice(0, at) + PACK_API, page.origin).href;
  }
  return new URL("/", page.origin).href;
}

function withSlash(url) {
  const copy = new URL(url);
  copy.search = "";
  copy.hash = "";
  if (!copy.pathname.endsWith("/")) copy.pathname += "/";
  return copy.href;
}
