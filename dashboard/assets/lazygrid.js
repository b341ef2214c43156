/* Dashboard layer (browser): stands in for dash-ag-grid's AgGrid until its bundle has loaded
 * (dashboard/bundles.py keeps that 1.3 MB bundle out of pages without a grid).
 *
 * The stand-in stays the component Dash resolves (`dash_ag_grid.AgGrid`) for good and renders the real grid
 * inside it once loaded: were the namespace swapped, the next update would remount the grid under a new
 * component type and lose its rows. Until then Dash holds callbacks that involve the grid
 * (`_dashprivate_isLazyComponentReady`), as it does for the grid's own lazy chunk.
 */
(function () {
  "use strict";

  var meta = document.querySelector('meta[name="tasklens-ag-grid"]');
  if (!meta || (window.dash_ag_grid && window.dash_ag_grid.AgGrid)) return; // the bundle is on the page
  var url = meta.getAttribute("content");
  var gridPaths = new RegExp(meta.getAttribute("data-paths")); // pages that open on a grid load it at once
  var Real = null;
  var loading = null;

  function load() {
    if (loading === null) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.async = true; // compiled off the main thread while the page renders
        script.onload = function () {
          // The bundle replaced the namespace: keep its functions (getApi…) but the stand-in as AgGrid.
          var ns = window.dash_ag_grid;
          Real = ns.AgGrid;
          var merged = {};
          for (var key in ns) merged[key] = ns[key];
          merged.AgGrid = LazyAgGrid;
          window.dash_ag_grid = merged;
          resolve(Real);
        };
        script.onerror = function () {
          loading = null; // the next render tries again
          reject(new Error("dash-ag-grid's bundle did not load from " + url));
        };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  function LazyAgGrid(props) {
    var loaded = React.useState(Real !== null);
    var setLoaded = loaded[1];
    React.useEffect(function () {
      if (Real !== null) return undefined;
      var live = true;
      load().then(function () { if (live) setLoaded(true); });
      return function () { live = false; };
    }, []);
    if (Real !== null) return React.createElement(Real, props);
    // Holds the grid's place (and size) so nothing jumps when it arrives.
    return React.createElement("div", { id: props.id, className: props.className, style: props.style });
  }

  Object.defineProperty(LazyAgGrid, "_dashprivate_isLazyComponentReady", {
    get: function () {
      if (Real === null) {
        return load().then(function () { return Real._dashprivate_isLazyComponentReady || true; });
      }
      return Real._dashprivate_isLazyComponentReady || true;
    },
  });

  window.dash_ag_grid = { AgGrid: LazyAgGrid };
  if (gridPaths.test(window.location.pathname)) load();
})();
