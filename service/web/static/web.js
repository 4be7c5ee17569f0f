// The what-if panel updates the score card in place; the portfolio reloads when scored.
"use strict";

function whatIf(form) {
  const slot = document.getElementById("score-card-slot");
  const status = document.getElementById("what-if-status");
  if (!slot) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const query = new URLSearchParams(new FormData(form)).toString();
    status.textContent = status.dataset.busy;
    form.setAttribute("aria-busy", "true");
    try {
      const answer = await fetch(`${form.dataset.fragment}?${query}`, {
        headers: { Accept: "text/html" }, credentials: "same-origin",
      });
      slot.innerHTML = await answer.text();
      history.replaceState(null, "", `${form.action}?${query}`);
      status.textContent = "";
    } catch (error) {
      status.textContent = String(error);
    } finally {
      form.removeAttribute("aria-busy");
    }
  });
}

function reloadWhenScored(section) {
  if (section.dataset.status !== "running") return;
  const poll = async () => {
    try {
      const answer = await fetch(section.dataset.statusUrl, { credentials: "same-origin" });
      const body = await answer.json();
      if (body.status !== "running") { window.location.reload(); return; }
    } catch (error) {
      // Try again at the next tick: the server may be busy scoring.
    }
    window.setTimeout(poll, 1500);
  };
  window.setTimeout(poll, 1500);
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("what-if");
  if (form) whatIf(form);
  const portfolio = document.getElementById("portfolio");
  if (portfolio) reloadWhenScored(portfolio);
});
