// Copy buttons: <button data-copy="text"> puts its text on the clipboard and says so.
// Without the Clipboard API (plain HTTP on a LAN address is not a secure context)
// the text beside the button is selected instead, for Ctrl+C / the context menu.

function selectText(button) {
  const text = button.parentElement.querySelector(".copy-text");
  if (!text) return;
  const range = document.createRange();
  range.selectNodeContents(text);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

function say(button, label) {
  button.textContent = label;
  clearTimeout(button.copyTimer);
  button.copyTimer = setTimeout(() => { button.textContent = "Copy"; }, 1600);
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    say(button, "Copied");
  } catch (_) {
    selectText(button);
    say(button, "Selected");
  }
});
