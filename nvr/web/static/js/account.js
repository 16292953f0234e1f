import { api } from "./api.js";

const form = document.getElementById("password-form");
const result = document.getElementById("password-result");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  result.textContent = "";
  result.className = "";
  try {
    await api("/api/me/password", {
      method: "POST",
      body: {
        current_password: document.getElementById("current").value,
        new_password: document.getElementById("new").value,
      },
    });
    form.reset();
    result.textContent = "Password changed. Your other sessions were signed out.";
    result.className = "ok-text";
  } catch (err) {
    result.textContent = err.message;
    result.className = "error-text";
  }
});
