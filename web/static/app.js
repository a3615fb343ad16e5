// OpsConductor dashboard: clock, relative times, live alerts (server-sent events).
// No inline script anywhere (CSP script-src 'self'); rows arrive rendered by the server.
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
    var s = Math.max(0, Math.floor((Date.now() - t) / 1000));
    if (s >= 86400) return Math.floor(s / 86400) + "d ago";
    if (s >= 3600) return Math.floor(s / 3600) + "h ago";
    if (s >= 60) return Math.floor(s / 60) + "m ago";
    return s + "s ago";
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

  var MAX_ROWS = 200;

  function startAlertStream(table) {
    var tbody = document.getElementById("alert-rows");
    var counter = document.getElementById("newcount");
    var fresh = 0;
    var query = table.getAttribute("data-live");
    var source = new EventSource("/api/v1/stream" + (query ? "?" + query : ""));
    source.addEventListener("ready", function () { liveBadge(true); });
    source.onerror = function () { liveBadge(false); };
    source.addEventListener("alerts", function (ev) {
      liveBadge(true);
      var data = JSON.parse(ev.data);
      var holder = document.createElement("tbody");
      holder.innerHTML = data.html;  // server-rendered, autoescaped rows
      var rows = Array.prototype.slice.call(holder.children).reverse();
      rows.forEach(function (row) {
        var id = row.getAttribute("data-id");
        var old = tbody.querySelector('tr[data-id="' + id + '"]');
        if (old) old.remove(); else fresh += 1;
        row.classList.add("fresh");
        tbody.insertBefore(row, tbody.firstChild);
      });
      while (tbody.children.length > MAX_ROWS) tbody.removeChild(tbody.lastChild);
      var empty = document.getElementById("empty");
      if (empty) empty.remove();
      if (counter && fresh) { counter.hidden = false; counter.textContent = "+" + fresh + " new since load"; }
      refreshTimes(tbody);
    });
    window.addEventListener("beforeunload", function () { source.close(); });
  }

  function startOverviewRefresh() {
    // The overview is a wall screen: redraw on news (at most every 5 s) and every minute anyway.
    var pending = null;
    function reload() { if (!pending) pending = setTimeout(function () { window.location.reload(); }, 5000); }
    var source = new EventSource("/api/v1/stream");
    source.addEventListener("ready", function () { liveBadge(true); });
    source.addEventListener("alerts", reload);
    source.onerror = function () { liveBadge(false); };
    setTimeout(function () { window.location.reload(); }, 60000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickClock();
    setInterval(tickClock, 1000);
    setInterval(refreshTimes, 15000);
    var table = document.getElementById("alert-table");
    if (table && table.hasAttribute("data-live")) startAlertStream(table);
    if (document.querySelector('[data-refresh="overview"]')) startOverviewRefresh();
    var filters = document.getElementById("filters");
    if (filters) {
      filters.addEventListener("change", function (ev) {
        if (ev.target.name === "severity" || ev.target.name === "status") filters.submit();
      });
    }
  });
})();
