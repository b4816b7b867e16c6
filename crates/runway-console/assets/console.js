// runway console: times in the viewer's zone, and the live parts of pages
// (a run's transcript, the runs list) over server-sent events. No build
// step and no dependency: this file is served as written.
"use strict";

(function () {
  var pad = function (n) { return String(n).padStart(2, "0"); };
  var zone = (function () {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  })();

  // <time class="local" datetime="…Z" title="… UTC">: shown in the viewer's
  // zone; the UTC reading stays on hover (title).
  function localize(root) {
    root.querySelectorAll("time.local:not([data-localized])").forEach(function (el) {
      var t = new Date(el.getAttribute("datetime"));
      if (isNaN(t.getTime())) { return; }
      var offset = -t.getTimezoneOffset();
      var sign = offset >= 0 ? "+" : "-";
      var abs = Math.abs(offset);
      el.textContent = t.getFullYear() + "-" + pad(t.getMonth() + 1) + "-" + pad(t.getDate()) + " " +
        pad(t.getHours()) + ":" + pad(t.getMinutes()) + ":" + pad(t.getSeconds()) +
        " (UTC" + sign + pad(Math.floor(abs / 60)) + ":" + pad(abs % 60) + (zone ? ", " + zone : "") + ")";
      el.setAttribute("data-localized", "");
    });
  }

  function fragment(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  // A run's transcript: each event arrives rendered; an idle session means
  // the run's status moved, so the timeline is read again.
  function followTranscript(list) {
    var source = new EventSource(list.getAttribute("data-stream"));
    noticeEnd(source, list);
    source.addEventListener("transcript", function (message) {
      var content = fragment(message.data);
      var item = content.firstElementChild;
      if (!item || document.getElementById(item.id)) { return; }
      localize(content);
      list.appendChild(content);
      if (item.getAttribute("data-type") === "session.status_idle") { refreshTimeline(); }
    });
  }

  function refreshTimeline() {
    var timeline = document.getElementById("timeline");
    if (!timeline) { return; }
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("timeline");
        if (fresh) { timeline.innerHTML = fresh.innerHTML; localize(timeline); }
      });
  }

  // The runs list: the server pushes the first page whenever it changes.
  function followRuns(box) {
    var source = new EventSource(box.getAttribute("data-live"));
    noticeEnd(source, box);
    source.addEventListener("runs", function (message) {
      box.innerHTML = message.data;
      localize(box);
    });
  }

  // A stream the browser gave up on: its reconnect was not answered with
  // events (the sign-in ended — revoked, expired, a server restart — and it
  // was sent to sign in). The page asks again: sent to sign in, it goes
  // there (and comes back after); otherwise it says it is no longer live.
  // (A server that is down is retried by the browser itself.)
  function noticeEnd(source, box) {
    source.addEventListener("error", function () {
      if (source.readyState !== EventSource.CLOSED) { return; }
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
        if (r.redirected && new URL(r.url).pathname === "/sign-in") {
          window.location.assign(r.url);
        } else {
          stale(box);
        }
      }, function () { stale(box); });
    });
  }

  function stale(box) {
    if (document.getElementById("stale")) { return; }
    var note = document.createElement("p");
    note.id = "stale";
    note.className = "error";
    note.setAttribute("role", "status");
    note.textContent = "Live updates stopped. Reload the page to resume them.";
    box.parentNode.insertBefore(note, box);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    var transcript = document.querySelector("#transcript[data-stream]");
    if (transcript) { followTranscript(transcript); }
    var runs = document.querySelector("#runs[data-live]");
    if (runs) { followRuns(runs); }
  });
})();
