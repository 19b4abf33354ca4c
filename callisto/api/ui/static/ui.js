// Callisto inspector: refresh a page's live part in place, from a run's events or on a timer.
"use strict";

(function () {
  const live = document.getElementById("live");
  if (!live) return;
  const src = live.dataset.src;
  let refreshing = false;
  let again = false;

  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      const response = await fetch(src, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) live.innerHTML = await response.text();
    } finally {
      refreshing = false;
      if (again) { again = false; refresh(); }
    }
  }

  let timer = null;
  function soon() {
    if (timer === null) timer = setTimeout(function () { timer = null; refresh(); }, 100);
  }

  const events = live.dataset.events;
  if (events) {
    const state = document.getElementById("live-state");
    const names = [
      "thread.run.created", "thread.run.queued", "thread.run.in_progress",
      "thread.run.requires_action", "thread.run.completed", "thread.run.incomplete",
      "thread.run.failed", "thread.run.cancelling", "thread.run.cancelled", "thread.run.expired",
      "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
      "thread.run.step.completed", "thread.run.step.failed", "thread.run.step.cancelled",
      "thread.run.step.expired", "thread.message.created", "thread.message.in_progress",
      "thread.message.delta", "thread.message.completed", "thread.message.incomplete",
    ];
    const source = new EventSource(events);
    source.onopen = function () { state.textContent = "following the run's events"; };
    for (const name of names) {
      source.addEventListener(name, function () {
        state.textContent = "following the run's events (last: " + name + ")";
        soon();
      });
    }
    source.addEventListener("done", function () {
      source.close();
      state.textContent = "ended";
      refresh();
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) state.textContent = "disconnected";
    };
  }

  const poll = Number(live.dataset.poll || 0);
  if (poll > 0) {
    const toggle = document.getElementById("auto-refresh");
    setInterval(function () { if (!toggle || toggle.checked) refresh(); }, poll);
  }
})();
