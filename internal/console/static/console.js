// QLP console: progressive enhancement only. Pages work without this file;
// with it, the job page follows the job's progress stream (SSE) and
// redraws its live part from the server after each event.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.EventSource || live.dataset.terminal) return;
  var list = document.getElementById("events");
  var ends = live.dataset.ends.split(" ");
  var pending = false, again = false, first = true;
  function refresh() {
    if (pending) { again = true; return; }
    pending = true;
    fetch(live.dataset.live, { credentials: "same-origin" }).then(function (r) { return r.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      var fresh = doc.getElementById("live");
      if (fresh) live.replaceChildren.apply(live, Array.prototype.slice.call(fresh.childNodes));
    }).finally(function () {
      pending = false;
      if (again) { again = false; refresh(); }
    });
  }
  var es = new EventSource(live.dataset.stream);
  function onEvent(e) {
    var d = {};
    try { d = JSON.parse(e.data); } catch (err) { /* a comment or keep-alive */ }
    if (first) { list.textContent = ""; first = false; }
    var li = document.createElement("li");
    li.textContent = (d.timestamp || "") + " " + (d.type || e.type) + (d.task_id ? " " + d.task_id : "") + (d.message ? ": " + d.message : "");
    list.appendChild(li);
    refresh();
    if (ends.indexOf(d.type || e.type) >= 0) {
      es.close();
      live.dataset.terminal = "1";
      setTimeout(refresh, 300);
    }
  }
  es.onmessage = onEvent;
  live.dataset.types.split(" ").forEach(function (t) { es.addEventListener(t, onEvent); });
  es.onerror = function () { if (live.dataset.terminal) es.close(); };
})();
