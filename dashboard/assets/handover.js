/* Dashboard layer (browser): hands what the server drew ahead of the app over to the app, once the app shows
 * the same thing itself; until then the server's copy lies over the app's place (assets/tasklens.css), so
 * nothing flickers or moves.
 * - The tasks page's first rows (components/firstrows.py) over the grid: hidden once the grid shows a row with
 *   text of its own (AG Grid first draws empty "loading" rows).
 * - A page's snapshot in its HTML (dashboard/snapshot.py) over the whole app: removed once Dash has drawn the
 *   page's content (for good rather than hidden: it is a copy the app now draws itself).
 */
(function () {
  "use strict";

  function gridHasRows(grid) {
    var rows = grid.querySelectorAll(".ag-center-cols-container .ag-row:not(.ag-row-loading)");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].textContent.trim() !== "") return true;
    }
    return false;
  }

  function pageDrawn() {
    var entry = document.getElementById("react-entry-point");
    return !!(entry && entry.querySelector("#_pages_content > *"));
  }

  function check() {
    var tables = document.querySelectorAll(".tasklens-first-rows[data-grid]");
    for (var i = 0; i < tables.length; i++) {
      var grid = document.getElementById(tables[i].getAttribute("data-grid"));
      if (grid && gridHasRows(grid)) tables[i].hidden = true;
    }
    var snapshots = document.querySelectorAll(".tasklens-snapshot");
    if (snapshots.length && pageDrawn()) {
      for (var j = 0; j < snapshots.length; j++) snapshots[j].remove();
    }
  }

  var queued = false;
  new MutationObserver(function () {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; check(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
