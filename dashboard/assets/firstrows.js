/* Dashboard layer (browser): hands the tasks page's server-drawn first rows (components/firstrows.py) over
 * to the grid. The table lies over the grid's place until the grid shows a row with text of its own (AG Grid
 * first draws empty "loading" rows), then it goes: the grid is already drawn beneath it, so nothing flickers.
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

  function check() {
    var tables = document.querySelectorAll(".tasklens-first-rows[data-grid]");
    for (var i = 0; i < tables.length; i++) {
      var grid = document.getElementById(tables[i].getAttribute("data-grid"));
      if (grid && gridHasRows(grid)) tables[i].hidden = true;
    }
  }

  var queued = false;
  new MutationObserver(function () {
    if (queued) return;
    queued = true;
    requestAnimationFrame(function () { queued = false; check(); });
  }).observe(document.documentElement, { childList: true, subtree: true });
})();
