// relay dashboard: live rows over Server-Sent Events, a refreshing deliveries section, copy buttons, local times.
"use strict";

(function () {
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach((el) => {
      const when = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(when.getTime())) return;
      el.title = dateFormat.format(when);
      if (!el.closest(".facts")) el.textContent = timeFormat.format(when);
    });
  }

  function setLive(state, text) {
    const el = document.getElementById("live-status");
    if (!el) return;
    el.dataset.state = state;
    el.textContent = text;
  }

  function liveRows() {
    const body = document.getElementById("event-rows");
    if (!body || !window.EventSource) return;
    const source = new EventSource(body.dataset.stream);
    source.addEventListener("open", () => setLive("live", "live"));
    source.addEventListener("rows", (message) => {
      const known = new Set([...body.querySelectorAll("tr[data-id]")].map((tr) => tr.dataset.id));
      body.innerHTML = message.data;
      body.querySelectorAll("tr[data-id]").forEach((tr) => {
        if (!known.has(tr.dataset.id)) tr.classList.add("fresh");
      });
      localTimes(body);
      setLive("live", "live");
    });
    source.addEventListener("charts", (message) => {
      const charts = document.getElementById("charts");
      if (charts) charts.innerHTML = message.data;
    });
    source.addEventListener("offline", () => setLive("down", "store unavailable, retrying…"));
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused (the session ended): a reload lands on the login form.
        setLive("down", "disconnected");
        window.setTimeout(() => window.location.reload(), 3000);
      } else {
        setLive("connecting", "reconnecting…");
      }
    });
  }

  function rowLinks() {
    const body = document.getElementById("event-rows");
    if (!body) return;
    body.addEventListener("click", (event) => {
      if (event.target.closest("a, button, input, select")) return;
      const link = event.target.closest("tr")?.querySelector("a[href]");
      if (link) window.location.href = link.href;
    });
  }

  function refreshDeliveries() {
    const section = document.getElementById("deliveries");
    if (!section || section.dataset.live !== "true" || document.hidden) {
      window.setTimeout(refreshDeliveries, 1000);
      return;
    }
    fetch(section.dataset.refresh, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then((response) => (response.ok && !response.redirected ? response.text() : null))
      .then((html) => {
        if (html === null) return;
        const next = document.createRange().createContextualFragment(html).getElementById("deliveries");
        if (next && next.innerHTML !== section.innerHTML) {
          section.replaceWith(next);
          localTimes(next);
        }
      })
      .catch(() => {})
      .finally(() => window.setTimeout(refreshDeliveries, 1000));
  }

  function announce(button, text) {
    let status = button.parentElement.querySelector(".copied");
    if (!status) {
      status = document.createElement("span");
      status.className = "copied";
      status.setAttribute("role", "status");
      button.after(status);
    }
    status.textContent = text;
  }

  function copyButtons() {
    document.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-copy]");
      if (!button) return;
      const field = document.getElementById(button.dataset.copy);
      const fallback = () => {
        field.select();
        announce(button, document.execCommand("copy") ? "Copied" : "Press Ctrl+C to copy");
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(() => announce(button, "Copied"), fallback);
      } else {
        fallback();
      }
    });
  }

  function confirmations() {
    document.addEventListener("submit", (event) => {
      const question = event.target.dataset.confirm;
      if (question && !window.confirm(question)) event.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    localTimes(document);
    liveRows();
    rowLinks();
    copyButtons();
    confirmations();
    if (document.getElementById("deliveries")) window.setTimeout(refreshDeliveries, 1000);
  });
})();
