// The Recordings pages are rendered in one time zone: ?tz=, else the nvr_tz cookie,
// else UTC. This tells the server the browser's zone once (a cookie for a year)
// and reloads when the page was rendered in another one. No reload when the page
// was asked for in a zone (?tz=), or when the server got the cookie and still
// chose another zone (it does not know the browser's: no reload loop).

const root = document.getElementById("rec-root");
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

if (root && zone && root.dataset.tzSource !== "query" && root.dataset.tz !== zone
    && root.dataset.tzCookie !== zone) {
  document.cookie = `nvr_tz=${encodeURIComponent(zone)}; path=/; max-age=31536000; samesite=lax`;
  location.reload();
}
