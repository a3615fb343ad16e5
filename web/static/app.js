// OpsConductor dashboard: clock, relative times, live pages (server-sent events), acting
// on several alerts from the list, keyboard. No inline script anywhere (CSP script-src 'self').
//
// Live pages: every page region marked data-sync (with an id) is redrawn from the server
// when the stream says something changed, so rows enter and leave filtered views, groups
// and counts follow, and the server stays the one place that renders. After a reconnect
// (or a "resync" event) the page redraws the same way: nothing missed stays missed.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function tickClock() {
    var el = document.getElementById("clock");
    if (!el) return;
    var d = new Date();
    el.textContent = pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }

  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return null;
    var s = Math.floor((Date.now() - t) / 1000), ahead = s < -5;
    s = Math.abs(s);
    var text = s >= 86400 ? Math.floor(s / 86400) + "d" : s >= 3600 ? Math.floor(s / 3600) + "h"
      : s >= 60 ? Math.floor(s / 60) + "m" : s + "s";
    return ahead ? "in " + text : text + " ago";
  }

  function refreshTimes(root) {
    var els = (root || document).querySelectorAll("time[data-rel]");
    for (var i = 0; i < els.length; i++) {
      var text = ago(els[i].getAttribute("datetime"));
      if (text) els[i].textContent = text;
    }
  }

  function liveBadge(on) {
    var el = document.getElementById("live");
    if (!el) return;
    el.hidden = false;
    el.classList.toggle("down", !on);
    el.lastChild.textContent = on ? "LIVE" : "RECONNECTING";
  }

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  // ---- redrawing the data-sync regions ------------------------------------------------------
  var syncing = false, again = false, fresh = {}, seen = null;

  function rowIds() {
    var ids = {};
    each(document.querySelectorAll("tr[data-id]"), function (tr) { ids[tr.getAttribute("data-id")] = true; });
    return ids;
  }

  function sync() {
    if (syncing) { again = true; return; }
    syncing = true;
    var keep = {
      picked: Array.prototype.map.call(document.querySelectorAll('input[name="id"]:checked'), function (i) { return i.value; }),
      open: Array.prototype.map.call(document.querySelectorAll("details[open][id]"), function (d) { return d.id; }),
      focus: document.activeElement && document.activeElement.getAttribute("data-id")
    };
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin", headers: { "X-Opsc-Live": "1" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        each(document.querySelectorAll("[data-sync][id]"), function (el) {
          var next = doc.getElementById(el.id);
          if (next) el.innerHTML = next.innerHTML;  // server-rendered, autoescaped
        });
        keep.picked.forEach(function (id) {
          var box = document.querySelector('input[name="id"][value="' + id + '"]');
          if (box) box.checked = true;
        });
        keep.open.forEach(function (id) { var d = document.getElementById(id); if (d) d.open = true; });
        each(document.querySelectorAll("tr[data-id]"), function (tr) {
          if (fresh[tr.getAttribute("data-id")]) tr.classList.add("fresh");
        });
        if (keep.focus) { var f = document.querySelector('tr[data-id="' + keep.focus + '"]'); if (f) f.focus(); }
        refreshTimes(document);
        updatePicked();
        document.body.setAttribute("data-synced", String(Date.now()));
      })
      .catch(function () { /* the next event or reconnect redraws */ })
      .then(function () {
        syncing = false;
        if (again) { again = false; sync(); }
      });
  }

  function startLive(query) {
    var counter = document.getElementById("newcount");
    var newCount = 0, broken = false;
    seen = rowIds();
    var source = new EventSource("/api/v1/stream" + (query ? "?" + query : ""));
    source.addEventListener("ready", function () {
      liveBadge(true);
      if (broken) { broken = false; sync(); }  // resynchronise after a reconnect
    });
    source.onerror = function () { broken = true; liveBadge(false); };
    source.addEventListener("resync", function () { sync(); });
    var watched = document.querySelector("[data-watch]");
    var watch = watched ? watched.getAttribute("data-watch").split(",") : null;
    source.addEventListener("alerts", function (ev) {
      liveBadge(true);
      var data = JSON.parse(ev.data);
      if (watch) {  // one alert's page: redraw only for news about it, its root or its children
        var about = data.items.map(function (a) { return a.id; }).concat(data.gone);
        if (!about.some(function (id) { return watch.indexOf(id) >= 0; })) return;
      }
      data.items.forEach(function (a) {
        fresh[a.id] = true;
        if (!seen[a.id]) { seen[a.id] = true; newCount += 1; }
      });
      if (counter && newCount) { counter.hidden = false; counter.textContent = "+" + newCount + " new since load"; }
      sync();
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  // ---- acting on several alerts ---------------------------------------------------------------
  function picks() { return document.querySelectorAll('input[name="id"][form="bulk"]'); }

  function updatePicked() {
    var out = document.getElementById("picked");
    if (!out) return;
    var n = document.querySelectorAll('input[name="id"][form="bulk"]:checked').length;
    out.textContent = n ? n + " selected" : "none selected";
    each(document.querySelectorAll("#bulk button[name=action]"), function (b) { b.disabled = n === 0; });
  }

  function startBulk() {
    var form = document.getElementById("bulk");
    if (!form) return;
    var all = document.getElementById("pick-all");
    all.addEventListener("change", function () {
      each(picks(), function (box) { box.checked = all.checked; });
      updatePicked();
    });
    document.addEventListener("change", function (ev) {
      if (ev.target.name === "id") updatePicked();
    });
    updatePicked();
  }

  // ---- keyboard: j/k move, x select, a acknowledge, r resolve, / search, Enter open -------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#alert-rows > tr[data-id]")); }

  function startKeys() {
    document.addEventListener("keydown", function (ev) {
      var t = ev.target, tag = t && t.tagName;
      if (ev.ctrlKey || ev.metaKey || ev.altKey || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
      var list = rows(), at = list.indexOf(document.activeElement && document.activeElement.closest
        ? document.activeElement.closest("tr[data-id]") : null);
      if (ev.key === "j" || ev.key === "k") {
        if (!list.length) return;
        var next = ev.key === "j" ? Math.min(list.length - 1, at + 1) : Math.max(0, at - 1);
        list[next].focus();
        ev.preventDefault();
      } else if (ev.key === "x" && at >= 0) {
        var box = list[at].querySelector('input[name="id"]');
        if (box) { box.checked = !box.checked; updatePicked(); }
        ev.preventDefault();
      } else if ((ev.key === "a" || ev.key === "r") && document.getElementById("bulk")) {
        if (!document.querySelector('input[name="id"][form="bulk"]:checked') && at >= 0) {
          var own = list[at].querySelector('input[name="id"]');
          if (own) own.checked = true;
        }
        updatePicked();
        var button = document.getElementById(ev.key === "a" ? "bulk-ack" : "bulk-resolve");
        if (!button.disabled) button.click();
        ev.preventDefault();
      } else if (ev.key === "/") {
        var search = document.getElementById("search");
        if (search) { search.focus(); ev.preventDefault(); }
      } else if (ev.key === "Enter" && at >= 0) {
        var link = list[at].querySelector(".c-title a");
        if (link) link.click();
      }
    });
  }

  // Theme: dark (a wall screen in a dim room) unless the toggle chose light (kept in this browser).
  var THEME_KEY = "opsc-theme";
  function applyTheme() {
    var chosen = null;
    try { chosen = window.localStorage.getItem(THEME_KEY); } catch (e) { /* storage off */ }
    document.documentElement.setAttribute("data-theme", chosen === "light" ? "light" : "dark");
  }
  applyTheme();

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme");
    if (toggle) toggle.addEventListener("click", function () {
      var next = document.documentElement.getAttribute("data-theme") === "light" ? "dark" : "light";
      try { window.localStorage.setItem(THEME_KEY, next); } catch (e) { /* storage off */ }
      document.documentElement.setAttribute("data-theme", next);
    });
    tickClock();
    setInterval(tickClock, 1000);
    setInterval(refreshTimes, 15000);
    var table = document.getElementById("alert-table");
    if (table && table.hasAttribute("data-live")) startLive(table.getAttribute("data-live"));
    else if (document.querySelector("[data-live-page]")) startLive("");
    startBulk();
    startKeys();
    var filters = document.getElementById("filters");
    if (filters) {
      filters.addEventListener("change", function (ev) {
        if (ev.target.name === "severity" || ev.target.name === "status") filters.submit();
      });
    }
  });
})();
