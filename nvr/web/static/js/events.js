// The Events page works without this script (a GET form, server-rendered cards).
// It adds: the browser's time zone (the Recordings pages' script: a cookie, once),
// filters that apply as soon as one changes, and the placeholder in place of a
// snapshot that fails to load (its file removed by retention, say).

import "./recordings.js";

const form = document.getElementById("ev-filters");
if (form) {
  form.classList.add("is-auto");
  for (const field of form.querySelectorAll("select, input[type=date]")) {
    field.addEventListener("change", () => {
      // an empty field is left out of the URL: /events?camera=front, not ...&type=&zone=
      for (const other of form.elements) {
        if (other.name && other.value === "") other.disabled = true;
      }
      form.submit();
    });
  }
  // back to this page from the next one: the fields left out above are wanted again
  addEventListener("pageshow", () => {
    for (const field of form.elements) field.disabled = false;
  });
}

for (const img of document.querySelectorAll(".ev-thumb img")) {
  const fallback = () => img.remove();
  if (img.complete && img.naturalWidth === 0) fallback();
  else img.addEventListener("error", fallback, { once: true });
}
