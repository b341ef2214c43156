/* Dashboard layer (browser): the "local time" switch. UTC stays the default (and what exports and the API
 * use); with the switch on, times the pages mark — <time class="tl-time" datetime="…Z"> (components/fmt.when),
 * [data-tz-label] headings and the grid's time columns (tasklensTime / tasklensTimeHeader) — show the
 * browser's time zone, labelled "local". Marked elements are redrawn as Dash draws them (a MutationObserver).
 */
(function () {
  "use strict";

  function local() {
    return document.documentElement.getAttribute("data-tz") === "local";
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // "2026-11-21 10:00:00 UTC" or "2026-11-21 11:00:00 local", from an ISO time (UTC when it has no zone).
  function format(iso, withZone) {
    if (iso === null || iso === undefined || iso === "") return "";
    var text = String(iso);
    if (!/(Z|[+-]\d\d:?\d\d)$/.test(text)) text = text.replace(" ", "T") + "Z";
    var d = new Date(text);
    if (isNaN(d.getTime())) return String(iso);
    var loc = local();
    var parts = loc
      ? [d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds()]
      : [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()];
    var out = parts[0] + "-" + pad(parts[1]) + "-" + pad(parts[2]) + " " +
      pad(parts[3]) + ":" + pad(parts[4]) + ":" + pad(parts[5]);
    return withZone === false ? out : out + (loc ? " local" : " UTC");
  }

  function zoneName() {
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || "local";
    } catch (e) {
      return "local";
    }
  }

  function setText(el, text) {
    // Change React's own text node rather than replacing it, so a later redraw by Dash still lands.
    if (el.childNodes.length === 1 && el.firstChild.nodeType === 3) {
      if (el.firstChild.nodeValue !== text) el.firstChild.nodeValue = text;
    } else if (el.textContent !== text) {
      el.textContent = text;
    }
  }

  function apply(root) {
    var times = (root || document).querySelectorAll("time.tl-time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var iso = el.getAttribute("datetime");
      setText(el, format(iso));
      // Local: the zone's name and the UTC time on hover, for comparing with exports and the API.
      if (local()) el.title = zoneName() + " · " + el.getAttribute("datetime").replace("T", " ").replace("Z", " UTC");
      else el.removeAttribute("title");
    }
    var labels = (root || document).querySelectorAll("[data-tz-label]");
    for (var j = 0; j < labels.length; j++) {
      setText(labels[j], labels[j].getAttribute("data-tz-label") + (local() ? " (local)" : " (UTC)"));
    }
  }

  function refreshGrids() {
    if (!window.dash_ag_grid || !window.dash_ag_grid.getApi) return;
    var grids = document.querySelectorAll(".ag-theme-alpine[id], .ag-theme-alpine-dark[id]");
    for (var i = 0; i < grids.length; i++) {
      try {
        var api = window.dash_ag_grid.getApi(grids[i].id);
        api.refreshCells({ force: true });
        api.refreshHeader();
      } catch (e) { /* not mounted yet: it formats with the current setting when it is */ }
    }
  }

  // dash-ag-grid evaluates column functions against this namespace.
  var fns = (window.dashAgGridFunctions = window.dashAgGridFunctions || {});
  fns.tasklensTime = function (value) { return value ? format(value, false) : ""; };
  fns.tasklensTimeHeader = function (name) { return name + (local() ? " (local)" : " (UTC)"); };

  window.tasklensTime = {
    format: format,
    set: function (on) {
      document.documentElement.setAttribute("data-tz", on ? "local" : "utc");
      apply(document);
      refreshGrids();
    },
  };

  var queued = false;
  new MutationObserver(function () {
    if (queued) return;
    queued = true;
    window.requestAnimationFrame(function () {
      queued = false;
      apply(document);
    });
  }).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["datetime"],
  });
})();
