/* Dashboard layer (browser): asks again for an infinite grid's block whose answer never came.
 *
 * dash-ag-grid answers only the latest block request of a grid, and AG Grid frees a request slot only when a
 * request is answered: a request left unanswered (its callback failed during an outage, or was dropped)
 * holds the grid's only slot (the grids ask one block at a time, dashboard/pages/tasks.py) and the grid
 * never loads again until the page is reloaded. Every second this looks at each grid marked
 * `tasklens-infinite`: a block still not loaded LOST_MS after the grid's last request means that answer is
 * lost, and the same request is sent once more (its answer frees the slot; the block then reloads).
 * window.tasklensGridWatch counts the requests asked again, for tests.
 */
(function () {
  "use strict";

  var LOST_MS = 5000;
  var CHECK_MS = 1000;
  var seen = {}; // grid id -> {req: the request object last seen, since: ms}
  var state = { reasked: 0 };
  window.tasklensGridWatch = state;

  function pendingBlocks(api) {
    var blocks = api.getCacheBlockState() || {};
    for (var key in blocks) {
      if (blocks[key] && blocks[key].pageStatus !== "loaded") return true;
    }
    return false;
  }

  function check(id) {
    var api = null;
    var req = null;
    try {
      api = window.dash_ag_grid.getApi(id);
      req = window.dash_component_api.getLayout(id).props.getRowsRequest;
    } catch (e) {
      api = null; // not mounted yet, or gone
    }
    var mark = seen[id];
    if (!api || !req || !pendingBlocks(api)) {
      delete seen[id];
      return;
    }
    var now = Date.now();
    if (!mark || mark.req !== req) {
      seen[id] = { req: req, since: now };
      return;
    }
    if (now - mark.since < LOST_MS) return;
    // A copy: Dash fires the grid's rows callback only for a new value.
    var again = Object.assign({}, req);
    window.dash_clientside.set_props(id, { getRowsRequest: again });
    state.reasked += 1;
    seen[id] = { req: again, since: now };
  }

  setInterval(function () {
    var grids = document.querySelectorAll(".tasklens-infinite[id]");
    for (var i = 0; i < grids.length; i++) check(grids[i].id);
  }, CHECK_MS);
})();
