// hrsync console: the few behaviours htmx does not cover, without eval or inline handlers
// (the Content-Security-Policy allows scripts from hrsync only).
(function () {
  "use strict";

  // Macro chooser: <button data-insert="{employee_id}" data-target="f-url"> inserts its text
  // at the cursor of the target input or textarea.
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-insert]");
    if (!b) return;
    ev.preventDefault();
    var t = document.getElementById(b.getAttribute("data-target"));
    if (!t) return;
    var text = b.getAttribute("data-insert");
    var s = t.selectionStart == null ? t.value.length : t.selectionStart;
    var e = t.selectionEnd == null ? t.value.length : t.selectionEnd;
    t.value = t.value.slice(0, s) + text + t.value.slice(e);
    t.focus();
    t.selectionStart = t.selectionEnd = s + text.length;
    t.dispatchEvent(new Event("input", { bubbles: true }));
  });

  // Live run progress: <div data-run-events="/api/v1/runs/ID/events" data-run-done="URL">
  // follows the run's server-sent events (the session cookie authenticates them), shows each
  // stage, fills the <progress>, and when the run finished loads data-run-done into itself.
  function follow(el) {
    if (el.dataset.following) return;
    el.dataset.following = "1";
    var log = el.querySelector(".log");
    var bar = el.querySelector("progress");
    var status = el.querySelector("[data-run-status]");
    var src = new EventSource(el.getAttribute("data-run-events"));
    function line(text) {
      if (!log) return;
      var li = document.createElement("li");
      li.textContent = text;
      log.appendChild(li);
      log.scrollTop = log.scrollHeight;
    }
    function handle(kind, ev) {
      var d = {};
      try { d = JSON.parse(ev.data); } catch (e) { /* keep the raw text */ }
      var text = kind;
      if (kind === "stage") text = d.stage + " " + d.state + (d.ms != null ? " (" + d.ms + " ms)" : "");
      if (kind === "started") text = "run " + d.run_id + " started (" + d.mode + ")";
      if (kind === "fetched") text = "HR fetch: " + d.records + " record(s) in " + d.pages + " page(s)" + (d.complete ? ", complete" : ", INCOMPLETE");
      if (kind === "planned") text = "plan: " + d.total + " change(s), " + d.held + " held, " + d.awaiting_approval + " awaiting approval";
      if (kind === "applying") {
        if (bar) { bar.max = d.total || 1; bar.value = d.done; }
        text = "applied " + d.done + "/" + d.total + " (" + d.ok + " ok, " + d.failed + " failed)";
      }
      if (kind === "finished") text = "finished: " + d.status + (d.error ? " (" + d.error + ")" : "");
      if (status) status.textContent = kind + (d.status ? ": " + d.status : "");
      line(text);
      if (kind === "finished") {
        src.close();
        var done = el.getAttribute("data-run-done");
        if (done && window.htmx) window.htmx.ajax("GET", done, { target: el, swap: "outerHTML" });
      }
    }
    ["started", "stage", "fetched", "planned", "applying", "finished"].forEach(function (k) {
      src.addEventListener(k, function (ev) { handle(k, ev); });
    });
    src.onerror = function () {
      if (status) status.textContent = "connection lost: reload to see the run's state";
      src.close();
    };
  }
  function scan(root) {
    (root || document).querySelectorAll("[data-run-events]").forEach(follow);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:afterSettle", function (ev) { scan(ev.target); });
})();

// --- Webhooks: where the macro chooser inserts ---
// <select data-macro-target="GROUP_ID"> sets the data-target of every [data-insert] button in
// the element GROUP_ID to its value (an input's id).
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var s = ev.target.closest("[data-macro-target]");
    if (!s) return;
    var g = document.getElementById(s.getAttribute("data-macro-target"));
    if (!g) return;
    g.querySelectorAll("[data-insert]").forEach(function (b) { b.setAttribute("data-target", s.value); });
  });
})();

// --- Applications and mappings: repeated rows (mappings_edit.html) ---
// <button data-add-row="TEMPLATE_ID" data-rows="CONTAINER_ID"> appends a copy of
// <template id="TEMPLATE_ID"> to the container at once (no round trip, so the new row is there
// when the click returns), "__n__" in it replaced by a fresh token so that ids and labels stay
// unique, and lets htmx wire the copy (its inline format check).
(function () {
  "use strict";
  var count = 0;
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("[data-add-row]");
    if (!b) return;
    ev.preventDefault();
    var t = document.getElementById(b.getAttribute("data-add-row"));
    var rows = document.getElementById(b.getAttribute("data-rows"));
    if (!t || !rows) return;
    count += 1;
    var holder = document.createElement("div");
    holder.innerHTML = t.innerHTML.split("__n__").join("new" + count);
    var row = holder.firstElementChild;
    if (!row) return;
    rows.appendChild(row);
    if (window.htmx) window.htmx.process(row);
    var first = row.querySelector("input");
    if (first) first.focus();
  });
})();
